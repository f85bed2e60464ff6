"""Procedurally drawn shapes with ground-truth masks.

Every image shows one shape (the class) filled with a texture, on a blotchy, noisy
background. Because we draw the images ourselves we know exactly which pixels belong to
the object, so explanations such as saliency maps can be *scored*, not just looked at.

Two options build the experiments of later lessons:

* ``patch=p``: a small coloured square in a corner whose colour matches the class with
  probability ``p``: a spurious cue, like snow in photos of wolves.
* ``textures="class"``: each class is filled with its own texture, so shape and texture
  both predict the class; with ``conflict=True`` the texture belongs to a *different*
  class (cue-conflict images, for measuring shape versus texture bias).

Everything is deterministic given ``seed``.
"""

from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from skimage.draw import polygon2mask

SHAPE_CLASSES = ("circle", "square", "triangle", "star", "ring", "cross")
TEXTURES = ("solid", "stripes", "checker", "dots", "waves", "speckle")
# Colours of the spurious patch, one per class (red, green, blue, yellow, magenta, cyan).
PATCH_COLORS = ((1, 0, 0), (0, 1, 0), (0, 0, 1), (1, 1, 0), (1, 0, 1), (0, 1, 1))
PATCH_SIZE = 8

# Fixed seeds and sizes of the shipped splits: the test split is never used for training.
SPLITS = {"train": (1_000, 6_000), "test": (2_000, 1_200)}
# The "anywhere" world: objects of different sizes anywhere on a larger canvas, where the
# centre of the image is no longer a good guess of where the object is. Seeds and sizes of
# its splits: (seed of the one-object images, how many, seed of the two-object ones, how many).
ANYWHERE = {"size": 64, "canvas": 96, "scale": (0.6, 1.25)}
ANYWHERE_SPLITS = {"train": (5_000, 6_000, 5_500, 1_500), "test": (6_000, 1_200, 6_500, 600)}


class ShapesData(NamedTuple):
    """A batch of shapes images and everything known about them.

    Attributes:
        images: ``(N, 3, S, S)`` float32 in [0, 1].
        labels: ``(N,)`` int64, index into :data:`SHAPE_CLASSES`.
        masks: ``(N, S, S)`` bool, True on the shape's pixels.
        texture_labels: ``(N,)`` int64, index into :data:`TEXTURES` of the fill.
        patch_masks: ``(N, S, S)`` bool, True on the spurious patch (all False without one).
    """

    images: torch.Tensor
    labels: torch.Tensor
    masks: torch.Tensor
    texture_labels: torch.Tensor
    patch_masks: torch.Tensor


class ShapePairs(NamedTuple):
    """Images with two objects of different classes, each with its own mask.

    Attributes:
        images: ``(N, 3, S, S)`` float32 in [0, 1].
        labels: ``(N, 2)`` int64, the classes of the two objects (always different).
        masks: ``(N, 2, S, S)`` bool, ``masks[i, k]`` is True on object ``k`` of image ``i``.
    """

    images: torch.Tensor
    labels: torch.Tensor
    masks: torch.Tensor


def _shape_mask(kind: str, yy, xx, cy, cx, radius, angle, size) -> np.ndarray:
    # Coordinates in the shape's own rotated frame.
    dy, dx = yy - cy, xx - cx
    u = dx * np.cos(angle) + dy * np.sin(angle)
    v = -dx * np.sin(angle) + dy * np.cos(angle)
    distance = np.hypot(dx, dy)
    if kind == "circle":
        return distance <= radius
    if kind == "ring":
        return (distance <= radius) & (distance >= 0.55 * radius)
    if kind == "square":
        return np.maximum(np.abs(u), np.abs(v)) <= 0.8 * radius
    if kind == "cross":
        arm, bar = 0.3 * radius, radius
        return ((np.abs(u) <= arm) & (np.abs(v) <= bar)) | ((np.abs(v) <= arm) & (np.abs(u) <= bar))
    if kind == "triangle":
        corners = [angle + k * 2 * np.pi / 3 for k in range(3)]
        radii = [radius * 1.1] * 3
    elif kind == "star":
        corners = [angle + k * np.pi / 5 for k in range(10)]
        radii = [radius * 1.1 if k % 2 == 0 else radius * 0.45 for k in range(10)]
    else:
        raise ValueError(f"unknown shape {kind!r}; expected one of {SHAPE_CLASSES}")
    vertices = [(cy + r * np.sin(a), cx + r * np.cos(a)) for a, r in zip(corners, radii)]
    return polygon2mask((size, size), np.array(vertices))


