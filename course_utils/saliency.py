"""Vanilla saliency and SmoothGrad: which input pixels change the class score most.

Example:
    >>> model = load_model("shapes")
    >>> data = load_shapes("test")
    >>> maps = saliency_map(model, data.images[:8], data.labels[:8])   # (8, 64, 64)
"""

from __future__ import annotations

import torch
from torch import nn

from .attribution import check_images, input_gradient


def saliency_map(model: nn.Module, x: torch.Tensor, target) -> torch.Tensor:
    """Vanilla saliency (Simonyan et al. 2013): ``|d score / d pixel|``, max over channels.

    Args:
        model: classifier returning ``(N, n_classes)`` scores (logits, not probabilities).
        x: images ``(N, C, H, W)``.
        target: the class to explain: one int or ``N`` of them.

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
    target,
    n_samples: int = 25,
    noise_level: float = 0.15,
    seed: int = 0,
) -> torch.Tensor:
    """SmoothGrad (Smilkov et al. 2017): the average saliency map of noisy copies of ``x``.

    The noise is Gaussian with standard deviation ``noise_level * (x.max() - x.min())``,
    measured per image, so the same ``noise_level`` means the same thing for any input range.

    Args:
        model, x, target: as in :func:`saliency_map`.
        n_samples: noisy copies per image.
        noise_level: noise standard deviation as a fraction of each image's value range.
        seed: seeds the noise, so the same call gives the same map.

    Returns:
        ``(N, H, W)`` non-negative map.
    """
    # BEGIN EXERCISE 04_saliency
    x = check_images(x)
    if not isinstance(n_samples, int) or n_samples < 1:
        raise ValueError(f"n_samples must be a positive integer, got {n_samples!r}")
    if noise_level < 0:
        raise ValueError(f"noise_level must be >= 0, got {noise_level!r}")
    generator = torch.Generator().manual_seed(seed)
    value_range = x.flatten(1).amax(dim=1) - x.flatten(1).amin(dim=1)
    sigma = (noise_level * value_range).view(-1, 1, 1, 1)
    total = torch.zeros(x.shape[0], *x.shape[2:])
    for _ in range(n_samples):
        noise = torch.randn(x.shape, generator=generator) * sigma
        total += saliency_map(model, x + noise, target)
    mean = total / n_samples
    # END EXERCISE
    return mean
