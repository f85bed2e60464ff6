"""Grad-CAM (Selvaraju et al. 2017) and guided Grad-CAM: where in the image a class is.

:class:`BaseCAM` holds the recipe; a CAM method only decides how much each channel of the
chosen layer counts (:meth:`BaseCAM.channel_weights`). Grad-CAM's answer is the average
gradient of the class score over the channel's positions.

Example:
    >>> cams = grad_cam(load_model("shapes"), "relu4", images, labels)   # (N, 64, 64) in [0, 1]
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .attribution import as_targets, check_images, eval_mode
from .guided import guided_backprop
from .hooks import get_layer, record_activations, record_gradients


def upsample(maps: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear resize of ``(N, h, w)`` maps to ``(N, *size)``."""
    return F.interpolate(maps[:, None], size=tuple(size), mode="bilinear", align_corners=False)[
        :, 0
    ]


def normalize_maps(maps: torch.Tensor) -> torch.Tensor:
    """Rescale each map of ``(N, H, W)`` to [0, 1]: subtract its minimum, divide by the new
    maximum. A flat map becomes all zeros (there is nothing to show)."""
    flat = maps.flatten(1)
    shifted = flat - flat.amin(dim=1, keepdim=True)
    peak = shifted.amax(dim=1, keepdim=True)
    # No epsilon in the denominator: Grad-CAM maps of an untrained model can be ~1e-6 in size.
    scaled = shifted / peak.clamp(min=torch.finfo(maps.dtype).tiny)
    return torch.where(peak > 0, scaled, 0.0).view_as(maps)


class BaseCAM:
    """Class activation maps from one layer: ``relu(sum_k weight_k * A_k)``.

    Args:
        model: classifier returning ``(N, n_classes)`` scores.
        layer: name of the layer whose activations ``A`` (N, K, h, w) are weighted.
    """

    def __init__(self, model: nn.Module, layer: str):
        get_layer(model, layer)  # a clear error for an unknown name, listing the valid ones
        self.model, self.layer = model, layer

    def channel_weights(self, activations: torch.Tensor, gradients: torch.Tensor) -> torch.Tensor:
        """``(N, K)`` importance of each channel from ``(N, K, h, w)`` activations and gradients."""
        raise NotImplementedError

    def __call__(
        self,
        x: torch.Tensor,
        target,
        relu: bool = True,
        resize: bool = True,
        normalize: bool = True,
    ) -> torch.Tensor:
        """Maps for ``target`` (one class index or ``N``).

        Returns ``(N, H, W)``, or ``(N, h, w)`` with ``resize=False``; ``normalize`` scales
        each map to [0, 1] and ``relu`` keeps only the evidence *for* the class.
        """
        # BEGIN EXERCISE 06_grad_cam
        x = check_images(x)
        with eval_mode(self.model), torch.enable_grad():
            with record_activations(self.model, self.layer) as acts:
                with record_gradients(self.model, self.layer) as grads:
                    scores = self.model(x.detach().requires_grad_(True))
                    target = as_targets(target, len(x), scores.shape[1])
                    scores.gather(1, target[:, None]).sum().backward()
        activations, gradients = acts[self.layer], grads[self.layer]
        if activations.ndim != 4:
            raise ValueError(
                f"layer {self.layer!r} gives activations of shape {tuple(activations.shape)}; "
                "a CAM needs a convolutional layer with output (N, K, h, w)"
            )
        weights = self.channel_weights(activations, gradients)
        cam = (weights[:, :, None, None] * activations).sum(dim=1)
        if relu:
            cam = cam.clamp(min=0)
        if resize:
            cam = upsample(cam, x.shape[2:])
        return normalize_maps(cam) if normalize else cam
        # END EXERCISE


class GradCAM(BaseCAM):
    """Grad-CAM: a channel's weight is the spatial mean of the class score's gradient."""

    def channel_weights(self, activations, gradients):
        # BEGIN EXERCISE 06_grad_cam
        return gradients.mean(dim=(2, 3))
        # END EXERCISE


def grad_cam(model: nn.Module, layer: str, x: torch.Tensor, target, **options) -> torch.Tensor:
    """Grad-CAM maps ``(N, H, W)`` in [0, 1]; ``options`` as in :meth:`BaseCAM.__call__`."""
    # BEGIN EXERCISE 06_grad_cam
    return GradCAM(model, layer)(x, target, **options)
    # END EXERCISE


def guided_grad_cam(model: nn.Module, layer: str, x: torch.Tensor, target) -> torch.Tensor:
    """Guided backprop ``(N, C, H, W)`` times the upsampled, normalized Grad-CAM map."""
    # BEGIN EXERCISE 06_grad_cam
    return guided_backprop(model, x, target) * grad_cam(model, layer, x, target)[:, None]
    # END EXERCISE
