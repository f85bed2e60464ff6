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
    blotches = F.interpolate(coarse, size=(size, size), mode="bicubic", align_corners=False)
    image = (
        base[:, :, None, None] + blotches.numpy() + rng.normal(0.0, 0.04, size=(n, 3, size, size))
    )
    return np.clip(image, 0.0, 1.0).transpose(0, 2, 3, 1), base


def _contrasting_color(background: np.ndarray, rng) -> np.ndarray:
    # Rejection sampling keeps the object visible against its background.
    for _ in range(100):
        color = rng.uniform(0.0, 1.0, size=3)
        if np.abs(color - background).sum() > 0.9:
            return color
    return 1.0 - background


def make_shapes(
    n: int,
    seed: int = 0,
    size: int = 64,
    textures: str = "random",
    conflict: bool = False,
    patch: float | None = None,
    canvas: int | None = None,
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
        if canvas is None:
            cy, cx = rng.uniform(0.5 * size - 0.12 * size, 0.5 * size + 0.12 * size, size=2)
        else:  # anywhere, as long as the whole object (corners reach 1.1 radius) fits
            cy, cx = rng.uniform(1.15 * radius + 1, side - 1.15 * radius - 1, size=2)
        mask = _shape_mask(
            SHAPE_CLASSES[label], yy, xx, cy, cx, radius, rng.uniform(0, 2 * np.pi), side
        )
        if textures == "random":
            texture = rng.integers(n_classes)
        elif conflict:
            texture = (label + rng.integers(1, n_classes)) % n_classes
        else:
            texture = label
        color_a = _contrasting_color(mean_color, rng)
        color_b = np.clip(color_a + rng.choice([-1, 1]) * rng.uniform(0.35, 0.6, size=3), 0, 1)
        fill = _texture(TEXTURES[texture], yy, xx, color_a, color_b, rng)
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
