"""Receptive fields: which input pixels a unit of a convolutional layer can see.

A unit (one position ``(i, j)`` of one channel of a layer's output) depends on a square
window of the input. For a chain of convolution and pooling layers that window is described
by three numbers, collected in :class:`ReceptiveField`:

* ``size``: the side of the window, in input pixels;
* ``stride``: how far the window moves when ``i`` or ``j`` grows by one (the product of the
  strides of all layers);
* ``start``: the input row (and column) where the window of unit ``(0, 0)`` begins. It is
  negative when padding lets the window hang over the image border.

So unit ``(i, j)`` sees rows ``start + i * stride`` up to ``start + i * stride + size - 1``,
and the same for columns with ``j``. This is the *theoretical* receptive field: in a trained
network the pixels near its centre usually matter much more than those near its edge.

Example:
    >>> layers = layers_up_to(model, "conv2")    # the modules that run up to conv2
    >>> receptive_field(layers)
    ReceptiveField(size=14, stride=2, start=-6)
    >>> patches, scores, indices = top_activating_patches(model, images, 5, layer="conv2", k=8)
"""

from __future__ import annotations

import numbers
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from .hooks import collect_activations, get_layer

# Layers that compute each output position from the same input position only: they leave
# the receptive field as it is.
PIXELWISE_LAYERS = (
    nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.ELU, nn.SELU, nn.CELU, nn.GELU, nn.SiLU,
    nn.Mish, nn.Sigmoid, nn.Tanh, nn.Hardtanh, nn.Hardswish, nn.Hardsigmoid, nn.Softplus,
    nn.Identity, nn.Dropout, nn.Dropout2d, nn.BatchNorm2d, nn.LocalResponseNorm,
)  # fmt: skip
GEOMETRY_LAYERS = (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)


class ReceptiveField(NamedTuple):
    """Receptive field of the units of one layer (see the module docstring).

    Attributes:
        size: Side of the square input window one unit sees, in pixels.
        stride: Distance in input pixels between the windows of neighbouring units.
        start: Input row (and column) of the first pixel of the window of unit ``(0, 0)``;
            negative when the window starts in the padding.
    """

    size: int
    stride: int
    start: int


class Window(NamedTuple):
    """The input pixels one unit sees: rows ``top`` to ``top + size - 1``, columns
    ``left`` to ``left + size - 1``. ``top`` and ``left`` may be negative and the window may
    end past the image: those pixels are padding."""

    top: int
    left: int
    size: int

    @property
    def center(self) -> tuple[float, float]:
        """(row, column) of the window's centre (a half pixel when ``size`` is even)."""
        half = (self.size - 1) / 2
        return (self.top + half, self.left + half)


def _square(value, what: str, layer: nn.Module) -> int:
    """``3`` or ``(3, 3)`` -> 3; a rectangular setting is refused."""
    if isinstance(value, tuple | list):
        if len(set(value)) != 1:
            raise ValueError(
                f"{layer} has {what}={tuple(value)}; receptive_field only handles square "
                "settings (the same value for height and width)."
            )
        value = value[0]
    return int(value)


def _geometry(layer: nn.Module) -> tuple[int, int, int]:
    """(effective kernel size, stride, padding before the first pixel) of a geometry layer."""
    kernel = _square(layer.kernel_size, "kernel_size", layer)
    stride = _square(layer.stride, "stride", layer)
    dilation = _square(getattr(layer, "dilation", 1), "dilation", layer)
    kernel = dilation * (kernel - 1) + 1  # a dilated kernel spans this many pixels
    if layer.padding == "valid":
        padding = 0
    elif layer.padding == "same":  # PyTorch puts the odd pixel of padding at the end
        padding = (kernel - 1) // 2
    else:
        padding = _square(layer.padding, "padding", layer)
    return kernel, stride, padding


def _flatten(layers) -> list[nn.Module]:
    """A list of modules, with nn.Sequential containers opened up (in order)."""
    if isinstance(layers, nn.Sequential):
        layers = list(layers)
    elif isinstance(layers, nn.Module):
        raise TypeError(
            f"receptive_field needs a list of layers, got one {type(layers).__name__}. "
            "Write [layer] for a single layer, or layers_up_to(model, name) for a model."
        )
    try:
        layers = list(layers)
    except TypeError:
        raise TypeError(
            f"layers must be a list of torch.nn modules, got {type(layers).__name__}."
        ) from None
    flat = []
    for layer in layers:
        if isinstance(layer, nn.Sequential):
            flat.extend(_flatten(layer))
        elif isinstance(layer, nn.Module):
            flat.append(layer)
        else:
            raise TypeError(
                f"layers must hold torch.nn modules, but one item is a {type(layer).__name__}."
            )
    return flat


