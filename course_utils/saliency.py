"""Vanilla saliency and SmoothGrad: which input pixels change the class score most;
integrated gradients: how much each pixel adds to the score, compared with a baseline image.

Example:
    >>> model = load_model("shapes")
    >>> data = load_shapes("test")
    >>> maps = saliency_map(model, data.images[:8], data.labels[:8])   # (8, 64, 64)
"""

from __future__ import annotations

import torch
from torch import nn

from .attribution import (
    Target,
    as_targets,
    check_images,
    eval_mode,
    input_gradient,
    resolve_targets,
)
from .models import predict
from .occlusion import baseline_images


def saliency_map(model: nn.Module, x: torch.Tensor, target: Target = None) -> torch.Tensor:
    """Vanilla saliency (Simonyan et al. 2013): ``|d score / d pixel|``, max over channels.

    Args:
        model: classifier returning ``(N, n_classes)`` scores (logits, not probabilities).
        x: images ``(N, C, H, W)``; not modified.
        target: the class to explain: one int, ``N`` of them, or ``None`` for the prediction.

    Returns:
        ``(N, H, W)`` non-negative map.

    Example:
        >>> saliency_map(model, images, labels).shape
        torch.Size([8, 64, 64])
    """
    # BEGIN EXERCISE 04_saliency
    maps = input_gradient(model, x, target).abs().amax(dim=1)
    # END EXERCISE
    return maps


def smoothgrad(
    model: nn.Module,
    x: torch.Tensor,
    target: Target = None,
    *,
    n_samples: int = 25,
    noise_level: float = 0.15,
    seed: int = 0,
    batch_size: int = 128,
) -> torch.Tensor:
    """SmoothGrad (Smilkov et al. 2017): the average saliency map of noisy copies of ``x``.

    The noise is Gaussian with standard deviation ``noise_level * (x.max() - x.min())``,
    measured per image, so the same ``noise_level`` means the same thing for any input range.

    Args:
        model, x, target: as in :func:`saliency_map` (``None``: the class predicted for the
            image without noise).
        n_samples: noisy copies per image.
        noise_level: noise standard deviation as a fraction of each image's value range.
        seed: seeds the noise, so the same call gives the same map.
        batch_size: noisy images per forward pass (the copies of all images go through the
            network together, which is much faster than one pass per copy).

    Returns:
        ``(N, H, W)`` non-negative map.
    """
    # BEGIN EXERCISE 04_saliency
    x = check_images(x).detach()
    if not isinstance(n_samples, int) or n_samples < 1:
        raise ValueError(f"n_samples must be a positive integer, got {n_samples!r}")
    if noise_level < 0:
        raise ValueError(f"noise_level must be >= 0, got {noise_level!r}")
    if target is None:
        target = predict(model, x).argmax(dim=1)
    targets = as_targets(target, len(x)).repeat(n_samples)
    generator = torch.Generator().manual_seed(seed)
    value_range = x.flatten(1).amax(dim=1) - x.flatten(1).amin(dim=1)
    sigma = (noise_level * value_range).view(-1, 1, 1, 1)
    # One draw per sample, in the order a loop over samples would draw them: (S, N, C, H, W).
    noise = torch.stack([torch.randn(x.shape, generator=generator) for _ in range(n_samples)])
    # Broadcasting adds x and sigma to every sample without copying them S times; then
    # sample s of image i is row s * N + i, the order of `targets`.
    noisy = (x + noise.to(x) * sigma).flatten(0, 1)
    step = max(1, batch_size)
    maps = torch.cat([
        saliency_map(model, noisy[i : i + step], targets[i : i + step])
        for i in range(0, len(noisy), step)
    ])  # fmt: skip
    mean = maps.view(n_samples, len(x), *maps.shape[1:]).mean(dim=0)
    # END EXERCISE
    return mean


