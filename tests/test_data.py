"""course_utils.data and course_utils.shapes: offline loaders, the generator, tensor helpers."""

import numpy as np
import pytest
import torch

from course_utils import data, shapes


def test_digits_split_shapes_range_and_balance():
    train_x, train_y = data.load_digits("train")
    test_x, test_y = data.load_digits("test")
    assert train_x.shape == (1347, 1, 28, 28) and test_x.shape == (450, 1, 28, 28)
    assert train_x.dtype == torch.float32 and train_y.dtype == torch.int64
    assert float(train_x.min()) >= 0.0 and float(train_x.max()) <= 1.0
    # Stratified split: every digit appears about 45 times in the test set.
    counts = torch.bincount(test_y, minlength=10)
    assert counts.min() >= 43 and counts.max() <= 47
    # The 4-pixel frame is empty, as in MNIST, which leaves room to shift digits.
    assert float(train_x[:, :, :4].abs().max()) == 0.0
    assert float(train_x[:, :, :, -4:].abs().max()) == 0.0


def test_digits_split_is_fixed_disjoint_and_returns_copies():
    a, _ = data.load_digits("test")
    a.zero_()
    b, _ = data.load_digits("test")
    assert float(b.sum()) > 0, "editing a returned tensor must not change later loads"
    train_x, _ = data.load_digits("train")
    test_x, _ = data.load_digits("test")
    flat_train = {tuple(row) for row in (train_x.flatten(1) * 16).round().int().tolist()}
    overlap = sum(
        tuple(row) in flat_train for row in (test_x.flatten(1) * 16).round().int().tolist()
    )
    assert overlap < 5  # sklearn's digits contain a few exact duplicates, nothing more


def test_digits_bad_split():
    with pytest.raises(ValueError, match="'train' or 'test'"):
        data.load_digits("validation")


def test_make_shapes_is_deterministic_and_seed_dependent():
    a = data.make_shapes(12, seed=3)
    b = data.make_shapes(12, seed=3)
    c = data.make_shapes(12, seed=4)
    for x, y in zip(a, b):
        assert torch.equal(x, y)
    assert not torch.equal(a.images, c.images)


def test_make_shapes_formats_and_balanced_classes():
    d = data.make_shapes(60, seed=0)
    assert d.images.shape == (60, 3, 64, 64) and d.images.dtype == torch.float32
    assert d.masks.shape == (60, 64, 64) and d.masks.dtype == torch.bool
    assert float(d.images.min()) >= 0 and float(d.images.max()) <= 1
    assert torch.bincount(d.labels, minlength=6).tolist() == [10] * 6
    assert not d.patch_masks.any()
    # Every shape is visible and well inside the image.
    area = d.masks.float().mean(dim=(1, 2))
    assert float(area.min()) > 0.03 and float(area.max()) < 0.45


def test_masks_match_the_drawn_object():
    # Inside the mask the pixels come from the object's fill, outside from the background:
    # the average colour differs clearly between the two regions.
    d = data.make_shapes(30, seed=5, textures="class")
    for image, mask, texture in zip(d.images, d.masks, d.texture_labels):
        if data.TEXTURES[texture] != "solid":
            continue
        inside = image[:, mask]
        assert float(inside.std(dim=1).max()) < 0.05, "a solid fill is uniform up to noise"
        outside = image[:, ~mask]
        assert float((inside.mean(dim=1) - outside.mean(dim=1)).abs().sum()) > 0.3


def test_ring_has_a_hole_and_circle_does_not():
    yy, xx = np.mgrid[0:64, 0:64].astype(float)
    ring = shapes._shape_mask("ring", yy, xx, 32, 32, 16, 0.0, 64)
    circle = shapes._shape_mask("circle", yy, xx, 32, 32, 16, 0.0, 64)
    assert circle[32, 32] and not ring[32, 32]
    assert ring[32, 32 + 13] and circle[32, 32 + 13]


def test_class_textures_and_cue_conflict():
    agree = data.make_shapes(24, seed=1, textures="class")
    assert torch.equal(agree.labels, agree.texture_labels)
    conflict = data.make_shapes(24, seed=1, textures="class", conflict=True)
    assert bool((conflict.labels != conflict.texture_labels).all())
    random_fill = data.make_shapes(120, seed=1)
    assert float((random_fill.labels == random_fill.texture_labels).float().mean()) < 0.4


