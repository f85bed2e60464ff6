"""Vanilla saliency and SmoothGrad: which input pixels change the class score most.

Example:
    >>> model = load_model("shapes")
    >>> data = load_shapes("test")
    >>> maps = saliency_map(model, data.images[:8], data.labels[:8])   # (8, 64, 64)
"""

from __future__ import annotations

import torch
from torch import nn

from .attribution import Target, as_targets, check_images, input_gradient
from .models import predict


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