def _texture(kind: str, yy, xx, color_a, color_b, rng) -> np.ndarray:
    """An (S, S, 3) texture mixing two colours in a pattern of the given kind."""
    period = rng.uniform(5.0, 9.0)
    angle = rng.uniform(0, np.pi)
    u = xx * np.cos(angle) + yy * np.sin(angle)
    v = -xx * np.sin(angle) + yy * np.cos(angle)
    if kind == "solid":
        weight = np.zeros_like(xx)
    elif kind == "stripes":
        weight = (np.sin(2 * np.pi * u / period) > 0).astype(float)
    elif kind == "checker":
        weight = ((np.floor(u / period) + np.floor(v / period)) % 2).astype(float)
    elif kind == "dots":
        du, dv = (u % period) - period / 2, (v % period) - period / 2
        weight = (np.hypot(du, dv) < period / 3.5).astype(float)
    elif kind == "waves":
        weight = 0.5 + 0.5 * np.sin(2 * np.pi * u / period + 2.0 * np.sin(2 * np.pi * v / 14.0))
    elif kind == "speckle":
        weight = (rng.random(xx.shape) < 0.35).astype(float)
    else:
        raise ValueError(f"unknown texture {kind!r}; expected one of {TEXTURES}")
    weight = weight[:, :, None]
    return (1 - weight) * np.asarray(color_a) + weight * np.asarray(color_b)


