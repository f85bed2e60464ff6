"""Measuring explanations against ground truth, and against themselves.

The shapes data come with object masks, so an explanation can be *scored*:

* :func:`saliency_to_mask` + :func:`iou`: does the map segment the object?
* :func:`mask_to_box` + :func:`box_iou`: weakly supervised localization with boxes.
* :func:`pointing_game`: is the map's strongest point on the object?
* :func:`cascading_randomization`: does the explanation change when the model's learned
  weights are destroyed (Adebayo et al. 2018)? If not, it cannot be explaining the model.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from scipy.stats import spearmanr
from skimage.measure import label as connected_components
from torch import nn


def _check_maps(maps, name: str) -> torch.Tensor:
    maps = torch.as_tensor(maps)
    if maps.ndim != 3:
        hint = " (use maps[None] for a single map)" if maps.ndim == 2 else ""
        raise ValueError(f"{name} must have shape (N, H, W), got {tuple(maps.shape)}{hint}")
    return maps


def iou(a, b) -> torch.Tensor:
    """Intersection over union of boolean masks ``(N, H, W)``, one value per image.

    Two empty masks agree perfectly and get 1.0.
    """
    # BEGIN EXERCISE 04_saliency
    a, b = _check_maps(a, "a").bool(), _check_maps(b, "b").bool()
    if a.shape != b.shape:
        raise ValueError(
            f"masks must have the same shape, got {tuple(a.shape)} and {tuple(b.shape)}"
        )
    intersection = (a & b).flatten(1).sum(dim=1).float()
    union = (a | b).flatten(1).sum(dim=1).float()
    overlap = torch.where(union > 0, intersection / union.clamp(min=1), torch.ones_like(union))
    # END EXERCISE
    return overlap


def largest_component(mask: np.ndarray) -> np.ndarray:
    """Keep only the largest 8-connected region of a boolean ``(H, W)`` mask."""
    # BEGIN EXERCISE 04_saliency
    labels = connected_components(mask, connectivity=2)
    if labels.max() == 0:
        return mask.copy()
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0  # background
    largest = labels == sizes.argmax()
    # END EXERCISE
    return largest


def saliency_to_mask(saliency, fraction: float = 0.2) -> torch.Tensor:
    """Segment the object from a saliency map: keep the top ``fraction`` of each map's
    pixels, then only the largest connected region of them.

    Args:
        saliency: ``(N, H, W)`` maps (higher = more important).
        fraction: share of pixels kept before the connected-component step, in (0, 1].

    Returns:
        ``(N, H, W)`` boolean masks.
    """
    # BEGIN EXERCISE 04_saliency
    saliency = _check_maps(saliency, "saliency").float()
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction!r}")
    thresholds = torch.quantile(saliency.flatten(1), 1 - fraction, dim=1)
    above = (saliency >= thresholds[:, None, None]).numpy()
    masks = torch.from_numpy(np.stack([largest_component(m) for m in above]))
    # END EXERCISE
    return masks


def mask_to_box(mask) -> torch.Tensor:
    """Bounding boxes ``(N, 4)`` as ``(top, left, bottom, right)``, bottom/right exclusive.

    An empty mask gets the empty box ``(0, 0, 0, 0)``.
    """
    mask = _check_maps(mask, "mask").bool()
    boxes = torch.zeros(len(mask), 4, dtype=torch.long)
    for i, m in enumerate(mask):
        rows, cols = m.any(dim=1).nonzero()[:, 0], m.any(dim=0).nonzero()[:, 0]
        if len(rows):
            boxes[i] = torch.stack([rows[0], cols[0], rows[-1] + 1, cols[-1] + 1])
    return boxes


def box_iou(a, b) -> torch.Tensor:
    """IoU of boxes ``(N, 4)`` given as ``(top, left, bottom, right)``, one value per pair."""
    a, b = torch.as_tensor(a).float(), torch.as_tensor(b).float()
    top, left = torch.maximum(a[:, 0], b[:, 0]), torch.maximum(a[:, 1], b[:, 1])
    bottom, right = torch.minimum(a[:, 2], b[:, 2]), torch.minimum(a[:, 3], b[:, 3])
    intersection = (bottom - top).clamp(min=0) * (right - left).clamp(min=0)
    area = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1]) + (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area - intersection
    return torch.where(union > 0, intersection / union.clamp(min=1e-12), torch.zeros_like(union))


def pointing_game(maps, masks, tolerance: int = 0) -> float:
    """Share of maps whose maximum lies on the object (Zhang et al. 2016).

    Args:
        maps: ``(N, H, W)`` explanations.
        masks: ``(N, H, W)`` boolean object masks.
        tolerance: a hit may miss the mask by up to this many pixels (the paper used 15 px
            on 224 px images).

    Returns:
        hits / N, a float in [0, 1].
    """
    # BEGIN EXERCISE 06_grad_cam
    maps, masks = _check_maps(maps, "maps"), _check_maps(masks, "masks").bool()
    if maps.shape != masks.shape:
        raise ValueError(f"maps {tuple(maps.shape)} and masks {tuple(masks.shape)} differ in shape")
    if tolerance > 0:  # grow each mask by `tolerance` pixels (a square neighbourhood)
        masks = F.max_pool2d(masks[:, None].float(), 2 * tolerance + 1, 1, tolerance)[:, 0] > 0
    peaks = maps.flatten(1).argmax(dim=1)
    hits = masks.flatten(1).gather(1, peaks[:, None])[:, 0]
    return hits.float().mean().item()
    # END EXERCISE


def spearman(a, b) -> float:
    """Mean Spearman rank correlation between paired explanations (one per image)."""
    a, b = torch.as_tensor(a).flatten(1).numpy(), torch.as_tensor(b).flatten(1).numpy()
    if a.shape != b.shape:
        raise ValueError(f"explanations differ in shape: {a.shape} and {b.shape}")
    # A constant map (e.g. an all-zero Grad-CAM) has no ranking: it shares nothing with the other.
    values = [
        0.0 if np.ptp(u) == 0 or np.ptp(v) == 0 else spearmanr(u, v).statistic
        for u, v in zip(a, b, strict=True)
    ]
    return float(np.mean(values))


def parameter_layers(model: nn.Module) -> list[str]:
    """Names of the layers that own weights, from input to output."""
    return [name for name, m in model.named_modules() if name and list(m.parameters(recurse=False))]


def cascading_randomization(
    model: nn.Module, method: Callable, x: torch.Tensor, target, seed: int = 0
) -> list[tuple[str, float]]:
    """Adebayo et al.'s sanity check: re-initialize the layers from the output down, one
    more each step, and measure how much the explanation still resembles the original.

    Args:
        model: the trained model (left untouched: a copy is randomized).
        method: ``method(model, x, target)`` returning one map per image.
        x, target: the images to explain and their classes.
        seed: seeds the random weights.

    Returns:
        ``[(layer name, Spearman correlation with the original explanation), ...]``, the
        top layer first; each entry has that layer and all layers above it randomized.
    """
    # BEGIN EXERCISE 05_guided_backprop
    original = method(model, x, target)
    randomized = copy.deepcopy(model)
    layers = dict(randomized.named_modules())
    results = []
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        for name in reversed(parameter_layers(randomized)):
            layers[name].reset_parameters()
            results.append((name, spearman(original, method(randomized, x, target))))
    return results
    # END EXERCISE
