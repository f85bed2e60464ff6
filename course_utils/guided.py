"""Guided backprop and deconvnet: the gradient with a different backward rule for ReLU.

All three methods run the same forward pass; they differ only in what a ReLU sends back
when it receives the gradient ``g`` from above (``x`` is the ReLU's input):

============  ==============================  =========================================
rule          backward                        what it keeps
============  ==============================  =========================================
``plain``     ``g * (x > 0)``                 the true gradient
``deconvnet`` ``relu(g)``                     positive signals, wherever they go
``guided``    ``relu(g) * (x > 0)``           positive signals through active units only
============  ==============================  =========================================

:func:`relu_backward_rule` swaps every ``nn.ReLU`` module of a model for one that uses a
chosen rule, and always puts the originals back. ReLUs written as ``F.relu`` inside
``forward`` are not modules and cannot be swapped: give each use its own ``nn.ReLU``.

Example:
    >>> maps = guided_backprop(load_model("shapes"), images, labels)   # (N, 3, 64, 64)
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

from .attribution import Target, input_gradient


def plain_relu_backward(x: torch.Tensor, grad_output: torch.Tensor) -> torch.Tensor:
    """The true ReLU gradient: pass ``grad_output`` where the input was positive."""
    return grad_output * (x > 0)


def deconvnet_relu_backward(x: torch.Tensor, grad_output: torch.Tensor) -> torch.Tensor:
    """Deconvnet (Zeiler & Fergus 2014): keep positive gradients, ignore the input's sign."""
    return grad_output.clamp(min=0)


def guided_relu_backward(x: torch.Tensor, grad_output: torch.Tensor) -> torch.Tensor:
    """Guided backprop (Springenberg et al. 2015): positive gradients through active units."""
    # BEGIN EXERCISE 05_guided_backprop
    return grad_output.clamp(min=0) * (x > 0)
    # END EXERCISE


BACKWARD_RULES = {
    "plain": plain_relu_backward,
    "deconvnet": deconvnet_relu_backward,
    "guided": guided_relu_backward,
}


class _ReLUWithRule(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, rule):
        # BEGIN EXERCISE 05_guided_backprop
        ctx.save_for_backward(x)
        ctx.rule = rule
        return x.clamp(min=0)  # never in place, so ReLU(inplace=True) models work too
        # END EXERCISE

    @staticmethod
    def backward(ctx, grad_output):
        # BEGIN EXERCISE 05_guided_backprop
        (x,) = ctx.saved_tensors
        return BACKWARD_RULES[ctx.rule](x, grad_output), None
        # END EXERCISE


class ReLUWithRule(nn.Module):
    """A ReLU whose backward pass follows one of :data:`BACKWARD_RULES`."""

    def __init__(self, rule: str = "plain"):
        super().__init__()
        if rule not in BACKWARD_RULES:
            raise ValueError(f"unknown rule {rule!r}; choose one of {', '.join(BACKWARD_RULES)}")
        self.rule = rule

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _ReLUWithRule.apply(x, self.rule)

    def extra_repr(self) -> str:
        return f"rule={self.rule!r}"


@contextmanager
def relu_backward_rule(model: nn.Module, rule: str) -> Iterator[nn.Module]:
    """Inside the block, every ``nn.ReLU`` of ``model`` backpropagates with ``rule``.

    Raises:
        ValueError: unknown rule, or a model without ``nn.ReLU`` modules.
    """
    # BEGIN EXERCISE 05_guided_backprop
    if rule not in BACKWARD_RULES:
        raise ValueError(f"unknown rule {rule!r}; choose one of {', '.join(BACKWARD_RULES)}")
    swapped = [
        (parent, child_name, child)
        for parent in model.modules()
        for child_name, child in parent.named_children()
        if isinstance(child, nn.ReLU)
    ]
    if not swapped:
        raise ValueError(
            f"{type(model).__name__} has no nn.ReLU modules to swap; ReLUs written as F.relu "
            "inside forward() cannot be changed from outside."
        )
    try:
        for parent, child_name, _ in swapped:
            # A new module for every place: one shared module would be named only once, so
            # hooks on a layer name ("relu4") would find the wrong place, or none.
            setattr(parent, child_name, ReLUWithRule(rule))
        yield model
    finally:
        for parent, child_name, original in swapped:
            setattr(parent, child_name, original)
    # END EXERCISE


def guided_backprop(
    model: nn.Module, x: torch.Tensor, target: Target = None, *, layer: str | None = None
) -> torch.Tensor:
    """Guided backprop of a class score (or, with ``layer``, of one channel's total activation).

    Args:
        model: a CNN whose ReLUs are ``nn.ReLU`` modules.
        x: images ``(N, C, H, W)``.
        target: class index (or channel index of ``layer``): one int, ``N`` of them, or
            ``None`` for the predicted class.
        layer: ``None`` for class scores, or a layer name.

    Returns:
        ``(N, C, H, W)`` signed map (no absolute value, no channel reduction).
    """
    # BEGIN EXERCISE 05_guided_backprop
    with relu_backward_rule(model, "guided"):
        return input_gradient(model, x, target, layer=layer)
    # END EXERCISE


def deconvnet(
    model: nn.Module, x: torch.Tensor, target: Target = None, *, layer: str | None = None
) -> torch.Tensor:
    """Like :func:`guided_backprop`, with the deconvnet rule. Returns ``(N, C, H, W)``."""
    with relu_backward_rule(model, "deconvnet"):
        return input_gradient(model, x, target, layer=layer)
