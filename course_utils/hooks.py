"""Record what a layer computes (activations) and what flows back into it (gradients).

Layers are named as in ``model.named_modules()``: ``"conv1"``, ``"layer4.1.conv2"``, ...
Every context manager removes its hooks when the ``with`` block ends, even after an error,
so a model is never left with forgotten hooks. A module called several times in one forward
pass (one ReLU reused everywhere) keeps only one record: give each use its own module.

Example:
    >>> with record_activations(model, ["conv1", "conv2"]) as acts:
    ...     logits = model(images)
    >>> acts["conv1"].shape                      # (N, K, H, W)
    >>> with record_gradients(model, "conv2") as grads:
    ...     model(images)[:, 3].sum().backward()
    >>> grads["conv2"].shape                     # same shape as the conv2 output
    >>> with hook_recorder(model, "conv2") as (acts, grads):    # both at once
    ...     model(images)[:, 3].sum().backward()
"""

import difflib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NamedTuple

import torch
from torch import nn
from tqdm.auto import tqdm


class UnknownLayerError(ValueError):
    """A layer name that the model does not have."""


def _check_model(model) -> None:
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}.")


def layer_names(model: nn.Module) -> list[str]:
    """All layer names of ``model`` (the model itself, named ``""``, is left out).

    Example:
        >>> layer_names(nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU()))
        ['0', '1']
    """
    _check_model(model)
    return [name for name, _ in model.named_modules() if name]


