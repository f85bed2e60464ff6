"""Neural style transfer (Gatys et al. 2016), feature inversion and texture synthesis.

All three optimize the pixels of an image so that a fixed network's features match targets:

* **content** (:func:`content_loss`): the features of one layer, position by position;
* **style** (:func:`style_loss`): the Gram matrices of several layers, which keep which
  features occur together but forget where;
* **smoothness** (:func:`tv_loss`): neighbouring pixels should be alike.

Gram normalization (courses differ here): :func:`gram_matrix` divides ``F F^T`` by the
number of positions ``H * W``, an average over positions. Then a Gram matrix does not
depend on the image size, so the style weights mean the same at 128 and 512 pixels. Gatys
et al. leave ``F F^T`` unnormalized and divide the loss by ``4 C^2 (HW)^2``; the PyTorch
tutorial divides by ``C H W``; CS231n by ``C H W`` too. All differ only by one constant
per layer, which the layer weights absorb, so the same weights give different results
under different conventions.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import torch
from torch import nn
from tqdm.auto import tqdm

from .attribution import check_images, run_recording


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """Channel-by-channel correlations of a feature map, averaged over positions.

    Args:
        features: ``(N, C, H, W)``.

    Returns:
        ``(N, C, C)``: ``G[n, i, j] = sum_p F[n, i, p] * F[n, j, p] / (H * W)``.

    Example:
        >>> gram_matrix(torch.ones(1, 2, 3, 3))
        tensor([[[1., 1.],
                 [1., 1.]]])
    """
    # BEGIN EXERCISE 10_style_transfer
    features = check_images(features, "features")
    n, c, h, w = features.shape
    flat = features.reshape(n, c, h * w)
    return flat @ flat.transpose(1, 2) / (h * w)
    # END EXERCISE


def content_loss(features: torch.Tensor, target: torch.Tensor, weight: float = 1.0):
    """``weight * sum((features - target)^2)``: the sum of squared differences on one layer."""
    # BEGIN EXERCISE 10_style_transfer
    if features.shape != target.shape:
        raise ValueError(
            f"content features {tuple(features.shape)} and target {tuple(target.shape)} differ: "
            "use the same layer and image size for both"
        )
    return weight * ((features - target) ** 2).sum()
    # END EXERCISE


def style_loss(
    features: Sequence[torch.Tensor], target_grams: Sequence[torch.Tensor], weights: Sequence[float]
) -> torch.Tensor:
    """``sum_l weights[l] * sum((gram_matrix(features[l]) - target_grams[l])^2)``.

    Args:
        features: one ``(N, C_l, H_l, W_l)`` feature map per style layer.
        target_grams: the style image's ``(1 or N, C_l, C_l)`` Gram matrices, same order.
        weights: one weight per layer.
    """
    # BEGIN EXERCISE 10_style_transfer
    if not len(features) == len(target_grams) == len(weights):
        raise ValueError(
            f"need one target Gram matrix and one weight per style layer: got {len(features)} "
            f"layers, {len(target_grams)} targets, {len(weights)} weights"
        )
    total = 0.0
    for layer_features, target, weight in zip(features, target_grams, weights):
        total = total + weight * ((gram_matrix(layer_features) - target) ** 2).sum()
    return total
    # END EXERCISE


def tv_loss(images: torch.Tensor, weight: float = 1.0) -> torch.Tensor:
    """Total variation: ``weight *`` the sum of squared differences of neighbouring pixels,
    horizontally and vertically, over all images and channels."""
    # BEGIN EXERCISE 10_style_transfer
    images = check_images(images, "images")
    down = ((images[..., 1:, :] - images[..., :-1, :]) ** 2).sum()
    right = ((images[..., :, 1:] - images[..., :, :-1]) ** 2).sum()
    return weight * (down + right)
    # END EXERCISE


def make_closure(
    optimizer: torch.optim.Optimizer,
    x: torch.Tensor,
    extractor: nn.Module,
    content_layer: str,
    content_target: torch.Tensor,
    style_layers: Sequence[str],
    style_targets: Sequence[torch.Tensor],
    content_weight: float,
    style_weights: Sequence[float],
    tv_weight: float,
) -> Callable[[], torch.Tensor]:
    """The function ``optimizer.step`` calls in style transfer (lesson 10, exercise 5).

    Each call zeroes the gradients, runs ``extractor`` on ``x`` once, computes
    ``content_loss + style_loss + tv_loss`` of ``x``, backpropagates it and returns it.

    Args:
        optimizer: an optimizer over ``[x]``; x: the ``(1, 3, H, W)`` image, requires grad.
        content_layer, content_target: the content layer and the photo's features there.
        style_layers, style_targets: the style layers and the painting's Gram matrices.
        content_weight, style_weights (one per style layer), tv_weight: the loss weights.
    """
    # BEGIN EXERCISE 10_style_transfer
    layers = [content_layer, *style_layers]

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        features = extract(extractor, x, layers)
        loss = (
            content_loss(features[0], content_target, content_weight)
            + style_loss(features[1:], style_targets, style_weights)
            + tv_loss(x, tv_weight)
        )
        loss.backward()
        return loss

    return closure
    # END EXERCISE


def random_vgg(widths: Sequence[int] = (32, 64, 128, 256), seed: int = 0) -> nn.Sequential:
    """A small, *untrained* VGG-style feature extractor: the offline default of lesson 10.

    Blocks ``conv{i}_1 relu{i}_1 conv{i}_2 relu{i}_2 pool{i}`` with 3x3 convolutions and
    average pooling (max pooling's winner-takes-all makes textures blotchy). Random filters
    still measure local colour and edge statistics at several scales, which is what Gram
    matrices need (Ustyuzhaninov et al. 2017; He et al. 2016). Each convolution is scaled so
    its outputs keep roughly the variance of its inputs, so every layer contributes.

    Returns:
        ``nn.Sequential`` in eval mode with named layers (``relu1_1`` ... ``pool4``),
        parameters frozen.
    """
    generator = torch.Generator().manual_seed(seed)
    layers: dict[str, nn.Module] = {}
    channels = 3
    for block, width in enumerate(widths, start=1):
        for index in (1, 2):
            conv = nn.Conv2d(channels, width, 3, padding=1, padding_mode="reflect")
            with torch.no_grad():
                fan_in = channels * 9
                conv.weight.copy_(torch.randn(conv.weight.shape, generator=generator))
                conv.weight.mul_((2.0 / fan_in) ** 0.5)
                conv.bias.zero_()
            layers[f"conv{block}_{index}"] = conv
            layers[f"relu{block}_{index}"] = nn.ReLU()
            channels = width
        layers[f"pool{block}"] = nn.AvgPool2d(2)
    network = nn.Sequential()
    for name, layer in layers.items():
        network.add_module(name, layer)
    return network.eval().requires_grad_(False)


def extract(
    extractor: nn.Module, images: torch.Tensor, layers: Sequence[str]
) -> list[torch.Tensor]:
    """The outputs of ``layers`` (in that order) for ``images``, still attached to autograd.

    Each output is the layer's own, also when an in-place op (``ReLU(inplace=True)``)
    follows it in the network.
    """
    _, outputs = run_recording(extractor, check_images(images, "images"), list(layers))
    if not torch.is_grad_enabled():  # targets computed under no_grad stay constants
        return [outputs[name].detach() for name in layers]
    return [outputs[name] for name in layers]


def style_transfer(
    extractor: nn.Module,
    content: torch.Tensor | None,
    style: torch.Tensor | None,
    content_layer: str | None = None,
    style_layers: Sequence[str] = (),
    content_weight: float = 1.0,
    style_weights: Sequence[float] | float = 1.0,
    tv_weight: float = 0.0,
    steps: int = 100,
    optimizer: str = "lbfgs",
    lr: float | None = None,
    init: torch.Tensor | str = "content",
    seed: int = 0,
    progress: bool = True,
    functions: Mapping[str, Callable] | None = None,
) -> tuple[torch.Tensor, list[float]]:
    """Optimize an image so its features match ``content`` and its Gram matrices ``style``.

    With ``style=None`` this is feature inversion; with ``content=None``, texture synthesis.

    Args:
        extractor: the fixed network (frozen, eval mode), e.g. :func:`random_vgg`.
        content, style: images ``(3, H, W)`` or ``(1, 3, H, W)`` in [0, 1], or ``None``.
        content_layer: the layer whose features are matched; style_layers: the Gram layers.
        content_weight, style_weights (one per layer, or one for all), tv_weight: loss weights
            (with ``tv_weight=0`` the TV loss is left out).
        steps: optimizer iterations (L-BFGS: each may evaluate the loss several times).
        optimizer: ``"lbfgs"`` or ``"adam"``; lr: its learning rate (defaults 1 and 0.02).
        init: ``"content"``, ``"noise"`` (seeded uniform), or an image tensor.
        functions: your own versions of this module's ``content_loss``, ``gram_matrix``,
            ``style_loss``, ``tv_loss`` or ``make_closure``, by name, used instead of the
            course's (lesson 10 passes the ones you wrote). ``make_closure`` is used when
            there are both a content and a style image.

    Returns:
        ``(image, losses)``: the ``(1, 3, H, W)`` result in [0, 1] and the total loss at
        each step (measured before that step's update).

    Example:
        >>> image, losses = style_transfer(random_vgg(), cat, painting, "relu3_1",
        ...                                ["relu1_1", "relu2_1", "relu3_1"], style_weights=1e3)
    """
    use = {
        "content_loss": content_loss,
        "gram_matrix": gram_matrix,
        "style_loss": style_loss,
        "tv_loss": tv_loss,
        "make_closure": make_closure,
    }
    unknown = sorted(set(functions or {}) - set(use))
    if unknown:
        raise ValueError(f"functions: unknown names {unknown}; expected some of {sorted(use)}")
    use.update(functions or {})
    images = [x if x is None or x.ndim == 4 else x[None] for x in (content, style)]
    content, style = images
    if content is None and style is None:
        raise ValueError("give a content image, a style image, or both")
    if content is not None and content_layer is None:
        raise ValueError("a content image needs a content_layer")
    if isinstance(style_weights, int | float):
        style_weights = [float(style_weights)] * len(style_layers)
    with torch.no_grad():
        content_target = (
            None if content is None else extract(extractor, content, [content_layer])[0]
        )
        style_targets = (
            []
            if style is None
            else [use["gram_matrix"](f) for f in extract(extractor, style, style_layers)]
        )
    x = _initial_image(init, content if content is not None else style, seed).requires_grad_(True)
    opt = _make_optimizer(x, optimizer, lr)
    if content is not None and style is not None:
        closure = use["make_closure"](
            opt, x, extractor, content_layer, content_target, style_layers, style_targets,
            content_weight, style_weights, tv_weight,
        )  # fmt: skip
    else:  # feature inversion or texture synthesis: one loss (and TV if asked)

        def closure() -> torch.Tensor:
            opt.zero_grad()
            if content is not None:
                features = extract(extractor, x, [content_layer])[0]
                loss = use["content_loss"](features, content_target, content_weight)
            else:
                features = extract(extractor, x, style_layers)
                loss = use["style_loss"](features, style_targets, style_weights)
            if tv_weight:
                loss = loss + use["tv_loss"](x, tv_weight)
            loss.backward()
            return loss

    losses = []
    for _ in tqdm(range(steps), desc=optimizer, disable=not progress):
        losses.append(opt.step(closure).item())
        with torch.no_grad():
            x.clamp_(0, 1)  # keep valid pixel values
    return x.detach().clamp(0, 1), losses


def _initial_image(init, reference: torch.Tensor, seed: int) -> torch.Tensor:
    if isinstance(init, torch.Tensor):
        init = init if init.ndim == 4 else init[None]
        return init.detach().clone(memory_format=torch.contiguous_format)  # as L-BFGS needs
    if init == "content":
        return reference.detach().clone(memory_format=torch.contiguous_format)
    if init == "noise":
        generator = torch.Generator().manual_seed(seed)
        return torch.rand(reference.shape, generator=generator).to(reference.device)
    raise ValueError(f"init must be 'content', 'noise' or an image tensor, got {init!r}")


def _make_optimizer(x: torch.Tensor, optimizer: str, lr: float | None) -> torch.optim.Optimizer:
    if optimizer == "lbfgs":
        return torch.optim.LBFGS([x], lr=lr or 1.0, max_iter=1, history_size=20)
    if optimizer == "adam":
        return torch.optim.Adam([x], lr=lr or 0.02)
    raise ValueError(f"optimizer must be 'lbfgs' or 'adam', got {optimizer!r}")