def receptive_field(layers) -> ReceptiveField:
    """Receptive field of the units after a chain of layers that run one after another.

    Walking through the layers, with ``jump`` the product of the strides so far: a layer
    with (dilated) kernel ``k``, stride ``s`` and padding ``p`` adds ``(k - 1) * jump`` to
    the size, moves the start by ``-p * jump``, then multiplies ``jump`` by ``s``.

    Args:
        layers: List (or ``nn.Sequential``) of ``nn.Conv2d``, ``nn.MaxPool2d``,
            ``nn.AvgPool2d`` and layers that work pixel by pixel (``nn.ReLU``,
            ``nn.BatchNorm2d``, ``nn.Dropout``, ... see ``PIXELWISE_LAYERS``), in the order
            they run. An empty list is the input itself: ``ReceptiveField(1, 1, 0)``.

    Returns:
        :class:`ReceptiveField` ``(size, stride, start)``, three ints. It unpacks like a
        tuple: ``size, stride, start = receptive_field(layers)``.

    Raises:
        TypeError: a layer that mixes positions in another way (``nn.AdaptiveAvgPool2d``,
            ``nn.Flatten``, ``nn.Linear``, ...) or that this function does not know.
        ValueError: a rectangular kernel, stride, padding or dilation.

    Example:
        >>> receptive_field([nn.Conv2d(1, 8, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(8, 8, 3)])
        ReceptiveField(size=8, stride=2, start=0)
    """
    # BEGIN EXERCISE 02_activations
    size, jump, start = 1, 1, 0
    for layer in _flatten(layers):
        if isinstance(layer, PIXELWISE_LAYERS):
            continue
        if not isinstance(layer, GEOMETRY_LAYERS):
            raise TypeError(
                f"receptive_field does not know {type(layer).__name__} layers. It handles "
                "Conv2d, MaxPool2d, AvgPool2d and pixel-by-pixel layers such as ReLU. Layers "
                "like AdaptiveAvgPool2d, Flatten or Linear mix all positions, so a unit after "
                "them sees the whole image: stop the list before them. If your layer works "
                "pixel by pixel, leave it out of the list."
            )
        kernel, stride, padding = _geometry(layer)
        size += (kernel - 1) * jump
        start -= padding * jump
        jump *= stride
    field = ReceptiveField(size, jump, start)
    # END EXERCISE
    return field


def layers_up_to(model: nn.Module, layer: str) -> list[nn.Module]:
    """The layers of ``model`` that run before ``layer``, and ``layer`` itself, in order.

    The order is the order in which the layers were defined (``model.named_modules()``),
    which is the order ``forward`` runs them in for the course models and for
    ``nn.Sequential`` models such as torchvision's VGG ``features``. It is *not* right for
    networks with branches or skip connections (ResNet), whose receptive field is not a
    single chain. Containers are opened up: the result holds only leaf modules.

    Args:
        model: A network whose ``forward`` runs its layers one after another.
        layer: A layer name, e.g. ``"conv2"`` (see :func:`course_utils.hooks.layer_names`).

    Returns:
        List of modules, ready for :func:`receptive_field`.

    Raises:
        course_utils.hooks.UnknownLayerError: ``model`` has no layer of that name.

    Example:
        >>> [type(m).__name__ for m in layers_up_to(load_model("digits"), "pool1")]
        ['Conv2d', 'ReLU', 'MaxPool2d']
    """
    target = get_layer(model, layer)  # checks the name, with a helpful message
    target_leaves = [m for m in target.modules() if not list(m.children())]
    chain = []
    for module in model.modules():
        if module is model or list(module.children()):
            continue  # containers are represented by their leaves
        chain.append(module)
        if module is target_leaves[-1]:
            return chain
    raise AssertionError("unreachable: get_layer found the layer in model.modules()")


def _as_field(field) -> ReceptiveField:
    if isinstance(field, ReceptiveField):
        return field
    if (
        isinstance(field, tuple | list)
        and len(field) == 3
        and all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in field)
    ):  # (size, stride, start), e.g. from your own receptive_field
        return ReceptiveField(*(int(v) for v in field))
    return receptive_field(field)


