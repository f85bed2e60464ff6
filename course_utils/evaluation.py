"""Measuring explanations against ground truth, and against themselves.

The shapes data come with object masks, so an explanation can be *scored*:

* :func:`saliency_to_mask` + :func:`iou`: does the map segment the object?
* :func:`mask_to_box` + :func:`box_iou`: weakly supervised localization with boxes.
* :func:`pointing_game`: is the map's strongest point on the object?
* :func:`class_discrimination`: with two objects in the image, does the map of each class
  point at its own object?
* :func:`deletion_curve`, :func:`insertion_curve` + :func:`area_under_curve`: does the
  probability fall fast when the pixels the map ranks first are removed, and rise fast when
  they alone are put back (Petsiuk et al. 2018)? Faithfulness to the model, no masks needed.
* :func:`cascading_randomization`: does the explanation change when the model's learned
  weights are destroyed (Adebayo et al. 2018)? If not, it cannot be explaining the model.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from scipy.stats import spearmanr
from skimage.measure import label as connected_components
from torch import nn

from .attribution import Target, as_targets, check_images, eval_mode
from .models import predict


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


def class_discrimination(maps, masks) -> float:
    """Share of maps that point at their own object in images of two objects.

    Map ``k`` of image ``i`` explains the class of object ``k``. As in the pointing game, a
    map hits when its maximum (the first one, if several pixels tie) lies on its own
    object's mask; on the other object or on the background it misses. A map that finds
    objects but not classes scores about 0.5 or less; one that tells the classes apart, 1.

    Args:
        maps: ``(N, 2, H, W)``, ``maps[i, k]`` explains the class of object ``k`` of image ``i``.
        masks: ``(N, 2, H, W)`` boolean, ``masks[i, k]`` is True on object ``k`` of image ``i``.

    Returns:
        hits / (2 N), a float in [0, 1].

    Example:
        >>> pairs = load_pairs("test")
        >>> maps = torch.stack([grad_cam(model, pairs.images, pairs.labels[:, k], layer="relu4")
        ...                     for k in (0, 1)], dim=1)
        >>> class_discrimination(maps, pairs.masks)   # on its own object
        >>> class_discrimination(maps, pairs.masks.flip(1))   # on the other object
    """
    # BEGIN EXERCISE 06_grad_cam
    maps, masks = torch.as_tensor(maps), torch.as_tensor(masks).bool()
    if maps.ndim != 4 or maps.shape[1] != 2:
        raise ValueError(
            f"maps must have shape (N, 2, H, W), one map per object, got {tuple(maps.shape)}"
        )
    if masks.shape != maps.shape:
        raise ValueError(
            f"masks must have the shape of maps {tuple(maps.shape)}, got {tuple(masks.shape)}"
        )
    peaks = maps.flatten(2).argmax(dim=2)  # (N, 2): the first maximum of each map
    hits = masks.flatten(2).gather(2, peaks[:, :, None])
    return hits.float().mean().item()
    # END EXERCISE


def blurred(x: torch.Tensor) -> torch.Tensor:
    """Each image blurred with a Gaussian of sigma = H / 8: its colours without its shapes,
    the default substrate of :func:`deletion_curve` and :func:`insertion_curve`.

    Example:
        >>> blurred(images).shape == images.shape
        True
    """
    x = check_images(x).detach()
    sigma, channels = x.shape[2] / 8, x.shape[1]
    # A 2-D Gaussian blur is a 1-D blur down the columns, then one along the rows: much
    # faster than one 2-D kernel. Borders are mirrored, which needs a radius < the side.
    for dim in (2, 3):
        radius = min(math.ceil(3 * sigma), x.shape[dim] - 1)
        offsets = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
        kernel = torch.exp(-(offsets**2) / (2 * sigma**2))
        shape = (1, 1, -1, 1) if dim == 2 else (1, 1, 1, -1)
        kernel = (kernel / kernel.sum()).view(shape).repeat(channels, 1, 1, 1)
        padding = (0, 0, radius, radius) if dim == 2 else (radius, radius, 0, 0)
        x = F.conv2d(F.pad(x, padding, mode="reflect"), kernel, groups=channels)
    return x


def _probability_curve(model, x, target, maps, steps, substrate, insert: bool) -> torch.Tensor:
    """The curve of :func:`deletion_curve` (``insert=False``) or :func:`insertion_curve`."""
    x = check_images(x).detach()
    maps = _check_maps(maps, "maps")
    if maps.shape != (len(x), *x.shape[2:]):
        raise ValueError(
            f"maps must have shape (N, H, W) = {(len(x), *x.shape[2:])}, one per image of x, "
            f"got {tuple(maps.shape)} (reduce channels first, e.g. maps.abs().amax(dim=1))"
        )
    if not isinstance(steps, int) or isinstance(steps, bool) or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    if substrate is None:
        substrate = blurred(x)
    elif not isinstance(substrate, torch.Tensor) or substrate.shape != x.shape:
        shape = tuple(getattr(substrate, "shape", ()))
        raise ValueError(f"substrate must be None or a tensor shaped like x, got {shape}")
    substrate = substrate.detach().to(x)
    if target is None:
        target = predict(model, x).argmax(dim=1)
    targets = as_targets(target, len(x)).to(x.device)
    n, pixels = len(x), maps[0].numel()
    # rank[i, p]: the place of pixel p in image i's ranking, 0 for the highest value.
    order = torch.argsort(maps.flatten(1).double(), dim=1, descending=True, stable=True)
    order = order.to(x.device)
    rank = torch.empty_like(order).scatter_(
        1, order, torch.arange(pixels, device=x.device).expand(n, -1)
    )
    changed_at = torch.arange(steps + 1, device=x.device) * pixels // steps  # pixels at step k
    first, last = (substrate, x) if insert else (x, substrate)
    probabilities = []
    with eval_mode(model), torch.no_grad():
        # Every (step, image) pair is one image: pair p is step p // n of image p % n. They
        # go through the network 32 at a time (on a CPU, more per pass are no faster).
        for start in range(0, (steps + 1) * n, 32):
            pairs = torch.arange(start, min(start + 32, (steps + 1) * n), device=x.device)
            k, images = pairs // n, pairs % n
            changed = (rank[images] < changed_at[k, None]).view(-1, 1, *x.shape[2:])
            batch = torch.where(changed, last[images], first[images])
            scores = model(batch).softmax(dim=1)
            probabilities.append(scores.gather(1, targets[images, None])[:, 0])
    return torch.cat(probabilities).view(steps + 1, n).T


def deletion_curve(
    model: nn.Module, x: torch.Tensor, target: Target, maps, *, steps: int = 16, substrate=None
) -> torch.Tensor:
    """The target class's probability as the pixels a map ranks highest are removed.

    Each image's pixels are ranked by its map (highest first; ties in the order of the
    pixels). After ``k`` of ``steps`` steps the first ``k / steps`` of them are replaced by
    the substrate, all channels. A faithful map removes what the model needs first, so the
    probability falls fast: a small area under the curve is good.

    Args:
        model: classifier returning ``(N, n_classes)`` scores.
        x: images ``(N, C, H, W)``; not modified.
        target: one class index, ``N`` of them, or ``None`` for the predicted class.
        maps: ``(N, H, W)`` explanations of ``target`` (higher = more important).
        steps: the curve has ``steps + 1`` points, at fractions 0, 1/steps, ..., 1.
        substrate: what replaces removed pixels: ``None`` for each image blurred
            (:func:`blurred`), or images shaped like ``x`` (e.g. ``torch.zeros_like(x)``).

    Returns:
        ``(N, steps + 1)`` softmax probabilities of ``target``: the first for ``x``, the
        last for the substrate.

    Example:
        >>> curves = deletion_curve(model, images, labels, saliency_map(model, images, labels))
        >>> area_under_curve(curves).mean()   # lower = more faithful
    """
    return _probability_curve(model, x, target, maps, steps, substrate, insert=False)


def insertion_curve(
    model: nn.Module, x: torch.Tensor, target: Target, maps, *, steps: int = 16, substrate=None
) -> torch.Tensor:
    """The target class's probability as the pixels a map ranks highest are put back.

    The reverse of :func:`deletion_curve`: start from the substrate and, after ``k`` of
    ``steps`` steps, put back the image's own pixels on the first ``k / steps`` of the
    ranking. A faithful map restores what the model needs first, so the probability rises
    fast: a large area under the curve is good.

    Args:
        model, x, target, maps, steps, substrate: as in :func:`deletion_curve`.

    Returns:
        ``(N, steps + 1)`` softmax probabilities of ``target``: the first for the
        substrate, the last for ``x``.

    Example:
        >>> curves = insertion_curve(model, images, labels, maps)
        >>> area_under_curve(curves).mean()   # higher = more faithful
    """
    return _probability_curve(model, x, target, maps, steps, substrate, insert=True)


def area_under_curve(curves) -> torch.Tensor:
    """Area under curves ``(N, S)`` sampled at ``S`` fractions evenly spaced from 0 to 1,
    by the trapezoid rule: one value per curve, in [0, 1] for probabilities.

    Example:
        >>> area_under_curve(torch.tensor([[1.0, 0.5, 0.0]]))
        tensor([0.5000])
    """
    curves = torch.as_tensor(curves)
    if curves.ndim != 2 or curves.shape[1] < 2:
        raise ValueError(
            f"curves must have shape (N, S) with S >= 2 points each, got {tuple(curves.shape)}"
        )
    curves = curves.float() if not curves.is_floating_point() else curves
    # Each of the S - 1 intervals has width 1 / (S - 1) and the mean height of its ends.
    return ((curves[:, 1:] + curves[:, :-1]) / 2).sum(dim=1) / (curves.shape[1] - 1)


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
