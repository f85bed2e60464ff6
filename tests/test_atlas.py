"""Tests of course_utils.atlas: the activation atlas of lesson 03."""

import numpy as np
import pytest
import torch
from torch import nn
from zoo import hook_count

from course_utils import atlas
from course_utils.data import load_digits
from course_utils.hooks import UnknownLayerError, collect_activations
from course_utils.models import load_model
from course_utils.receptive import layers_up_to

LAYER = "relu2"  # digits model: receptive field 14 px, stride 2, 32 channels


@pytest.fixture(scope="module")
def digits():
    images, _ = load_digits("test")
    return load_model("digits"), images[:40]


@pytest.fixture(scope="module")
def directions(digits):
    model, images = digits
    vectors, _ = atlas.patch_activations(model, images, layer=LAYER, n=300, min_norm=2.0)
    return vectors[:6]


def test_patch_activations_are_the_layer_outputs_at_their_positions(digits):
    model, images = digits
    vectors, positions = atlas.patch_activations(model, images, layer=LAYER, n=200, min_norm=1.0)
    assert vectors.shape == (200, 32) and positions.shape == (200, 3)
    assert positions.dtype == torch.int64
    acts = collect_activations(model, LAYER, images)
    image, i, j = positions.T
    torch.testing.assert_close(vectors, acts[image, :, i, j])
    assert (vectors.norm(dim=1) >= 1.0).all()
    assert len(set(map(tuple, positions.tolist()))) == 200  # drawn without replacement


def test_patch_activations_are_seeded_and_capped(digits):
    model, images = digits
    first = atlas.patch_activations(model, images[:2], layer=LAYER, n=50, seed=3)
    again = atlas.patch_activations(model, images[:2], layer=LAYER, n=50, seed=3)
    other = atlas.patch_activations(model, images[:2], layer=LAYER, n=50, seed=4)
    torch.testing.assert_close(first, again)
    assert not torch.equal(first[1], other[1])
    everything, _ = atlas.patch_activations(model, images[:2], layer=LAYER, n=10_000)
    assert everything.shape == (2 * 14 * 14, 32)


def test_cell_means_by_hand():
    vectors = torch.tensor([[1.0, 0.0], [3.0, 2.0], [5.0, 5.0], [0.0, 4.0], [2.0, 0.0]])
    cells = np.array([[1, 0], [1, 0], [0, 2], [1, 0], [0, 2]])
    occupied, means, counts = atlas.cell_means(vectors, cells, min_count=2)
    assert occupied.tolist() == [[0, 2], [1, 0]]  # row-major order
    torch.testing.assert_close(means, torch.tensor([[3.5, 2.5], [4 / 3, 2.0]]))
    assert counts.tolist() == [2, 3]
    occupied, _, counts = atlas.cell_means(vectors, cells, min_count=3)
    assert occupied.tolist() == [[1, 0]] and counts.tolist() == [3]


def test_nearest_positions_by_hand():
    vectors = torch.tensor([[0.0, 0.0], [1.0, 0.0], [5.0, 5.0], [4.0, 4.0]])
    means = torch.tensor([[0.9, 0.1], [4.8, 4.9]])
    assert atlas.nearest_positions(vectors, means, k=2).tolist() == [[1, 0], [2, 3]]


def test_crop_patches_centre_the_receptive_field(digits):
    model, images = digits
    # Unit (i, j) of relu2 sees rows -6 + 2i .. 7 + 2i; with a 2 px border: 18 px from -8 + 2i.
    patches = atlas.crop_patches(model, images, [[3, 7, 5], [0, 0, 0]], layer=LAYER)
    assert patches.shape == (2, 1, 18, 18)
    torch.testing.assert_close(patches[0, 0], images[3, 0, 6:24, 2:20])
    assert patches[1, 0, :8].abs().sum() == 0  # the window of unit (0, 0) starts in the padding
    torch.testing.assert_close(patches[1, 0, 8:, 8:], images[0, 0, :10, :10])


def test_render_shapes_range_and_determinism(digits, directions):
    model, _ = digits
    pictures = atlas.render_directions(model, directions, layer=LAYER, steps=20, seed=1)
    assert pictures.shape == (6, 1, 18, 18)
    assert 0 <= pictures.min() and pictures.max() <= 1
    again = atlas.render_directions(model, directions, layer=LAYER, steps=20, seed=1)
    other = atlas.render_directions(model, directions, layer=LAYER, steps=20, seed=2)
    assert torch.equal(pictures, again)
    assert not torch.equal(pictures, other)
    wider = atlas.render_directions(model, directions[:1], layer=LAYER, steps=2, margin=6)
    assert wider.shape == (1, 1, 26, 26)