def integrated_gradients(
    model: nn.Module,
    x: torch.Tensor,
    target: Target = None,
    *,
    baseline=None,
    steps: int = 32,
    batch_size: int = 64,
) -> torch.Tensor:
    """Integrated gradients (Sundararajan et al. 2017): the gradient averaged along the
    straight path from a baseline image ``b`` to ``x``, times ``x - b``.

    ``attribution = (x - b) * mean_k grad score(b + alpha_k (x - b))`` with the midpoints
    ``alpha_k = (k + 0.5) / steps``. Unlike a plain gradient, the attributions add up to
    the change of the score: their sum is ``score(x) - score(b)``, up to the error of
    averaging ``steps`` points instead of integrating (see :func:`completeness_gap`).

    Args:
        model, x, target: as in :func:`saliency_map` (``None``: the class predicted for ``x``).
        baseline: the image that means "nothing there": ``None`` (zeros, a black image), a
            number (a constant image), one image ``(C, H, W)`` or one per input
            ``(N, C, H, W)``.
        steps: points on the path; more get closer to the integral and take longer.
        batch_size: images on the paths per forward and backward pass (bounds the memory).

    Returns:
        ``(N, C, H, W)`` signed attributions, in the units of the score.

    Example:
        >>> attributions = integrated_gradients(model, images, labels, steps=32)
        >>> maps = attributions.abs().amax(dim=1)   # (N, H, W), to look at
    """
    x = check_images(x).detach()
    for value, name in ((steps, "steps"), (batch_size, "batch_size")):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    baseline = baseline_images(baseline, x)
    # BEGIN EXERCISE 07_faithfulness
    if target is None:
        target = predict(model, x).argmax(dim=1)
    targets = as_targets(target, len(x)).to(x.device)
    difference = x - baseline
    alphas = (torch.arange(steps, dtype=x.dtype, device=x.device) + 0.5) / steps
    n, total = len(x), torch.zeros_like(x)
    # Every (step, image) pair is one image on a path: pair p is step p // n of image p % n.
    # They go through the network batch_size at a time, and each image sums its gradients.
    for start in range(0, steps * n, batch_size):
        pairs = torch.arange(start, min(start + batch_size, steps * n), device=x.device)
        k, images = pairs // n, pairs % n
        path = baseline[images] + alphas[k].view(-1, 1, 1, 1) * difference[images]
        total.index_add_(0, images, input_gradient(model, path, targets[images]))
    attributions = difference * total / steps
    # END EXERCISE
    return attributions


def completeness_gap(
    model: nn.Module, x: torch.Tensor, target: Target, attributions: torch.Tensor, *, baseline=None
) -> torch.Tensor:
    """How far attributions are from adding up to the change of the score.

    Integrated gradients promise ``sum(attributions) = score(x) - score(baseline)``; the
    gap is what is left over, from using a finite number of steps.

    Args:
        model, x, target: as in :func:`integrated_gradients` (``None``: the predicted class).
        attributions: ``(N, C, H, W)``, e.g. from :func:`integrated_gradients`.
        baseline: the baseline the attributions were computed with.

    Returns:
        ``(N,)``: ``attributions.sum() - (score(x) - score(baseline))`` per image.

    Example:
        >>> ig = integrated_gradients(model, images, labels)
        >>> completeness_gap(model, images, labels, ig).abs().max()
    """
    x = check_images(x).detach()
    if not isinstance(attributions, torch.Tensor) or attributions.shape != x.shape:
        shape = tuple(getattr(attributions, "shape", ()))
        raise ValueError(f"attributions must have the shape of x {tuple(x.shape)}, got {shape}")
    baseline = baseline_images(baseline, x)
    with eval_mode(model), torch.no_grad():
        scores, baseline_scores = model(x), model(baseline)
    targets = resolve_targets(target, scores)
    change = (scores - baseline_scores).gather(1, targets[:, None])[:, 0]
    return attributions.detach().flatten(1).sum(dim=1) - change
