"""What every gradient-based explanation shares: checked inputs, eval mode, one backward pass.

Saliency (:mod:`course_utils.saliency`), guided backprop (:mod:`course_utils.guided`) and
Grad-CAM (:mod:`course_utils.gradcam`) all differentiate the **class score** (the logit,
before softmax) of a target class with respect to something: the input, or a layer's
activations. :func:`input_gradient` is that common step.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

from .hooks import record_activations


def check_images(x, name: str = "x") -> torch.Tensor:
    """Raise a clear error unless ``x`` is a float batch ``(N, C, H, W)``; return it."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(
            f"{name} must be a torch.Tensor of shape (N, C, H, W), got {type(x).__name__}"
        )
    if x.ndim != 4:
        hint = " (add a batch dimension with x.unsqueeze(0))" if x.ndim == 3 else ""
        raise ValueError(f"{name} must have shape (N, C, H, W), got {tuple(x.shape)}{hint}")
    if not x.is_floating_point():
        raise TypeError(f"{name} must be a float tensor, got {x.dtype}")
    return x


def as_targets(target, n: int, n_outputs: int | None = None) -> torch.Tensor:
    """Turn ``target`` (an int, a list or a tensor of ``n`` class indices) into a ``(n,)`` tensor.

    Raises:
        ValueError: wrong length, or an index outside ``0 .. n_outputs - 1``.
    """
    target = torch.as_tensor(target).long().reshape(-1)
    if target.numel() == 1:
        target = target.expand(n)
    if target.numel() != n:
        raise ValueError(
            f"target must be one class index or {n} of them (one per image), got {target.numel()}"
        )
    if n_outputs is not None and (target.min() < 0 or target.max() >= n_outputs):
        raise ValueError(
            f"target indices must lie in 0..{n_outputs - 1}, got {sorted(set(target.tolist()))}"
        )
    return target


@contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Put ``model`` in eval mode inside the block and restore its previous mode afterwards.

    Explanations need eval mode: dropout would make them random, and batch norm in training
    mode would mix the images of a batch.
    """
    # Each submodule keeps its own flag (a frozen BatchNorm stays in eval mode inside a model
    # in training mode), so remember them all rather than model.training alone.
    modes = {module: module.training for module in model.modules()}
    model.eval()
    try:
        yield model
    finally:
        for module, mode in modes.items():
            module.training = mode


def input_gradient(
    model: nn.Module, x: torch.Tensor, target, layer: str | None = None
) -> torch.Tensor:
    """Gradient of a score with respect to the input images, one image at a time in a batch.

    The score is the class score ``model(x)[i, target[i]]`` when ``layer`` is ``None``;
    otherwise it is the total activation of channel ``target[i]`` of ``layer`` (a way to
    ask "which pixels drive this feature?"). Images do not interact in eval mode, so the
    gradient of the summed scores gives every image its own gradient.

    Args:
        model: a classifier returning ``(N, n_classes)`` scores.
        x: images ``(N, C, H, W)``; not modified.
        target: class (or channel) index, one int or ``N`` of them.
        layer: ``None`` for class scores, or a layer name (see ``hooks.layer_names``).

    Returns:
        ``(N, C, H, W)`` gradient, detached.

    Example:
        >>> grad = input_gradient(load_model("digits"), images, labels)
    """
    # BEGIN EXERCISE 04_saliency
    x = check_images(x).detach().clone().requires_grad_(True)
    with eval_mode(model), torch.enable_grad():
        if layer is None:
            scores = model(x)
        else:
            with record_activations(model, layer, attached=True) as live:
                model(x)
            scores = live[layer].flatten(2).sum(dim=2)  # (N, K): total activation per channel
        if scores.ndim != 2:
            raise ValueError(f"expected scores of shape (N, K), got {tuple(scores.shape)}")
        target = as_targets(target, len(x), scores.shape[1])
        scores.gather(1, target[:, None]).sum().backward()
    gradient = x.grad.detach()
    # END EXERCISE
    return gradient