def test_spurious_patch_correlates_with_class():
    d = data.make_shapes(120, seed=2, patch=1.0)
    assert bool(d.patch_masks.any(dim=(1, 2)).all())
    assert int(d.patch_masks[0].sum()) == shapes.PATCH_SIZE**2
    assert not (d.masks & d.patch_masks).any(), "the object mask excludes the patch"
    for image, label, patch_mask in zip(d.images, d.labels, d.patch_masks):
        color = image[:, patch_mask].mean(dim=1)
        expected = torch.tensor(shapes.PATCH_COLORS[int(label)], dtype=torch.float32)
        assert float((color - expected).abs().max()) < 0.1
    uncorrelated = data.make_shapes(120, seed=2, patch=0.0)
    colors = [
        uncorrelated.images[i][:, m].mean(dim=1) for i, m in enumerate(uncorrelated.patch_masks)
    ]
    matches = [
        float((c - torch.tensor(shapes.PATCH_COLORS[int(y)])).abs().max()) < 0.1
        for c, y in zip(colors, uncorrelated.labels)
    ]
    assert not any(matches)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"n": 0}, "positive integer"),
        ({"n": 4, "size": 16}, "at least 32"),
        ({"n": 4, "textures": "plaid"}, "'random' or 'class'"),
        ({"n": 4, "conflict": True}, "needs textures='class'"),
        ({"n": 4, "patch": 1.5}, "probability"),
    ],
)
def test_make_shapes_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        data.make_shapes(**kwargs)


def test_load_shapes_splits_differ_and_are_cached_copies():
    test = data.load_shapes("test")
    assert test.images.shape == (1200, 3, 64, 64)
    test.images.zero_()
    again = data.load_shapes("test")
    assert float(again.images.sum()) > 0
    first_train = data.make_shapes(6, seed=shapes.SPLITS["train"][0])
    assert not torch.equal(first_train.images, again.images[:6])
    with pytest.raises(ValueError, match="'train' or 'test'"):
        data.load_shapes("val")


@pytest.mark.parametrize("name", data.PHOTOS)
def test_every_photo_loads_offline(name):
    photo = data.load_photo(name, size=48)
    assert photo.shape == (3, 48, 48) and photo.dtype == torch.float32
    assert float(photo.min()) >= 0 and float(photo.max()) <= 1
    assert float(photo.std()) > 0.01  # a real picture, not a blank


def test_photo_original_size_and_bad_names():
    cat = data.load_photo("chelsea", size=None)
    assert cat.shape == (3, 300, 451)
    with pytest.raises(ValueError, match="Available photos: astronaut"):
        data.load_photo("dog")
    with pytest.raises(ValueError, match="at least 8"):
        data.load_photo("chelsea", size=2)


def test_to_tensor_and_to_image_round_trip():
    rgb = np.random.default_rng(0).integers(0, 256, size=(5, 7, 3), dtype=np.uint8)
    t = data.to_tensor(rgb)
    assert t.shape == (3, 5, 7)
    np.testing.assert_allclose(data.to_image(t), rgb / 255.0, atol=1e-6)
    gray = np.linspace(0, 1, 20, dtype=np.float32).reshape(4, 5)
    assert data.to_tensor(gray).shape == (1, 4, 5)
    np.testing.assert_allclose(data.to_image(data.to_tensor(gray)), gray, atol=1e-6)
    rgba = np.zeros((4, 4, 4), dtype=np.uint8)
    assert data.to_tensor(rgba).shape == (3, 4, 4)
    assert data.to_image(t[None]).shape == (5, 7, 3)


def test_tensor_helpers_reject_bad_input():
    with pytest.raises(ValueError, match=r"\(H, W\) or \(H, W, C\)"):
        data.to_tensor(np.zeros((2, 3, 4, 5)))
    with pytest.raises(ValueError, match="values in \\[0, 1\\]"):
        data.to_tensor(np.full((4, 4), 255.0))
    with pytest.raises(ValueError, match="C = 1 or 3"):
        data.to_image(torch.zeros(5, 4, 4))
    with pytest.raises(TypeError, match="torch.Tensor"):
        data.to_image(np.zeros((3, 4, 4)))


def test_imagenet_normalize_round_trip_and_statistics():
    x = torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    z = data.imagenet_normalize(x)
    red = (x[:, 0] - data.IMAGENET_MEAN[0]) / data.IMAGENET_STD[0]
    torch.testing.assert_close(z[:, 0], red)
    torch.testing.assert_close(data.imagenet_denormalize(z), x)
    torch.testing.assert_close(data.imagenet_normalize(x[0]), z[0])


