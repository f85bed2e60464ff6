"""Tests of course_utils.receptive.

The receptive fields are checked against a measurement that needs no formula: backpropagate
from one unit of a network with positive weights and see which input pixels get a nonzero
gradient.
"""

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from zoo import hook_count

from course_utils.hooks import UnknownLayerError
from course_utils.models import load_model
from course_utils.receptive import (
    ReceptiveField,
    Window,
    layers_up_to,
    receptive_field,
    top_activating_patches,
    unit_window,
)


def positive_copy(layers):
    """Copies of the layers in which no gradient can cancel or vanish: convolutions with
    weights 1 and bias 0, and average instead of max pooling (a max sends the gradient to one
    pixel of its window only; the window itself is the same)."""
    modules = []
    for layer in layers:
        if isinstance(layer, nn.Sequential):
            modules.extend(positive_copy(layer))
            continue
        if isinstance(layer, nn.MaxPool2d):
            assert layer.dilation in (1, (1, 1)), "AvgPool2d cannot stand in for a dilated max"
            layer = nn.AvgPool2d(layer.kernel_size, layer.stride, layer.padding)
        else:
            layer = copy.deepcopy(layer)
        if isinstance(layer, nn.Conv2d):
            with torch.no_grad():
                layer.weight.fill_(1.0)
                if layer.bias is not None:
                    layer.bias.zero_()
        modules.append(layer)
    return nn.Sequential(*modules).double().eval()  # float64: no rounding to zero


def gradient_rows(net, x, i, j):
    """First and last input row with a nonzero gradient of unit (i, j), and the same for
    columns."""
    x = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(net(x)[0, :, i, j].sum(), x)
    seen = grad[0].abs().sum(0) > 0  # (H, W)
    rows, cols = seen.any(1).nonzero().flatten(), seen.any(0).nonzero().flatten()
    return int(rows[0]), int(rows[-1]), int(cols[0]), int(cols[-1])


def measured_field(layers, in_channels, input_size=100):
    """(size, stride, start) measured with gradients on two neighbouring interior units."""
    net = positive_copy(layers)
    x = torch.ones(1, in_channels, input_size, input_size, dtype=torch.float64)
    i = net(x).shape[-2] // 2
    top, bottom, left, right = gradient_rows(net, x, i, i)
    next_top = gradient_rows(net, x, i + 1, i)[0]
    assert top > 0 and bottom < input_size - 1, "measurement clipped: use a larger input"
    assert (left, right) == (top, bottom), "the layers should treat rows and columns alike"
    stride = next_top - top
    return ReceptiveField(bottom - top + 1, stride, top - i * stride)