def get_layer(model: nn.Module, name: str) -> nn.Module:
    """Return the submodule called ``name``.

    Raises:
        UnknownLayerError: ``model`` has no such layer; the message lists the valid names.
    """
    _check_model(model)
    if not isinstance(name, str):
        raise TypeError(f"A layer name must be a str, got {type(name).__name__}.")
    modules = dict(model.named_modules())
    if name and name in modules:
        return modules[name]
    names = layer_names(model)
    close = difflib.get_close_matches(name, names, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise UnknownLayerError(
        f"{type(model).__name__} has no layer {name!r}{hint}. Valid layer names: {', '.join(names)}"
    )


def _resolve(model: nn.Module, layers: str | list[str]) -> dict[str, nn.Module]:
    """Turn ``layers`` into {name: module}, checking everything before any hook exists."""
    _check_model(model)
    if isinstance(layers, str):
        layers = [layers]
    if not isinstance(layers, list | tuple) or not all(isinstance(n, str) for n in layers):
        raise TypeError(f"layers must be a str or a list of str, got {layers!r}.")
    if not layers:
        raise ValueError("layers is empty; give at least one layer name.")
    return {name: get_layer(model, name) for name in layers}


def _as_tensor(name: str, output) -> torch.Tensor:
    if not isinstance(output, torch.Tensor):
        raise TypeError(
            f"Layer {name!r} returned a {type(output).__name__}; only layers that return "
            "a single tensor can be recorded."
        )
    return output


@contextmanager
def record_activations(
    model: nn.Module, layers: str | list[str], attached: bool = False
) -> Iterator[dict]:
    """Record the outputs of some layers during the forward passes run inside the block.

    Args:
        model: Any ``nn.Module``.
        layers: One layer name or a list of names (see :func:`layer_names`).
        attached: keep the outputs themselves, still part of the autograd graph, so that
            something computed from them can be backpropagated (saliency of a channel).

    Yields:
        A dict ``name -> tensor`` filled by each forward pass (the latest pass wins).
        Tensors are detached copies, e.g. (N, K, H, W) for a convolution, unless ``attached``.

    Example:
        >>> with record_activations(model, "conv1") as acts:
        ...     model(images)
        >>> acts["conv1"].shape
    """
    modules = _resolve(model, layers)
    store: dict[str, torch.Tensor] = {}

    def make_hook(name):
        def hook(module, inputs, output):
            # An in-place ReLU right after the layer would overwrite a stored tensor that
            # shares memory with the output: keep a copy, or (attached) give the rest of
            # the network the copy and keep the original.
            output = _as_tensor(name, output)
            if not attached:
                store[name] = output.detach().clone()
                return None
            store[name] = output
            return output.clone()

        return hook

    handles = []
    try:
        for name, module in modules.items():
            handles.append(module.register_forward_hook(make_hook(name)))
        yield store
    finally:
        for handle in handles:
            handle.remove()


@contextmanager
def record_gradients(model: nn.Module, layers: str | list[str]) -> Iterator[dict]:
    """Record the gradient of what is backpropagated with respect to some layer outputs.

    Run both the forward pass and ``backward()`` inside the block. The gradient is taken
    with respect to the layer's *output*, so it has the output's shape.

    Args:
        model: Any ``nn.Module``.
        layers: One layer name or a list of names (see :func:`layer_names`).

    Yields:
        A dict ``name -> gradient tensor`` (detached), filled during ``backward()``.

    Raises:
        RuntimeError: the forward pass ran without gradients (e.g. under ``torch.no_grad()``).

    Example:
        >>> with record_gradients(model, "conv2") as grads:
        ...     model(images)[:, 3].sum().backward()      # score of class 3
        >>> grads["conv2"].shape
    """
    modules = _resolve(model, layers)
    store: dict[str, torch.Tensor] = {}
    handles = []

    def make_hook(name):
        def save_grad(grad):
            store[name] = grad.detach().clone()

        def hook(module, inputs, output):
            output = _as_tensor(name, output)
            if not output.requires_grad:
                raise RuntimeError(
                    f"The output of layer {name!r} does not require grad, so no gradient can "
                    "be recorded. Run the forward pass with gradients enabled (not inside "
                    "torch.no_grad()) and with an input or parameters that require grad."
                )
            # A tensor hook sees exactly d(target)/d(output); module backward hooks
            # are either deprecated or break with in-place operations like ReLU(inplace=True).
            handles.append(output.register_hook(save_grad))

        return hook

    try:
        for name, module in modules.items():
            handles.append(module.register_forward_hook(make_hook(name)))
        yield store
    finally:
        for handle in handles:
            handle.remove()


class Recording(NamedTuple):
    """What :func:`hook_recorder` yields: two dicts ``layer name -> tensor``."""

    activations: dict[str, torch.Tensor]
    gradients: dict[str, torch.Tensor]


@contextmanager
def hook_recorder(model: nn.Module, layers: str | list[str]) -> Iterator[Recording]:
    """Record the outputs of some layers in the forward pass, and their gradients in the backward.

    Both halves in one block: forward passes fill ``activations``, ``backward()`` (or
    ``torch.autograd.grad``) fills ``gradients``. Every hook, those on the modules and
    those on their output tensors, is removed when the block ends, also after an error.

    Args:
        model: Any ``nn.Module``.
        layers: One layer name or a list of names (see :func:`layer_names`).

    Yields:
        ``Recording(activations, gradients)``, a pair that unpacks like a tuple:
        ``activations[name]`` is a detached copy of the layer's output, e.g. (N, K, H, W);
        ``gradients[name]`` the gradient of what is backpropagated with respect to that
        output, same shape. The latest pass wins. A forward pass run without gradients
        (under ``torch.no_grad()``) records its activations and no gradient, without error.

    Raises:
        UnknownLayerError: a layer name the model does not have (before any hook exists).

    Example:
        >>> with hook_recorder(model, ["conv1", "relu2"]) as (acts, grads):
        ...     model(images)[:, 3].sum().backward()
        >>> acts["relu2"].shape == grads["relu2"].shape
        True
    """
    # BEGIN EXERCISE 02_activations
    modules = _resolve(model, layers)
    recording = Recording({}, {})
    handles = []

    def make_hook(name):
        def save_gradient(grad):
            recording.gradients[name] = grad.detach().clone()

        def save_output(module, inputs, output):
            output = _as_tensor(name, output)
            # A copy: an in-place ReLU after the layer would overwrite the output itself.
            recording.activations[name] = output.detach().clone()
            if output.requires_grad:  # else no backward pass can reach it (torch.no_grad())
                # A tensor hook sees d(target)/d(output), also when an in-place op follows.
                handles.append(output.register_hook(save_gradient))

        return save_output

    try:
        for name, module in modules.items():
            handles.append(module.register_forward_hook(make_hook(name)))
        yield recording
    finally:
        for handle in handles:
            handle.remove()
    # END EXERCISE


@torch.no_grad()
def collect_activations(
    model: nn.Module, layer: str, images: torch.Tensor, batch_size: int = 256
) -> torch.Tensor:
    """Run ``images`` through ``model`` in batches and return one layer's activations.

    The model runs in eval mode without gradients; its previous train/eval modes are
    restored afterwards. Batches are moved to the model's device, results to the CPU.

    Args:
        model: Any ``nn.Module``.
        layer: One layer name.
        images: (N, C, H, W) tensor (any shape the model accepts, batch first).
        batch_size: Number of images per forward pass.

    Returns:
        Tensor (N, ...) with the layer's output for every image, e.g. (N, K, h, w).

    Example:
        >>> feats = collect_activations(model, "conv2", test_images)
    """
    if not isinstance(layer, str):
        raise TypeError(f"layer must be a single layer name (str), got {type(layer).__name__}.")
    get_layer(model, layer)  # check the name before doing any work
    if not isinstance(images, torch.Tensor):
        raise TypeError(f"images must be a torch.Tensor, got {type(images).__name__}.")
    if images.ndim == 0 or len(images) == 0:
        raise ValueError(f"images must be a non-empty batch, got shape {tuple(images.shape)}.")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}.")

    param = next(model.parameters(), None)
    device = param.device if param is not None else images.device
    starts = range(0, len(images), batch_size)
    # Each submodule keeps its own flag, so remember them all rather than model.training.
    modes = {module: module.training for module in model.modules()}
    model.eval()
    chunks = []
    try:
        with record_activations(model, layer) as acts:
            for start in tqdm(starts, desc=f"activations of {layer}", disable=len(starts) <= 20):
                model(images[start : start + batch_size].to(device))
                if layer not in acts:
                    raise RuntimeError(f"Layer {layer!r} was not used by the forward pass.")
                chunks.append(acts.pop(layer).cpu())
    finally:
        for module, mode in modes.items():
            module.training = mode
    return torch.cat(chunks)
