"""The core every method of the course shares: checked inputs, targets, state kept as found.

Saliency (:mod:`course_utils.saliency`), guided backprop (:mod:`course_utils.guided`),
Grad-CAM (:mod:`course_utils.gradcam`), the attacks and the dreams all differentiate a
**score** (a class logit, before softmax, or a layer's activation) with respect to
something: the input, or a layer's output. Every one of them is called the same way::

    method(model, x, target, *, layer=..., other options)

and leaves the model exactly as it found it: the train/eval mode of every submodule, the
weights' ``.grad`` (gradients are taken with ``torch.autograd.grad``, never ``backward()``)
and the input ``x``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import torch
from torch import nn

from .hooks import get_layer

#: What to explain or attack, per image: one class index for every image, ``N`` of them
#: (a list or a ``(N,)`` tensor), or ``None`` for the class each image is predicted as.
Target = int | Sequence[int] | torch.Tensor | None


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


def as_targets(target: Target, n: int, n_outputs: int | None = None) -> torch.Tensor:
    """Turn ``target`` (an int, a list or a tensor of ``n`` class indices) into a ``(n,)`` tensor.

    Raises:
        ValueError: ``None`` (use :func:`resolve_targets`, which knows the predictions), wrong
            length, a fractional index, or an index outside ``0 .. n_outputs - 1``.
    """
    if target is None:
        raise ValueError("target=None means the predicted class: use resolve_targets(None, scores)")
    target = torch.as_tensor(target).reshape(-1)
    if target.is_floating_point() and not torch.equal(target, target.round()):
        raise ValueError(f"target must hold whole class indices, got {target.tolist()}")
    target = target.long()
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
    return target.to(device="cpu")


def resolve_targets(target: Target, scores: torch.Tensor) -> torch.Tensor:
    """``(N,)`` indices for ``(N, K)`` scores: ``target`` checked, or the argmax if ``None``."""
    if scores.ndim != 2:
        raise ValueError(
            f"expected scores of shape (N, K) (a classifier's logits), got {tuple(scores.shape)}"
        )
    if target is None:
        return scores.detach().argmax(dim=1)
    return as_targets(target, len(scores), scores.shape[1]).to(scores.device)


def pick(scores: torch.Tensor, target: Target) -> torch.Tensor:
    """The sum over images of each image's score for its target: what gets differentiated."""
    targets = resolve_targets(target, scores)
    return scores.gather(1, targets[:, None]).sum()


@contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Put ``model`` in eval mode inside the block; afterwards every submodule gets back its
    own previous mode, also when an exception is raised.

    Explanations need eval mode: dropout would make them random, and batch norm in training
    mode would mix the images of a batch.
    """
    # Each submodule keeps its own flag (a frozen BatchNorm stays in eval mode inside a model
    # in training mode), so remember them all rather than model.training alone.
    # Only flags that differ are touched: model.eval() and nn.Module.__setattr__ cost a few
    # microseconds per module, which adds up over an attack's steps on a model of 200 modules,
    # and a model already in eval mode throughout (the usual case) needs neither.
    modules = list(model.modules())
    modes = [module.training for module in modules]
    if any(modes):
        model.eval()
    try:
        yield model
    finally:
        for module, mode in zip(modules, modes):
            if module.training != mode:
                module.training = mode


def run_recording(
    model: nn.Module, x: torch.Tensor, layers: str | Sequence[str]
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """``model(x)`` and the outputs of ``layers`` in that pass, attached to autograd.

    The recorded tensors can be differentiated (``torch.autograd.grad(score, recorded)``)
    even when neither ``x`` nor the weights require gradients.

    Raises:
        UnknownLayerError: a name that is not a layer (the valid names are listed).
        ValueError: a layer that did not run, or that ran more than once in the pass (a
            module reused inside ``forward``, like the ReLU of torchvision's ResNet blocks):
            its output would be ambiguous.
    """
    names = [layers] if isinstance(layers, str) else list(layers)
    modules = {name: get_layer(model, name) for name in names}
    recorded: dict[str, torch.Tensor] = {}
    calls = dict.fromkeys(names, 0)

    def make_hook(name):
        def hook(module, inputs, output):
            if not isinstance(output, torch.Tensor):
                raise TypeError(
                    f"layer {name!r} returns a {type(output).__name__}; pick a layer whose "
                    "output is one tensor"
                )
            calls[name] += 1
            if not output.requires_grad:  # frozen weights and a plain input
                output = output.detach().requires_grad_(True)
            recorded[name] = output
            # The rest of the network gets a copy: an in-place op after the layer (a
            # ReLU(inplace=True)) would otherwise rewrite the recorded tensor.
            return output.clone()

        return hook

    handles = [module.register_forward_hook(make_hook(name)) for name, module in modules.items()]
    try:
        output = model(x)
    finally:
        for handle in handles:
            handle.remove()
    for name, count in calls.items():
        if count != 1:
            parent = name.rpartition(".")[0]
            hint = f" such as {parent!r}, the block around it" if parent else ""
            raise ValueError(
                f"layer {name!r} ran {count} times in one forward pass, so it has no single "
                f"output to use; choose a layer that runs exactly once{hint}"
                + (" (a module reused inside forward(), like the ReLU of a ResNet block)"
                   if count > 1 else "")
            )  # fmt: skip
    return output, recorded


def input_gradient(
    model: nn.Module, x: torch.Tensor, target: Target = None, *, layer: str | None = None
) -> torch.Tensor:
    """Gradient of a score with respect to the input images, one image at a time in a batch.

    The score is the class score ``model(x)[i, target[i]]`` when ``layer`` is ``None``;
    otherwise it is the total activation of channel ``target[i]`` of ``layer`` (a way to
    ask "which pixels drive this feature?"). Images do not interact in eval mode, so the
    gradient of the summed scores gives every image its own gradient.

    Args:
        model: a classifier returning ``(N, n_classes)`` scores.
        x: images ``(N, C, H, W)``; not modified.
        target: class (or channel) index, one int or ``N`` of them; ``None``: the predicted
            class (or the most active channel).
        layer: ``None`` for class scores, or a layer name (see ``hooks.layer_names``).

    Returns:
        ``(N, C, H, W)`` gradient, detached.

    Example:
        >>> grad = input_gradient(load_model("digits"), images, labels)
    """
    # BEGIN EXERCISE 04_saliency
    x = check_images(x).detach().requires_grad_(True)
    with eval_mode(model), torch.enable_grad():
        if layer is None:
            scores = model(x)
        else:
            _, recorded = run_recording(model, x, layer)
            activations = recorded[layer]
            # (N, K): the total activation of each channel
            scores = activations.flatten(2).sum(dim=2) if activations.ndim > 2 else activations
        # Only the input's gradient: the weights' .grad stay as the caller left them.
        (gradient,) = torch.autograd.grad(pick(scores, target), x)
    # END EXERCISE
    return gradient


def normalized_step(x: torch.Tensor, gradient: torch.Tensor, lr: float) -> torch.Tensor:
    """``x + lr * g / ||g||`` per image: a step of L2 length ``lr`` whatever the slope."""
    norms = gradient.flatten(1).norm(dim=1).clamp_min(1e-12)
    return x + lr * gradient / norms.view(-1, *[1] * (x.ndim - 1))
