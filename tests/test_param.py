"""Tests of course_utils.param: the Fourier parameterization, the transformations and the
feature visualization that combines them. The lesson's hidden tests check students against
these functions."""

import math

import pytest
import torch
import zoo
from torch import nn

from course_utils import dream, param


def small_cnn() -> nn.Module:
    return zoo.small_cnn(3, (4, 6), 3, dropout=True)


def test_color_matrix_reproduces_the_covariance_up_to_a_factor():
    g = torch.Generator().manual_seed(0)
    mix = torch.tensor([[1.0, 0.0, 0.0], [0.8, 0.6, 0.0], [0.3, 0.5, 0.4]])
    images = torch.einsum("ij,njhw->nihw", mix, torch.randn(20, 3, 8, 8, generator=g))
    m = param.color_matrix(images)
    covariance = torch.cov(images.permute(0, 2, 3, 1).reshape(-1, 3).T)
    product = m @ m.T
    torch.testing.assert_close(
        product / product[0, 0], covariance / covariance[0, 0], atol=1e-4, rtol=1e-4
    )
    torch.testing.assert_close(m, m.T)
    assert m.norm(dim=0).max().item() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="RGB"):
        param.color_matrix(torch.rand(2, 1, 4, 4))


def test_fourier_image_of_one_frequency_is_a_scaled_wave_through_the_colours():
    height, width = 8, 10
    spectrum = torch.zeros(1, 3, height, width // 2 + 1, dtype=torch.complex64)
    spectrum[0, 1, 0, 2] = 3.0  # channel 1, two cycles across the width
    color = torch.tensor([[1.0, 0.5, 0.0], [0.0, 1.0, 0.0], [0.0, -2.0, 1.0]])
    image = param.fourier_image(spectrum, (height, width), color)
    assert image.shape == (1, 3, height, width)
    # irfft2 with norm="ortho" of one coefficient c at (0, k): 2 c cos(2 pi k j / W) / sqrt(HW);
    # its frequency is k / W = 0.2, so the scale is 5.
    j = torch.arange(width, dtype=torch.float32)
    wave = 5 * 2 * 3.0 * torch.cos(2 * math.pi * 2 * j / width) / math.sqrt(height * width)
    expected = torch.sigmoid(color[:, 1, None, None] * wave.expand(height, width))
    torch.testing.assert_close(image[0], expected, atol=1e-5, rtol=1e-5)


def test_fourier_image_scales_the_constant_term_by_the_largest_side():
    spectrum = torch.zeros(2, 3, 6, 5, dtype=torch.complex64)
    spectrum[:, 0, 0, 0] = 0.1
    image = param.fourier_image(spectrum, (6, 8), torch.eye(3))
    # frequency 0 is floored at 1 / max(H, W) = 1 / 8: scale 8; ortho: value / sqrt(48).
    torch.testing.assert_close(
        image[:, 0], torch.sigmoid(torch.full((2, 6, 8), 0.8 / math.sqrt(48)))
    )
    torch.testing.assert_close(image[:, 1:], torch.full((2, 2, 6, 8), 0.5))
    with pytest.raises(ValueError, match="complex"):
        param.fourier_image(spectrum.real, (6, 8), torch.eye(3))
    with pytest.raises(ValueError, match=r"\(N, C, 6, 4\)"):
        param.fourier_image(spectrum, (6, 6), torch.eye(3))


def test_transform_pads_with_grey_rolls_and_rotates():
    x = torch.rand(2, 3, 6, 6, generator=torch.Generator().manual_seed(1))
    out = param.transform(x, pad=2, dx=1, dy=-2, scale=1.0, degrees=0.0)
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2), value=0.5)
    torch.testing.assert_close(out, torch.roll(padded, shifts=(-2, 1), dims=(2, 3)))
    turned = param.transform(x, pad=0, dx=0, dy=0, scale=1.0, degrees=90.0)
    torch.testing.assert_close(turned, torch.rot90(x, 1, dims=(2, 3)), atol=1e-5, rtol=0)
    # Enlarged twice about the centre: the centre pixel stays, the corners leave the frame.
    dot = torch.zeros(1, 1, 9, 9)
    dot[0, 0, 4, 4] = 1.0
    bigger = param.transform(dot, pad=0, dx=0, dy=0, scale=2.0, degrees=0.0)
    assert bigger[0, 0, 4, 4] == pytest.approx(1.0) and bigger.sum() > 1.5
    with pytest.raises(ValueError, match="pad"):
        param.transform(x, pad=-1, dx=0, dy=0, scale=1.0, degrees=0.0)


def test_random_transform_is_seeded_and_takes_the_transform_it_is_given():
    x = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(2))
    a = param.random_transform(x, torch.Generator().manual_seed(5))
    b = param.random_transform(x, torch.Generator().manual_seed(5))
    torch.testing.assert_close(a, b)
    assert a.shape == (1, 3, 24, 24)
    seen = []

    def mine(images, **kwargs):
        seen.append(kwargs)
        return param.transform(images, **kwargs)

    torch.testing.assert_close(
        param.random_transform(x, torch.Generator().manual_seed(5), transform=mine), a
    )
    (kwargs,) = seen
    assert abs(kwargs["dx"]) <= 4 and 0.9 <= kwargs["scale"] <= 1.1 and abs(kwargs["degrees"]) <= 10


def test_feature_visualization_raises_its_channels_and_leaves_the_model_alone():
    model = small_cnn().train()
    kwargs = dict(layer="1", size=(16, 16), steps=15, lr=0.05)
    images = param.feature_visualization(model, [0, 2], **kwargs)
    assert model.training and zoo.hook_count(model) == 0
    assert all(p.grad is None for p in model.parameters())
    assert images.shape == (2, 3, 16, 16) and images.min() >= 0 and images.max() <= 1
    torch.testing.assert_close(images, param.feature_visualization(model, [0, 2], **kwargs))
    start = param.feature_visualization(model, [0, 2], **{**kwargs, "steps": 0})
    model.eval()
    for k, channel in enumerate([0, 2]):
        objective = dream.layer_objective(model, "1", channel)
        with torch.no_grad():
            assert objective(images[k : k + 1]) > objective(start[k : k + 1])
    calls = []

    def image_fn(spectrum, size, color):
        calls.append("image")
        return param.fourier_image(spectrum, size, color)

    def transform_fn(x, **kw):
        calls.append("transform")
        return param.transform(x, **kw)

    mine = param.feature_visualization(
        model, [0, 2], image_fn=image_fn, transform_fn=transform_fn, **kwargs
    )
    torch.testing.assert_close(mine, images)
    assert calls.count("transform") == 15 and calls.count("image") == 16
    with pytest.raises(ValueError, match="channels 0..3"):
        param.feature_visualization(model, [7], layer="1", size=(16, 16), steps=1)