def test_imagenet_normalize_rejects_wrong_shape_and_range():
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\)"):
        data.imagenet_normalize(torch.rand(1, 28, 28))
    with pytest.raises(ValueError, match="already normalized"):
        data.imagenet_normalize(torch.rand(3, 4, 4) * 5 - 2)
    with pytest.raises(TypeError):
        data.imagenet_normalize(np.zeros((3, 4, 4)))


def test_shapes_on_a_canvas_keep_their_size_and_leave_the_centre():
    near = data.make_shapes(60, seed=5)
    anywhere = data.make_shapes(60, seed=5, canvas=96)
    assert anywhere.images.shape == (60, 3, 96, 96) and anywhere.masks.shape == (60, 96, 96)
    area = near.masks.flatten(1).sum(1).float().mean()
    assert 0.8 < anywhere.masks.flatten(1).sum(1).float().mean() / area < 1.25
    assert anywhere.masks[:, 0].sum() == anywhere.masks[:, -1].sum() == 0  # never cut off
    assert near.masks[:, 32, 32].float().mean() > 0.7  # the usual objects cover the centre
    assert anywhere.masks[:, 48, 48].float().mean() < 0.4
    with pytest.raises(ValueError, match="canvas"):
        data.make_shapes(4, canvas=32)


def test_scale_varies_the_object_size_within_its_range():
    fixed = data.make_shapes(120, seed=6, canvas=96)
    varied = data.make_shapes(120, seed=6, canvas=96, scale=(0.6, 1.25))
    fixed_area = fixed.masks.flatten(1).sum(1).float()
    varied_area = varied.masks.flatten(1).sum(1).float()
    # Area grows with the square of the scale: 0.36x to 1.56x of the unscaled objects' range.
    assert varied_area.std() > 1.2 * fixed_area.std()
    assert varied_area.min() < 0.6 * fixed_area.min() and varied_area.max() > fixed_area.max()
    assert varied.masks[:, 0].sum() == varied.masks[:, :, -1].sum() == 0  # never cut off
    for bad in [(1.2, 0.8), (0.0, 1.0), (1.0,)]:
        with pytest.raises(ValueError, match="scale"):
            data.make_shapes(4, scale=bad)


def test_pairs_hold_two_separate_objects_of_different_classes():
    pairs = shapes.make_pairs(36, seed=2)
    assert pairs.images.shape == (36, 3, 96, 96) and pairs.masks.shape == (36, 2, 96, 96)
    assert pairs.labels.shape == (36, 2) and bool((pairs.labels[:, 0] != pairs.labels[:, 1]).all())
    assert torch.bincount(pairs.labels[:, 0], minlength=6).tolist() == [6] * 6
    assert bool(pairs.masks.flatten(2).any(dim=2).all()), "both objects are drawn"
    assert not (pairs.masks[:, 0] & pairs.masks[:, 1]).any(), "the objects never overlap"
    # The second object was painted over the background, not under it: its pixels differ
    # from the first object's fill and from the background's mean.
    for image, masks in zip(pairs.images[:6], pairs.masks[:6]):
        assert not torch.equal(image[:, masks[0]].mean(1), image[:, masks[1]].mean(1))
    again = shapes.make_pairs(36, seed=2)
    assert all(torch.equal(a, b) for a, b in zip(pairs, again))
    with pytest.raises(ValueError, match="do not fit"):
        shapes.make_pairs(2, size=64, canvas=64, scale=(1.25, 1.25))


def test_anywhere_splits_are_fixed_held_out_copies():
    test, pairs = shapes.load_anywhere("test"), shapes.load_pairs("test")
    assert test.images.shape == (1200, 3, 96, 96) and pairs.images.shape == (600, 3, 96, 96)
    train = shapes.make_shapes(4, seed=shapes.ANYWHERE_SPLITS["train"][0], canvas=96)
    assert not torch.equal(train.images[:4], test.images[:4])
    test.images.zero_()
    assert float(shapes.load_anywhere("test").images.sum()) > 0
    centres = test.masks.float().mean(0)  # where objects lie, over the whole split
    assert centres[48, 48] < 0.4 and centres[20, 20] > 0.02, "objects lie anywhere"
    for load in (shapes.load_anywhere, shapes.load_pairs):
        with pytest.raises(ValueError, match="'train' or 'test'"):
            load("val")