def unit_window(field, i: int, j: int) -> Window:
    """The input window that unit ``(i, j)`` of a layer sees.

    Args:
        field: The layer's :class:`ReceptiveField` (or a list of layers to compute it from).
        i: Row of the unit in the layer's output (0 is the top row).
        j: Column of the unit in the layer's output.

    Returns:
        :class:`Window` ``(top, left, size)`` in input pixels. It can stick out of the image
        (negative ``top``, say): crop from a padded image, as :func:`top_activating_patches`
        does.

    Example:
        >>> unit_window(ReceptiveField(size=14, stride=2, start=-6), 3, 0)
        Window(top=0, left=-6, size=14)
    """
    size, stride, start = _as_field(field)
    for name, value in (("i", i), ("j", j)):
        if isinstance(value, torch.Tensor) and value.numel() == 1:
            value = int(value)
        if not isinstance(value, int) or value < 0:
            raise ValueError(f"{name} must be a unit position, an int >= 0; got {value!r}.")
    return Window(start + int(i) * stride, start + int(j) * stride, size)


def _crop(image: torch.Tensor, window: Window) -> torch.Tensor:
    """Pixels of ``window`` in ``image`` (C, H, W), zeros where the window leaves the image."""
    top, left, size = window
    pad = max(0, -top, -left, top + size - image.shape[-2], left + size - image.shape[-1])
    padded = F.pad(image, (pad, pad, pad, pad))  # zeros, like the convolutions' padding
    return padded[:, top + pad : top + pad + size, left + pad : left + pad + size]


def top_activating_patches(
    model: nn.Module,
    images: torch.Tensor,
    channel: int,
    *,
    layer: str,
    k: int = 8,
    batch_size: int = 256,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The ``k`` image patches that excite one channel of a layer most.

    Each image gets the score ``max`` over positions of the channel's activation map; the
    ``k`` best images are kept (one patch per image), and from each one the receptive field
    window of its strongest unit is cut out (zeros where it leaves the image).

    Args:
        model: A network whose layers run one after another (see :func:`layers_up_to`).
        images: ``(N, C, H, W)`` batch the model accepts, with ``N >= k``.
        channel: Channel of ``layer``, ``0 <= channel < K``.
        layer: Name of a convolution, pooling or pixel-by-pixel layer, e.g. ``"relu3"``.
        k: Number of patches.
        batch_size: Images per forward pass.

    Returns:
        ``(patches, scores, indices)``: patches ``(k, C, size, size)`` with ``size`` the
        receptive field size, scores ``(k,)`` the maximal activations in decreasing order,
        indices ``(k,)`` (int64) the positions of those images in ``images``.

    Example:
        >>> patches, scores, indices = top_activating_patches(model, images, 7, layer="relu2", k=8)
        >>> show_images(patches, titles=[f"{s:.1f}" for s in scores.tolist()])
    """
    # BEGIN EXERCISE 02_activations
    if not isinstance(images, torch.Tensor) or images.ndim != 4:
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise ValueError(f"images must be a (N, C, H, W) tensor, got {shape}.")
    if not isinstance(k, int) or not 1 <= k <= len(images):
        raise ValueError(f"k must be an int between 1 and the {len(images)} images; got {k!r}.")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}.")
    field = receptive_field(layers_up_to(model, layer))
    best, position = [], []
    # One batch at a time, keeping only each image's strongest unit: the full maps of an
    # early layer for thousands of images would take hundreds of megabytes.
    for start in range(0, len(images), batch_size):
        acts = collect_activations(model, layer, images[start : start + batch_size], batch_size)
        if acts.ndim != 4:
            raise ValueError(
                f"layer {layer!r} gives outputs of shape {tuple(acts.shape[1:])} per image; "
                "top_activating_patches needs a layer with (K, h, w) feature maps."
            )
        if not isinstance(channel, int) or not 0 <= channel < acts.shape[1]:
            raise ValueError(
                f"channel must be an int from 0 to {acts.shape[1] - 1} ({layer!r} has "
                f"{acts.shape[1]} channels); got {channel!r}."
            )
        values, flat_positions = acts[:, channel].flatten(1).max(dim=1)
        best.append(values)
        position.append(flat_positions)
    width = acts.shape[-1]
    scores, indices = torch.cat(best).topk(k)
    position = torch.cat(position)
    patches = []
    for index in indices.tolist():
        i, j = divmod(int(position[index]), width)  # flat position -> (row, column)
        patches.append(_crop(images[index], unit_window(field, i, j)))
    # END EXERCISE
    return torch.stack(patches), scores, indices
