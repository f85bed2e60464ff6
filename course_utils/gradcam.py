"""Grad-CAM (Selvaraju et al. 2017) and guided Grad-CAM: where in the image a class is.

:class:`BaseCAM` holds the recipe; a CAM method only decides how much each channel of the
chosen layer counts (:meth:`BaseCAM.channel_weights`). Grad-CAM's answer is the average
gradient of the class score over the channel's positions.

Example:
    >>> cams = grad_cam(load_model("shapes"), images, labels, layer="relu4")   # (N, 64, 64)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .attribution import Target, check_images, eval_mode, pick, run_recording
from .guided import guided_backprop


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
        layer: name of the layer whose activations ``A`` (N, K, h, w) are weighted; it must
            run once per forward pass.
    """

    def __init__(self, model: nn.Module, layer: str):
        # The name is checked where it is used (run_recording): an unknown one raises an
        # error that lists the valid names.
        self.model, self.layer = model, layer

    def channel_weights(self, activations: torch.Tensor, gradients: torch.Tensor) -> torch.Tensor:
        """``(N, K)`` importance of each channel from ``(N, K, h, w)`` activations and gradients."""
        raise NotImplementedError

    def __call__(
        self,
        x: torch.Tensor,
        target: Target = None,
        *,
        relu: bool = True,
        resize: bool = True,
        normalize: bool = True,
    ) -> torch.Tensor:
        """Maps for ``target`` (one class index, ``N`` of them, or ``None``: the prediction).

        Returns ``(N, H, W)``, or ``(N, h, w)`` with ``resize=False``; ``normalize`` scales
        each map to [0, 1] and ``relu`` keeps only the evidence *for* the class.
        """
        # BEGIN EXERCISE 06_grad_cam
        x = check_images(x).detach()
        with eval_mode(self.model), torch.enable_grad():
            scores, recorded = run_recording(self.model, x, self.layer)
            activations = recorded[self.layer]
            if activations.ndim != 4:
                raise ValueError(
                    f"layer {self.layer!r} gives activations of shape "
                    f"{tuple(activations.shape)}; a CAM needs a convolutional layer with "
                    "output (N, K, h, w)"
                )
            # Differentiate with respect to the layer only: no weight's .grad is touched and
            # the backward pass stops at the layer.
            (gradients,) = torch.autograd.grad(pick(scores, target), activations)
        activations = activations.detach()
        weights = self.channel_weights(activations, gradients)
        cam = (weights[:, :, None, None] * activations).sum(dim=1)
        if relu:
            cam = cam.clamp(min=0)
        if resize:
            cam = upsample(cam, x.shape[2:])
        return normalize_maps(cam) if normalize else cam
        # END EXERCISE


class GradCAM(BaseCAM):
    """Grad-CAM: a channel's weight is the spatial mean of the class score's gradient.

    When the layer is followed by global average pooling and one linear layer (as in
    ``ShapesCNN``), that mean is the class's linear weight for the channel divided by the
    number of positions ``h * w``. The weighted sum is then CAM's (Zhou et al. 2016) divided
    by ``h * w``: the same map up to a positive factor, and equal to it once both get the
    same ReLU and normalization. CAM needs that head; with others the two generally differ.
    """

    def channel_weights(self, activations, gradients):
        # BEGIN EXERCISE 06_grad_cam
        return gradients.mean(dim=(2, 3))
        # END EXERCISE


def grad_cam(
    model: nn.Module, x: torch.Tensor, target: Target = None, *, layer: str, **options
) -> torch.Tensor:
    """Grad-CAM maps of ``layer``.

    Args:
        model: classifier returning ``(N, n_classes)`` scores.
        x: images ``(N, C, H, W)``; not modified.
        target: class index, one int, ``N`` of them, or ``None`` for the predicted class.
        layer: a convolutional layer that runs once per pass (``hooks.layer_names(model)``).
        options: ``relu``, ``resize``, ``normalize`` as in :meth:`BaseCAM.__call__`.

    Returns:
        ``(N, H, W)`` maps, each scaled to [0, 1].
    """
    # BEGIN EXERCISE 06_grad_cam
    return GradCAM(model, layer)(x, target, **options)
    # END EXERCISE


def guided_grad_cam(
    model: nn.Module, x: torch.Tensor, target: Target = None, *, layer: str
) -> torch.Tensor:
    """Guided backprop ``(N, C, H, W)`` times the upsampled, normalized Grad-CAM map."""
    # BEGIN EXERCISE 06_grad_cam
    return guided_backprop(model, x, target) * grad_cam(model, x, target, layer=layer)[:, None]
    # END EXERCISE