STACKS = {
    "three 3x3 convs": (1, [nn.Conv2d(1, 2, 3), nn.Conv2d(2, 2, 3), nn.Conv2d(2, 2, 3)]),
    "stride-2 convs": (
        3,
        [nn.Conv2d(3, 4, 3, stride=2, padding=1), nn.ReLU(),
         nn.Conv2d(4, 4, 3, stride=2, padding=1), nn.ReLU(), nn.Conv2d(4, 2, 3, padding=1)],
    ),
    "pooling and padding": (
        1,
        [nn.Conv2d(1, 4, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
         nn.Conv2d(4, 4, 3, padding=1), nn.ReLU(), nn.AvgPool2d(3, stride=2, padding=1),
         nn.Conv2d(4, 2, 3)],
    ),
    "AlexNet-like start": (3, [nn.Conv2d(3, 4, 11, stride=4, padding=2), nn.ReLU(),
                               nn.MaxPool2d(3, stride=2), nn.Conv2d(4, 4, 5, padding=2)]),
    "dilated convs": (1, [nn.Conv2d(1, 2, 3, dilation=2, padding=2),
                          nn.Conv2d(2, 2, 3, dilation=4)]),
    "same padding, even kernel": (1, [nn.Conv2d(1, 2, 4, padding="same"),
                                      nn.Conv2d(2, 2, 3, padding="valid", stride=2)]),
    "pixelwise layers": (
        2,
        [nn.Conv2d(2, 3, 3), nn.BatchNorm2d(3), nn.LeakyReLU(), nn.Dropout(0.5),
         nn.Identity(), nn.Sequential(nn.MaxPool2d(2), nn.Conv2d(3, 3, 3)), nn.GELU()],
    ),
}  # fmt: skip


@pytest.mark.parametrize("name", list(STACKS))
def test_receptive_field_matches_gradient_measurement(name):
    in_channels, layers = STACKS[name]
    assert receptive_field(layers) == measured_field(layers, in_channels)


@pytest.mark.parametrize(("model_name", "layer", "in_channels"),
                         [("digits", "pool2", 1), ("digits", "conv1", 1),
                          ("shapes", "relu4", 3), ("shapes", "pool2", 3)])  # fmt: skip
def test_course_models_match_gradient_measurement(model_name, layer, in_channels):
    layers = layers_up_to(load_model(model_name), layer)
    assert receptive_field(layers) == measured_field(layers, in_channels)


def test_hand_computed_values():
    # digits conv1 (k5, p2), pool1 (k2, s2), conv2 (k5, p2): size 5 -> 6 -> 6 + 4 * 2 = 14,
    # stride 1 -> 2, start -2 -> -2 -> -2 - 2 * 2 = -6.
    field = receptive_field(layers_up_to(load_model("digits"), "conv2"))
    assert field == ReceptiveField(size=14, stride=2, start=-6)
    assert isinstance(field.size, int) and isinstance(field.start, int)
    size, stride, start = field  # unpacks like a tuple
    assert (size, stride, start) == (14, 2, -6)
    assert receptive_field([]) == (1, 1, 0)
    assert receptive_field([nn.ReLU()]) == (1, 1, 0)
    assert receptive_field(nn.Sequential(nn.Conv2d(1, 1, 3, stride=2))) == (3, 2, 0)


@pytest.mark.parametrize(
    ("layers", "error", "words"),
    [
        ([nn.Conv2d(1, 2, 3), nn.AdaptiveAvgPool2d(1)], TypeError, "AdaptiveAvgPool2d"),
        ([nn.Flatten(), nn.Linear(4, 2)], TypeError, "Flatten"),
        ([nn.Conv1d(1, 2, 3)], TypeError, "Conv1d"),
        ([nn.Conv2d(1, 2, (3, 5))], ValueError, "square"),
        ([nn.MaxPool2d(2, stride=(1, 2))], ValueError, "square"),
        (nn.Conv2d(1, 2, 3), TypeError, "[layer]"),
        ([nn.ReLU(), "conv"], TypeError, "str"),
        (3, TypeError, "list"),
    ],
)
def test_receptive_field_bad_input(layers, error, words):
    with pytest.raises(error) as info:
        receptive_field(layers)
    assert words in str(info.value)


def test_layers_up_to_follows_the_model():
    digits = load_model("digits")
    chain = layers_up_to(digits, "pool1")
    assert chain == [digits.conv1, digits.relu1, digits.pool1]
    shapes = load_model("shapes")
    assert len(layers_up_to(shapes, "conv4")) == 10
    assert layers_up_to(shapes, "relu4")[-1] is shapes.relu4


def test_layers_up_to_opens_containers():
    model = nn.Sequential()
    model.add_module(
        "features",
        nn.Sequential(
            nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Sequential(nn.MaxPool2d(2), nn.Conv2d(2, 2, 3))
        ),
    )
    model.add_module("head", nn.Sequential(nn.Flatten(), nn.Linear(10, 3)))
    features = model.features
    assert layers_up_to(model, "features.1") == [features[0], features[1]]
    assert layers_up_to(model, "features.2") == [features[0], features[1], *features[2]]
    assert layers_up_to(model, "features") == [features[0], features[1], *features[2]]
    with pytest.raises(UnknownLayerError, match="features.1"):
        layers_up_to(model, "features.7")


def test_unit_window_matches_gradients_also_at_the_border():
    layers = [nn.Conv2d(1, 2, 3, padding=1), nn.MaxPool2d(2), nn.Conv2d(2, 2, 5, stride=2)]
    field = receptive_field(layers)
    net, x = positive_copy(layers), torch.ones(1, 1, 40, 40, dtype=torch.float64)
    for i, j in [(0, 0), (0, 3), (5, 2), (7, 7)]:
        window = unit_window(field, i, j)
        assert window == unit_window(layers, i, j)  # a list of layers works too
        top, bottom, left, right = gradient_rows(net, x, i, j)
        # The gradient reaches the window's pixels that lie inside the image.
        assert (top, left) == (max(window.top, 0), max(window.left, 0))
        assert (bottom, right) == (
            min(window.top + window.size, 40) - 1,
            min(window.left + window.size, 40) - 1,
        )


def test_unit_window_values_and_errors():
    window = unit_window(ReceptiveField(size=14, stride=2, start=-6), 3, 0)
    assert window == Window(top=0, left=-6, size=14)
    assert window.center == (6.5, 0.5)
    assert unit_window((3, 1, -1), torch.tensor(2), 0) == Window(1, -1, 3)
    # A field written by hand or by the lesson's exercise: a list, or NumPy integers.
    assert unit_window([3, 1, -1], 2, 0) == Window(1, -1, 3)
    assert unit_window(tuple(np.array([3, 1, -1])), 2, 0) == Window(1, -1, 3)
    with pytest.raises(ValueError, match="i must be"):
        unit_window(ReceptiveField(3, 1, 0), -1, 0)
    with pytest.raises(ValueError, match="j must be"):
        unit_window(ReceptiveField(3, 1, 0), 0, 1.5)


def identity_conv(channels=1):
    conv = nn.Conv2d(channels, 1, 3, padding=1)
    with torch.no_grad():
        conv.weight.zero_()
        conv.weight[0, :, 1, 1] = 1.0
        conv.bias.zero_()
    return conv


def planted_images():
    """Six 10x12 images, each black but for one pixel: (brightness, row, column)."""
    plants = [(0.5, 4, 5), (0.9, 0, 0), (0.6, 7, 2), (1.0, 9, 11), (0.7, 2, 10), (0.8, 5, 6)]
    images = torch.zeros(len(plants), 1, 10, 12)
    for n, (value, row, col) in enumerate(plants):
        images[n, 0, row, col] = value
    return images, plants


def test_top_patches_are_centred_on_the_planted_pixels():
    # The network passes each pixel through: its maximal unit sits on the planted pixel.
    model = nn.Sequential(identity_conv(), nn.ReLU(), nn.MaxPool2d(2), identity_conv())
    images, plants = planted_images()
    patches, scores, indices = top_activating_patches(
        model, images, 0, layer="3", k=4, batch_size=4
    )
    # Size 3 + 1 + 2 * 2 = 8, stride 2, start -1 - 2 = -3: unit (a, b) starts at -3 + 2a.
    assert patches.shape == (4, 1, 8, 8)
    assert indices.tolist() == [3, 1, 5, 4]  # brightest first
    assert indices.dtype == torch.int64
    torch.testing.assert_close(scores, torch.tensor([1.0, 0.9, 0.8, 0.7]))
    for patch, index in zip(patches, indices.tolist(), strict=True):
        value, row, col = plants[index]
        top, left = -3 + 2 * (row // 2), -3 + 2 * (col // 2)
        assert patch[0, row - top, col - left] == value
        assert patch.sum() == value  # the rest is black image or zero padding


def brute_force_top_patches(model, channel, images, k, field):
    """Top-k patches computed one image at a time, without hooks (the model ends at the layer)."""
    with torch.no_grad():
        maps = torch.stack([model(image[None])[0, channel] for image in images])
    scores = maps.flatten(1).max(dim=1).values
    order = sorted(range(len(images)), key=lambda n: -float(scores[n]))[:k]
    size, stride, start = field
    patches = []
    for n in order:
        i, j = (maps[n] == scores[n]).nonzero()[0].tolist()
        padded = F.pad(images[n], (size, size, size, size))
        top, left = start + i * stride + size, start + j * stride + size
        patches.append(padded[:, top : top + size, left : left + size])
    return torch.stack(patches), scores[order], torch.tensor(order)


def test_top_patches_match_a_brute_force_search():
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(4, 5, 3, stride=2, padding=1),
        nn.ReLU(),
    ).eval()
    images = torch.rand(23, 3, 16, 20)
    field = measured_field(list(model), in_channels=3)
    for channel in (0, 3):
        expected = brute_force_top_patches(model, channel, images, 6, field)
        result = top_activating_patches(model, images, channel, layer="4", k=6, batch_size=5)
        for got, want in zip(result, expected, strict=True):
            torch.testing.assert_close(got, want)
    assert hook_count(model) == 0, "hooks must be removed"


def test_top_patches_keep_the_model_mode():
    model = load_model("digits").train()
    images = torch.rand(4, 1, 28, 28)
    top_activating_patches(model, images, 1, layer="relu2", k=2)
    assert all(m.training for m in model.modules())


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"channel": 16}, "channel must be an int from 0 to 15"),
        ({"k": 9}, "k must be"),
        ({"images": torch.rand(8, 28, 28)}, "(N, C, H, W)"),
        ({"layer": "conv7"}, "no layer"),
        ({"batch_size": 0}, "batch_size"),
    ],
)
def test_top_patches_bad_input(kwargs, words):
    arguments = {"model": load_model("digits"), "layer": "relu1", "channel": 0,
                 "images": torch.rand(8, 1, 28, 28), "k": 3, **kwargs}  # fmt: skip
    with pytest.raises(ValueError) as info:
        top_activating_patches(**arguments)
    assert words in str(info.value)


def test_top_patches_refuse_layers_without_feature_maps():
    with pytest.raises(TypeError, match="Flatten"):
        top_activating_patches(load_model("digits"), torch.rand(4, 1, 28, 28), 0, layer="fc1", k=2)