def test_render_raises_the_aligned_objective(digits, directions):
    model, _ = digits
    start = atlas.render_directions(model, directions, layer=LAYER, steps=0)
    rendered = atlas.render_directions(model, directions, layer=LAYER, steps=60)
    before = atlas.centre_objective(model, start, directions, layer=LAYER)
    after = atlas.centre_objective(model, rendered, directions, layer=LAYER)
    assert (after > before + 0.5).all(), (before, after)
    # The picture responds in the direction asked for: its cosine beats every other direction.
    acts = nn.Sequential(*layers_up_to(model, LAYER))(rendered)[:, :, 4, 4]  # the centre unit
    cos = torch.nn.functional.cosine_similarity(acts[:, None], directions[None], dim=2)
    assert (cos.diagonal() > 0.7).all(), cos.diagonal()


def test_aligned_objective_prefers_the_direction_over_size():
    v = torch.tensor([[1.0, 0.0]])
    along = atlas.aligned_objective(torch.tensor([[2.0, 0.0]]), v)
    askew = atlas.aligned_objective(torch.tensor([[3.0, 3.0]]), v)  # larger dot product
    assert along.item() == pytest.approx(2.0) and askew.item() == pytest.approx(3 * 0.5**2)
    plain = atlas.aligned_objective(torch.tensor([[3.0, 3.0]]), v, power=0)
    assert plain.item() == pytest.approx(3.0)


def test_render_leaves_the_model_as_it_was(digits, directions):
    model, _ = digits
    model.train()
    model.conv1.eval()
    model.conv2.weight.requires_grad_(False)
    try:
        modes = {name: m.training for name, m in model.named_modules()}
        weights = {name: p.clone() for name, p in model.named_parameters()}
        atlas.render_directions(model, directions, layer=LAYER, steps=3)
        atlas.centre_objective(
            model, torch.rand(6, 1, 18, 18), directions, layer=LAYER
        )  # also no side effects
        assert {name: m.training for name, m in model.named_modules()} == modes
        assert all(p.grad is None for p in model.parameters())
        assert not model.conv2.weight.requires_grad and model.conv1.weight.requires_grad
        assert hook_count(model) == 0
        for name, p in model.named_parameters():
            assert torch.equal(p, weights[name])
    finally:
        model.eval()
        model.conv2.weight.requires_grad_(True)


def test_tile_grid_places_tiles():
    tiles = torch.stack([torch.full((1, 2, 2), 0.0), torch.full((1, 2, 2), 1.0)])
    image = atlas.tile_grid(tiles, [[0, 1], [2, 0]], 3, gap=1, fill=0.5)
    assert image.shape == (9, 9, 1)
    assert (image[0:2, 3:5] == 0).all() and (image[6:8, 0:2] == 1).all()
    assert image[0, 0, 0] == 0.5 and image.sum() == pytest.approx(0.5 * (81 - 8) + 4)


patches = atlas.patch_activations


@pytest.mark.parametrize(
    "call, error, words",
    [
        (lambda m, x, v: atlas.render_directions(m, v, layer="relu9"), UnknownLayerError, "relu2"),
        (lambda m, x, v: atlas.render_directions(m, v, layer="fc1"), ValueError, "positions"),
        (lambda m, x, v: atlas.render_directions(m, v[0], layer=LAYER), ValueError, "(M, K)"),
        (lambda m, x, v: atlas.render_directions(m, v[:, :16], layer=LAYER), ValueError, "K = 16"),
        (lambda m, x, v: atlas.render_directions(m, v * np.nan, layer=LAYER), ValueError, "NaN"),
        (lambda m, x, v: atlas.render_directions(m, v, layer=LAYER, steps=-1), ValueError, "steps"),
        (lambda m, x, v: atlas.patch_activations(m, x[0], layer=LAYER), ValueError, "(N, C, H, W)"),
        (lambda m, x, v: atlas.patch_activations(m, x, layer="fc1"), ValueError, "feature maps"),
        (lambda m, x, v: patches(m, x, layer=LAYER, min_norm=1e9), ValueError, "min_norm"),
        (lambda m, x, v: atlas.patch_activations(m, x, layer=LAYER, n=0), ValueError, "n must"),
        (lambda m, x, v: atlas.cell_means(v, np.zeros((6, 2))), ValueError, "integer"),
        (lambda m, x, v: atlas.cell_means(v, np.zeros((5, 2), int)), ValueError, "(M, 2)"),
        (lambda m, x, v: atlas.cell_means(v, np.eye(6, 2, dtype=int), min_count=5), ValueError,
         "no cell"),
        (lambda m, x, v: atlas.nearest_positions(v, v[:, :3]), ValueError, "numbers each"),
        (lambda m, x, v: atlas.crop_patches(m, x, [[0.0, 1, 2]], layer=LAYER), ValueError,
         "(P, 3)"),
    ],
)  # fmt: skip
def test_bad_input_gets_a_clear_error(digits, directions, call, error, words):
    model, images = digits
    with pytest.raises(error, match=None) as raised:
        call(model, images, directions)
    assert words in str(raised.value)
    assert hook_count(model) == 0
