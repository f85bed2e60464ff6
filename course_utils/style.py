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

Valid pixels: the optimizer changes an unconstrained tensor ``z`` and the image is
``torch.sigmoid(z)``, always in (0, 1). Clamping the pixels after each step instead (the
classic loop, ``constrain="clamp"``) moves the image behind L-BFGS's back: its memory of
past steps goes stale and long runs blow up.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import torch
import torch.nn.functional as F
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
    z: torch.Tensor,
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

    Each call zeroes the gradients, makes the image ``x = torch.sigmoid(z)``, runs
    ``extractor`` on ``x`` once, computes ``content_loss + style_loss + tv_loss`` of ``x``,
    backpropagates it (into ``z.grad``) and returns it.

    Args:
        optimizer: an optimizer over ``[z]``; z: ``(1, 3, H, W)``, any real numbers, requires
            grad (the image is its sigmoid, so every pixel stays in (0, 1)).
        content_layer, content_target: the content layer and the photo's features there.
        style_layers, style_targets: the style layers and the painting's Gram matrices.
        content_weight, style_weights (one per style layer), tv_weight: the loss weights.
    """
    # BEGIN EXERCISE 10_style_transfer
    layers = [content_layer, *style_layers]

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        x = torch.sigmoid(z)
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


class FilterBanks(nn.Module):
    """One layer of random filters of several sizes, applied to an image pyramid.

    At octave ``k`` the image is average-pooled ``k`` times (halved in size each time), then
    every filter bank (one ``Conv2d`` per size, ``width`` filters each) and a ReLU run on it;
    the octave's feature maps are concatenated and come out of the layer ``scale{k}``. A
    7x7 filter at octave 3 sees a 56-pixel region, so a few small filters cover strokes,
    patches and their arrangement. Built by :func:`random_filter_banks`.
    """

    def __init__(self, sizes: Sequence[int], width: int, octaves: int, seed: int):
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        self.banks = nn.ModuleList()
        for size in sizes:
            conv = nn.Conv2d(3, width, size, padding=size // 2, padding_mode="reflect")
            with torch.no_grad():
                weight = torch.randn(conv.weight.shape, generator=generator)
                conv.weight.copy_(weight * (2.0 / (3 * size * size)) ** 0.5)
                conv.bias.zero_()
            self.banks.append(conv)
        for octave in range(octaves):  # named places for hooks: extract(net, x, ["scale0"])
            self.add_module(f"scale{octave}", nn.Identity())
        self.octaves = octaves

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        images = images - 0.5  # centre the pixels so the ReLUs see both signs
        for octave in range(self.octaves):
            if octave:
                images = F.avg_pool2d(images, 2)
            maps = torch.cat([F.relu(bank(images)) for bank in self.banks], dim=1)
            out = getattr(self, f"scale{octave}")(maps)
        return out


def random_filter_banks(
    sizes: Sequence[int] = (3, 5, 7), width: int = 64, octaves: int = 4, seed: int = 0
) -> FilterBanks:
    """A shallow, untrained texture network: many random filters at several scales.

    Ustyuzhaninov et al. (2017) found that one layer of many random filters of several
    sizes synthesizes textures as well as deep trained networks do. This is a cheap version
    of it for a laptop: small filters, applied to the image halved ``octaves - 1`` times.

    Args:
        sizes: filter sizes (odd); width: filters per size; octaves: image scales; seed.

    Returns:
        :class:`FilterBanks` in eval mode, frozen; its layers ``scale0`` ... hold
        ``(N, len(sizes) * width, H / 2**k, W / 2**k)`` feature maps.

    Example:
        >>> texture_net = random_filter_banks()
        >>> grams = [gram_matrix(f) for f in extract(texture_net, painting[None], ["scale0"])]
    """
    if not sizes or any(not isinstance(k, int) or k < 1 or k % 2 == 0 for k in sizes):
        raise ValueError(f"sizes must be odd whole numbers >= 1, got {sizes!r}")
    if not isinstance(width, int) or width < 1 or not isinstance(octaves, int) or octaves < 1:
        raise ValueError(f"width and octaves must be whole numbers >= 1, got {width}, {octaves}")
    return FilterBanks(tuple(sizes), width, octaves, seed).eval().requires_grad_(False)


class TwoNetworks(nn.Module):
    """Two frozen networks side by side, to read content from one and style from the other.

    Its layers are named ``content.<layer>`` and ``style.<layer>``; one forward pass runs
    both networks on the same images. Built by :func:`two_networks`.
    """

    def __init__(self, content: nn.Module, style: nn.Module):
        super().__init__()
        self.content, self.style = content, style

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        self.content(images)
        return self.style(images)


def two_networks(content: nn.Module, style: nn.Module) -> TwoNetworks:
    """``TwoNetworks(content, style)``, frozen and in eval mode.

    Example:
        >>> net = two_networks(random_vgg(), random_filter_banks())
        >>> extract(net, cat[None], ["content.relu3_1", "style.scale0"])
    """
    for name, network in (("content", content), ("style", style)):
        if not isinstance(network, nn.Module):
            raise TypeError(f"{name} must be a network (nn.Module), got {type(network).__name__}")
    return TwoNetworks(content, style).eval().requires_grad_(False)


def orientation_coherence(image: torch.Tensor, sigma: float = 1.5) -> float:
    """How much of an image's edge energy is lined up in one direction locally, in [0, 1].

    The structure tensor ``J`` (products of the brightness gradients, smoothed with a
    Gaussian of ``sigma`` pixels) has eigenvalues ``l1 >= l2`` at each pixel; this returns
    ``sum(l1 - l2) / sum(l1 + l2)``. Strokes and stripes score high; noise and round blobs
    low (uniform noise about 0.3). A texture measure of *structure*, which colour
    histograms miss.

    Args:
        image: ``(3, H, W)`` or ``(1, 3, H, W)`` in [0, 1].
    """
    if not isinstance(image, torch.Tensor) or image.ndim not in (3, 4):
        got = tuple(image.shape) if isinstance(image, torch.Tensor) else type(image).__name__
        raise ValueError(f"image must be a (3, H, W) or (1, 3, H, W) tensor, got {got}")
    image = check_images(image if image.ndim == 4 else image[None], "image")
    grey = image.detach().mean(dim=1, keepdim=True)
    sobel = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]]) / 8
    padded = F.pad(grey, (1, 1, 1, 1), mode="replicate")
    gx = F.conv2d(padded, sobel[None, None])
    gy = F.conv2d(padded, sobel.T[None, None])
    radius = max(1, round(3 * sigma))
    t = torch.arange(-radius, radius + 1, dtype=torch.float32)
    kernel = torch.exp(-(t**2) / (2 * sigma**2))
    kernel = kernel / kernel.sum()

    def smooth(a: torch.Tensor) -> torch.Tensor:  # separable Gaussian: rows, then columns
        a = F.pad(a, (radius, radius, 0, 0), mode="replicate")
        a = F.conv2d(a, kernel.view(1, 1, 1, -1))
        a = F.pad(a, (0, 0, radius, radius), mode="replicate")
        return F.conv2d(a, kernel.view(1, 1, -1, 1))

    jxx, jyy, jxy = smooth(gx * gx), smooth(gy * gy), smooth(gx * gy)
    spread = torch.sqrt((jxx - jyy) ** 2 + 4 * jxy**2)  # l1 - l2
    return float(spread.sum() / (jxx + jyy).sum().clamp(min=1e-12))


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
    constrain: str = "sigmoid",
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
        optimizer: ``"lbfgs"`` or ``"adam"``; lr: its learning rate (defaults 1 and 0.1).
        init: ``"content"``, ``"noise"`` (seeded uniform), or an image tensor.
        functions: your own versions of this module's ``content_loss``, ``gram_matrix``,
            ``style_loss``, ``tv_loss`` or ``make_closure``, by name, used instead of the
            course's (lesson 10 passes the ones you wrote). ``make_closure`` is used when
            there are both a content and a style image (and ``constrain="sigmoid"``).
        constrain: ``"sigmoid"`` optimizes ``z`` with image ``sigmoid(z)`` (pixels always
            valid, the optimizer sees the whole story); ``"clamp"`` optimizes the pixels and
            clamps them to [0, 1] after each step (the classic loop; it can blow up L-BFGS).

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
    if constrain not in ("sigmoid", "clamp"):
        raise ValueError(f"constrain must be 'sigmoid' or 'clamp', got {constrain!r}")
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
    start = _initial_image(init, content if content is not None else style, seed)
    sigmoid = constrain == "sigmoid"
    # sigmoid(logit(p)) = p; keeping p off 0 and 1 keeps z finite and its gradient alive.
    z = (torch.logit(start.clamp(0.01, 0.99)) if sigmoid else start).requires_grad_(True)
    opt = _make_optimizer(z, optimizer, lr)
    if content is not None and style is not None and sigmoid:
        closure = use["make_closure"](
            opt, z, extractor, content_layer, content_target, style_layers, style_targets,
            content_weight, style_weights, tv_weight,
        )  # fmt: skip
    else:

        def closure() -> torch.Tensor:
            opt.zero_grad()
            x = torch.sigmoid(z) if sigmoid else z
            loss = 0.0
            if content is not None:
                features = extract(extractor, x, [content_layer])[0]
                loss = use["content_loss"](features, content_target, content_weight)
            if style is not None:
                features = extract(extractor, x, style_layers)
                loss = loss + use["style_loss"](features, style_targets, style_weights)
            if tv_weight:
                loss = loss + use["tv_loss"](x, tv_weight)
            loss.backward()
            return loss

    losses = []
    for _ in tqdm(range(steps), desc=optimizer, disable=not progress):
        losses.append(opt.step(closure).item())
        if not sigmoid:
            with torch.no_grad():
                z.clamp_(0, 1)  # valid pixels, at the price of a stale L-BFGS memory
    image = torch.sigmoid(z) if sigmoid else z.clamp(0, 1)
    return image.detach(), losses


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
        # A line search (strong Wolfe conditions) makes every step lower the loss; it may
        # evaluate the loss a few times per step (max_eval: at most 10).
        return torch.optim.LBFGS(
            [x], lr=lr or 1.0, max_iter=1, max_eval=10, history_size=20,
            line_search_fn="strong_wolfe",
        )  # fmt: skip
    if optimizer == "adam":
        return torch.optim.Adam([x], lr=lr or 0.1)
    raise ValueError(f"optimizer must be 'lbfgs' or 'adam', got {optimizer!r}")