def _backgrounds(n: int, size: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """Smooth colour blotches plus fine noise: (n, S, S, 3) images and their (n, 3) base colours."""
    base = rng.uniform(0.15, 0.85, size=(n, 3))
    coarse = torch.from_numpy(rng.normal(0.0, 0.15, size=(n, 3, 5, 5)))
    image = F.interpolate(coarse, size=(size, size), mode="bicubic", align_corners=False).numpy()
    # In place: for 1,200 images each temporary is 265 MB, and avoiding two of them makes
    # this three times faster (same values, same order of additions).
    image += base[:, :, None, None]
    image += rng.normal(0.0, 0.04, size=(n, 3, size, size))
    return np.clip(image, 0.0, 1.0, out=image).transpose(0, 2, 3, 1), base


def _contrasting_color(background: np.ndarray, rng) -> np.ndarray:
    # Rejection sampling keeps the object visible against its background.
    for _ in range(100):
        color = rng.uniform(0.0, 1.0, size=3)
        if np.abs(color - background).sum() > 0.9:
            return color
    return 1.0 - background


def _draw_object(label, place, grid, mean_color, textures, conflict, rng):
    """One object of class ``label`` at ``place = (cy, cx, radius)``: its mask, its
    (S, S, 3) fill (to be used where the mask is True) and the index of its texture."""
    cy, cx, radius = place
    yy, xx = grid
    n_classes = len(SHAPE_CLASSES)
    mask = _shape_mask(
        SHAPE_CLASSES[label], yy, xx, cy, cx, radius, rng.uniform(0, 2 * np.pi), len(yy)
    )
    if textures == "random":
        texture = rng.integers(n_classes)
    elif conflict:
        texture = (label + rng.integers(1, n_classes)) % n_classes
    else:
        texture = label
    color_a = _contrasting_color(mean_color, rng)
    color_b = np.clip(color_a + rng.choice([-1, 1]) * rng.uniform(0.35, 0.6, size=3), 0, 1)
    return mask, _texture(TEXTURES[texture], yy, xx, color_a, color_b, rng), texture


def _check_scale(scale) -> None:
    if scale is not None and not (len(scale) == 2 and 0 < scale[0] <= scale[1]):
        raise ValueError(
            f"scale must be None or a range (low, high) with 0 < low <= high, got {scale!r}"
        )


def make_shapes(
    n: int,
    seed: int = 0,
    size: int = 64,
    textures: str = "random",
    conflict: bool = False,
    patch: float | None = None,
    canvas: int | None = None,
    scale: tuple[float, float] | None = None,
) -> ShapesData:
    """Draw ``n`` shapes images with their ground-truth masks.

    Args:
        n: number of images (classes are balanced: image ``i`` has class ``i % 6``,
            then the order is shuffled).
        seed: random seed; the same arguments always give the same images.
        size: side length in pixels (at least 32).
        textures: ``"random"``: each shape gets a random texture (only the shape tells the
            class); ``"class"``: class ``k`` is filled with ``TEXTURES[k]``.
        conflict: with ``textures="class"``, fill every shape with the texture of a
            *different*, randomly chosen class (cue-conflict images).
        patch: ``None`` for no patch, or the probability in [0, 1] that an image's corner
            patch has its own class's colour (otherwise another class's colour).
        canvas: ``None``, or a larger side length: the object keeps the size it has in a
            ``size`` image but may lie anywhere on a ``canvas x canvas`` image. Without it,
            objects sit near the centre, so "the centre" is a strong guess of where they are;
            localization is only tested fairly on a canvas.
        scale: ``None``, or a range ``(low, high)``: each object's size is multiplied by a
            factor drawn uniformly from it (objects of different sizes).

    Returns:
        :class:`ShapesData` with ``images (n, 3, S, S)``, ``labels (n,)``,
        ``masks (n, S, S)``, ``texture_labels (n,)`` and ``patch_masks``.

    Example:
        >>> data = make_shapes(12, seed=0)
        >>> data.images.shape, data.masks.dtype
        (torch.Size([12, 3, 64, 64]), torch.bool)
    """
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    if not isinstance(size, int) or size < 32:
        raise ValueError(f"size must be an integer of at least 32 pixels, got {size!r}")
    if textures not in ("random", "class"):
        raise ValueError(f"textures must be 'random' or 'class', got {textures!r}")
    if conflict and textures != "class":
        raise ValueError("conflict=True needs textures='class' (a texture must belong to a class)")
    if canvas is not None and (not isinstance(canvas, int) or canvas < size):
        raise ValueError(f"canvas must be None or an integer >= size ({size}), got {canvas!r}")
    if patch is not None and not 0.0 <= patch <= 1.0:
        raise ValueError(f"patch must be None or a probability in [0, 1], got {patch!r}")
    _check_scale(scale)

    rng = np.random.default_rng(seed)
    n_classes = len(SHAPE_CLASSES)
    labels = rng.permutation(np.arange(n) % n_classes)
    side = canvas or size
    yy, xx = np.mgrid[0:side, 0:side].astype(float)
    images = np.empty((n, side, side, 3), dtype=np.float32)
    masks = np.empty((n, side, side), dtype=bool)
    patch_masks = np.zeros((n, side, side), dtype=bool)
    texture_labels = np.empty(n, dtype=np.int64)

    backgrounds, base_colors = _backgrounds(n, side, rng)
    for i, label in enumerate(labels):
        background, mean_color = backgrounds[i], base_colors[i]
        radius = rng.uniform(0.22, 0.32) * size
        if scale is not None:
            radius *= rng.uniform(*scale)
        if canvas is None:
            cy, cx = rng.uniform(0.5 * size - 0.12 * size, 0.5 * size + 0.12 * size, size=2)
        else:  # anywhere, as long as the whole object (corners reach 1.1 radius) fits
            cy, cx = rng.uniform(1.15 * radius + 1, side - 1.15 * radius - 1, size=2)
        mask, fill, texture = _draw_object(
            label, (cy, cx, radius), (yy, xx), mean_color, textures, conflict, rng
        )
        image = np.where(mask[:, :, None], fill, background)
        if patch is not None:
            same = rng.random() < patch
            color = label if same else (label + rng.integers(1, n_classes)) % n_classes
            top = rng.choice([1, side - PATCH_SIZE - 1])
            left = rng.choice([1, side - PATCH_SIZE - 1])
            patch_masks[i, top : top + PATCH_SIZE, left : left + PATCH_SIZE] = True
            image[patch_masks[i]] = PATCH_COLORS[color]
            mask &= ~patch_masks[i]
        images[i] = np.clip(image + rng.normal(0.0, 0.02, size=image.shape), 0.0, 1.0)
        masks[i] = mask
        texture_labels[i] = texture

    return ShapesData(
        images=torch.from_numpy(images).permute(0, 3, 1, 2).contiguous(),
        labels=torch.from_numpy(labels.astype(np.int64)),
        masks=torch.from_numpy(masks),
        texture_labels=torch.from_numpy(texture_labels),
        patch_masks=torch.from_numpy(patch_masks),
    )


@lru_cache(maxsize=8)
def _cached_split(split: str, textures: str, conflict: bool, patch: float | None) -> ShapesData:
    seed, n = SPLITS[split]
    return make_shapes(n, seed=seed, textures=textures, conflict=conflict, patch=patch)


def load_shapes(
    split: str = "train",
    textures: str = "random",
    conflict: bool = False,
    patch: float | None = None,
) -> ShapesData:
    """The fixed shapes split the shipped models were trained and tested on.

    Args:
        split: ``"train"`` (6,000 images) or ``"test"`` (1,200 images); each split has its
            own seed, so no test image is ever seen in training.
        textures, conflict, patch: as in :func:`make_shapes`.

    Returns:
        :class:`ShapesData` (a fresh copy: editing it does not change later loads).
    """
    if split not in SPLITS:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    data = _cached_split(split, textures, conflict, patch)
    return ShapesData(*(t.clone() for t in data))


def make_pairs(
    n: int,
    seed: int = 0,
    size: int = ANYWHERE["size"],
    canvas: int = ANYWHERE["canvas"],
    scale: tuple[float, float] = ANYWHERE["scale"],
) -> ShapePairs:
    """Draw ``n`` images that each show two objects of different classes, apart.

    Args:
        n: number of images; the first objects' classes are balanced, the second object's
            class is any other class.
        seed: random seed; the same arguments always give the same images.
        size, canvas, scale: as in :func:`make_shapes` (objects are sized as on a ``size``
            image and placed anywhere on a ``canvas`` one; ``scale`` varies their size).

    Returns:
        :class:`ShapePairs` with ``images (n, 3, canvas, canvas)``, ``labels (n, 2)`` and
        ``masks (n, 2, canvas, canvas)``.

    Example:
        >>> pairs = make_pairs(4, seed=0)
        >>> pairs.labels.shape, pairs.masks.shape
        (torch.Size([4, 2]), torch.Size([4, 2, 96, 96]))
    """
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    if not isinstance(canvas, int) or canvas < size:
        raise ValueError(f"canvas must be an integer >= size ({size}), got {canvas!r}")
    _check_scale(scale)
    rng = np.random.default_rng(seed)
    n_classes = len(SHAPE_CLASSES)
    first = rng.permutation(np.arange(n) % n_classes)
    second = (first + rng.integers(1, n_classes, size=n)) % n_classes
    yy, xx = np.mgrid[0:canvas, 0:canvas].astype(float)
    images = np.empty((n, canvas, canvas, 3), dtype=np.float32)
    masks = np.zeros((n, 2, canvas, canvas), dtype=bool)
    backgrounds, base_colors = _backgrounds(n, canvas, rng)
    for i in range(n):
        # Redraw sizes and places until the objects (corners reach 1.1 radius) do not touch.
        for _ in range(10_000):
            radii = rng.uniform(0.22, 0.32, size=2) * size * rng.uniform(*scale, size=2)
            centres = [rng.uniform(1.15 * r + 1, canvas - 1.15 * r - 1, size=2) for r in radii]
            if np.hypot(*(centres[0] - centres[1])) >= 1.15 * radii.sum() + 2:
                break
        else:
            raise ValueError(f"two objects of size {size} do not fit apart on a {canvas} px canvas")
        image = backgrounds[i]
        for k, (label, (cy, cx), radius) in enumerate(zip((first[i], second[i]), centres, radii)):
            mask, fill, _ = _draw_object(
                label, (cy, cx, radius), (yy, xx), base_colors[i], "random", False, rng
            )
            image = np.where(mask[:, :, None], fill, image)
            masks[i, k] = mask
        images[i] = np.clip(image + rng.normal(0.0, 0.02, size=image.shape), 0.0, 1.0)
    return ShapePairs(
        images=torch.from_numpy(images).permute(0, 3, 1, 2).contiguous(),
        labels=torch.from_numpy(np.stack([first, second], axis=1).astype(np.int64)),
        masks=torch.from_numpy(masks),
    )


@lru_cache(maxsize=4)
def _cached_anywhere(split: str, pairs: bool) -> ShapesData | ShapePairs:
    single_seed, n_single, pair_seed, n_pairs = ANYWHERE_SPLITS[split]
    if pairs:
        return make_pairs(n_pairs, seed=pair_seed)
    return make_shapes(
        n_single,
        seed=single_seed,
        size=ANYWHERE["size"],
        canvas=ANYWHERE["canvas"],
        scale=ANYWHERE["scale"],
    )


def load_anywhere(split: str = "train") -> ShapesData:
    """The fixed split of one-object images of the "anywhere" world.

    Objects of different sizes lie anywhere on a 96 px canvas (see :data:`ANYWHERE`), so
    an explanation must find the object to score well: the image centre is no longer a
    good guess. The ``shapes_anywhere`` model was trained on the ``"train"`` split.

    Args:
        split: ``"train"`` (6,000 images) or ``"test"`` (1,200 images).

    Returns:
        :class:`ShapesData` (a fresh copy), with images ``(N, 3, 96, 96)``.
    """
    if split not in ANYWHERE_SPLITS:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    return ShapesData(*(t.clone() for t in _cached_anywhere(split, False)))


def load_pairs(split: str = "test") -> ShapePairs:
    """The fixed split of two-object images of the "anywhere" world.

    Args:
        split: ``"train"`` (1,500 images, used in training with half of each label) or
            ``"test"`` (600 images).

    Returns:
        :class:`ShapePairs` (a fresh copy), with images ``(N, 3, 96, 96)``.
    """
    if split not in ANYWHERE_SPLITS:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    return ShapePairs(*(t.clone() for t in _cached_anywhere(split, True)))
