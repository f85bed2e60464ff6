"""Dreaming: change the *input*, weights frozen, until the network responds the way we ask.

Three objectives, one recipe (gradient ascent on the image):

* :func:`dream_to_target`: make the softmax output match a chosen one-hot target.
* :func:`class_visualization`: make one class score (the logit) as large as possible.
* :func:`deepdream` and :func:`channel_visualization`: make a layer's activations large.
* :func:`guided_dream`: make a layer respond to a photo the way it responds to a guide image.

Unregularized ascent finds noise the model is sure about; the regularizers here
(:func:`jitter`, :func:`gaussian_blur`, L2 decay, :func:`clip_small`) steer it towards
images with natural statistics. :func:`translation_flip_rate` measures how much a
classifier's decision depends on where the object sits.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from .attribution import Target, check_images, eval_mode, normalized_step, pick, run_recording
from .hooks import get_layer


def _gradient(objective, x: torch.Tensor) -> torch.Tensor:
    """Gradient of ``objective(x)`` (a scalar) with respect to ``x``, weights untouched."""
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        value = objective(x)
        (grad,) = torch.autograd.grad(value, x)
    return grad


def _dream_targets(target: Target) -> torch.Tensor:
    """The indices to dream of, as a ``(T,)`` tensor: one image is made per index."""
    if target is None:
        raise ValueError("target=None: name the class (or channel) to dream of, or a list of them")
    targets = torch.as_tensor(target).reshape(-1)
    if targets.is_floating_point() or targets.numel() == 0:
        raise ValueError(f"target must be one or more whole indices, got {target!r}")
    return targets.long()


def _check_every(blur_every: int) -> None:
    if not isinstance(blur_every, int) or blur_every < 0:
        raise ValueError(
            f"blur_every must be a whole number of steps >= 0 (0: never), got {blur_every!r}"
        )


def _offset(max_px: int, generator: torch.Generator) -> list[int]:
    """A random ``(dx, dy)``, each in ``-max_px .. max_px``."""
    return torch.randint(-max_px, max_px + 1, (2,), generator=generator).tolist()


def jitter(x: torch.Tensor, dx: int, dy: int) -> torch.Tensor:
    """Shift images by ``(dx, dy)`` pixels with wrap-around; ``jitter(x, -dx, -dy)`` undoes it.

    Args:
        x: images ``(N, C, H, W)``.
        dx, dy: shift to the right and down (negative: left and up).

    Returns:
        ``(N, C, H, W)``: ``out[..., i, j] == x[..., i - dy, j - dx]`` (indices modulo size).
    """
    return torch.roll(check_images(x), shifts=(int(dy), int(dx)), dims=(-2, -1))


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Blur every channel with a Gaussian of standard deviation ``sigma`` pixels.

    The kernel is ``2 * ceil(3 * sigma) + 1`` pixels wide, normalized to sum to one, and
    the border is reflected, so a constant image stays constant.

    Args:
        x: images ``(N, C, H, W)``.
        sigma: in pixels; ``0`` returns ``x`` unchanged.
    """
    # BEGIN EXERCISE 08_dreaming
    x = check_images(x)
    if sigma < 0:
        raise ValueError(f"sigma must be >= 0, got {sigma}")
    if sigma == 0:
        return x
    radius = max(1, math.ceil(3 * sigma))
    if radius >= min(x.shape[-2:]):
        raise ValueError(f"sigma={sigma} is too large for images of size {tuple(x.shape[-2:])}")
    offsets = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    kernel = torch.exp(-(offsets**2) / (2 * sigma**2))
    kernel = kernel / kernel.sum()
    channels = x.shape[1]
    # A 2-D Gaussian is a row blur followed by a column blur: two cheap 1-D convolutions.
    rows = kernel.view(1, 1, 1, -1).repeat(channels, 1, 1, 1)
    cols = kernel.view(1, 1, -1, 1).repeat(channels, 1, 1, 1)
    x = F.conv2d(F.pad(x, (radius, radius, 0, 0), mode="reflect"), rows, groups=channels)
    return F.conv2d(F.pad(x, (0, 0, radius, radius), mode="reflect"), cols, groups=channels)
    # END EXERCISE


def clip_small(x: torch.Tensor, fraction: float, baseline: float = 0.0) -> torch.Tensor:
    """Reset the ``fraction`` of pixels closest to ``baseline`` to exactly ``baseline``.

    Closeness is the norm of ``x - baseline`` over the channels of a pixel. Faint pixels
    contribute little to the score but add noise to the picture.

    Args:
        x: images ``(N, C, H, W)``.
        fraction: in [0, 1), the share of each image's pixels to reset.
        baseline: the value of an "empty" pixel (0 for black-background digits).
    """
    x = check_images(x)
    if not 0 <= fraction < 1:
        raise ValueError(f"fraction must lie in [0, 1), got {fraction}")
    if fraction == 0:
        return x
    strength = (x - baseline).norm(dim=1, keepdim=True)  # (N, 1, H, W)
    threshold = strength.flatten(1).quantile(fraction, dim=1)[:, None, None, None]
    return torch.where(strength <= threshold, torch.full_like(x, baseline), x)


def dream_step(
    model: nn.Module, x: torch.Tensor, target: Target, *, lr: float = 1.0, l2: float = 0.0
) -> torch.Tensor:
    """One step of gradient *ascent* on ``S_target(x) - l2 * ||x||^2``, per image.

    ``S_target`` is the class score (the logit, before softmax). The step has length
    ``lr`` in pixel space: ``x + lr * g / ||g||`` with ``g`` the gradient of the objective
    and ``||g||`` its L2 norm over the image, so the step size does not depend on how
    steep the score happens to be.

    Args:
        model: a classifier returning ``(N, n_classes)`` scores, used in eval mode.
        x: images ``(N, C, H, W)``; not modified.
        target: the class to strengthen, one int or ``N`` of them.
        lr: step length (L2 norm of the change of each image).
        l2: weight of the L2 penalty that keeps pixel values small.

    Returns:
        The new images ``(N, C, H, W)``, detached.

    Example:
        >>> x = torch.zeros(1, 1, 28, 28)
        >>> for _ in range(50):
        ...     x = dream_step(load_model("digits"), x, target=3, lr=0.5, l2=0.01)
    """
    # BEGIN EXERCISE 08_dreaming
    x = check_images(x)
    with eval_mode(model):

        def objective(image):
            return pick(model(image), target) - l2 * (image**2).sum()

        grad = _gradient(objective, x)
    return normalized_step(x, grad, lr).detach()
    # END EXERCISE


def class_visualization(
    model: nn.Module,
    target: Target,
    *,
    shape: tuple[int, int, int],
    steps: int = 100,
    lr: float = 1.0,
    l2: float = 0.0,
    jitter_px: int = 0,
    blur_sigma: float = 0.0,
    blur_every: int = 10,
    clip_fraction: float = 0.0,
    start: float = 0.0,
    value_range: tuple[float, float] = (0.0, 1.0),
    seed: int = 0,
    progress: bool = False,
    step=dream_step,
    blur=gaussian_blur,
) -> torch.Tensor:
    """An image that maximizes a class score, with optional regularizers (Simonyan et al.).

    Each step: roll the image by a random offset of up to ``jitter_px``, take one
    :func:`dream_step`, roll it back, clamp to ``value_range``; every ``blur_every`` steps
    blur it with ``blur_sigma`` (if above 0) and reset the faintest ``clip_fraction`` of its
    pixels.

    Args:
        model: a classifier; target: class index, one int or one per image.
        shape: ``(C, H, W)`` of the image; one image per target.
        steps, lr, l2: as in :func:`dream_step`.
        jitter_px, blur_sigma, blur_every, clip_fraction: the regularizers (0 = off).
        start: the starting images are ``start`` plus a little seeded noise.
        value_range: pixel values are clamped to it after every step.
        seed: seeds the starting noise and the jitter offsets.
        step: the ascent step, called as ``step(model, x, targets, lr=lr, l2=l2)``; another
            function with the signature of :func:`dream_step` (yours, say) can take its place.
        blur: the blur, called as ``blur(x, blur_sigma)`` when ``blur_sigma > 0``; a function
            like :func:`gaussian_blur`.

    Returns:
        ``(T, C, H, W)`` images, one per target.
    """
    # BEGIN EXERCISE 08_dreaming
    targets = _dream_targets(target)
    _check_every(blur_every)
    generator = torch.Generator().manual_seed(seed)
    x = start + 0.01 * torch.randn(len(targets), *shape, generator=generator)
    x = x.clamp(*value_range)
    for number in tqdm(range(steps), desc="class visualization", disable=not progress):
        dx, dy = _offset(jitter_px, generator)
        x = jitter(step(model, jitter(x, dx, dy), targets, lr=lr, l2=l2), -dx, -dy)
        x = x.clamp(*value_range)
        if blur_every and (number + 1) % blur_every == 0:
            if blur_sigma > 0:
                x = blur(x, blur_sigma)
            x = clip_small(x, clip_fraction, baseline=start)
    return x
    # END EXERCISE


def dream_to_target(
    model: nn.Module,
    target: Target,
    *,
    shape: tuple[int, int, int],
    steps: int = 300,
    lr: float = 0.05,
    value_range: tuple[float, float] = (0.0, 1.0),
    seed: int = 0,
) -> tuple[torch.Tensor, list[float]]:
    """Gradient *descent* on ``|softmax(f(x)) - y_target|^2`` from uniform noise.

    No regularizer: the point is to see what the model accepts as a perfect example.

    Args:
        model: a classifier; target: class index, one int or one per image.
        shape: ``(C, H, W)``; steps: number of Adam steps with learning rate ``lr``.
        value_range: pixels are clamped to it; seed: seeds the starting noise.

    Returns:
        ``(images, losses)``: ``(T, C, H, W)`` and the mean loss after each step.
    """
    # BEGIN EXERCISE 08_dreaming
    targets = _dream_targets(target)
    generator = torch.Generator().manual_seed(seed)
    low, high = value_range
    x = low + (high - low) * torch.rand(len(targets), *shape, generator=generator)
    x.requires_grad_(True)
    # Adam rather than plain steps: the softmax saturates, and Adam keeps moving anyway.
    optimizer = torch.optim.Adam([x], lr=lr)
    losses = []
    with eval_mode(model), torch.enable_grad():
        for _ in range(steps):
            probabilities = model(x).softmax(dim=1)
            wanted = F.one_hot(targets, probabilities.shape[1]).to(probabilities)
            loss = ((probabilities - wanted) ** 2).sum(dim=1).mean()
            # Only the image's gradient: the weights' .grad stay as the caller left them.
            (x.grad,) = torch.autograd.grad(loss, x)
            optimizer.step()
            with torch.no_grad():
                x.clamp_(low, high)
            losses.append(loss.item())
    return x.detach(), losses
    # END EXERCISE


def octave_sizes(
    size: tuple[int, int], n_octaves: int, scale: float = 1.4
) -> list[tuple[int, int]]:
    """Image sizes of a DeepDream octave schedule, smallest first, ending at ``size``.

    Octave ``k`` (counting down from ``n_octaves - 1`` to 0) has size
    ``round(H / scale**k), round(W / scale**k)``.

    Example:
        >>> octave_sizes((100, 60), 3, 2.0)
        [(25, 15), (50, 30), (100, 60)]
    """
    # BEGIN EXERCISE 08_dreaming
    height, width = size
    if n_octaves < 1 or scale <= 1:
        raise ValueError(f"need n_octaves >= 1 and scale > 1, got {n_octaves} and {scale}")
    return [(round(height / scale**k), round(width / scale**k)) for k in reversed(range(n_octaves))]
    # END EXERCISE


def _resize(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


def layer_objective(model: nn.Module, layer: str, channel: int | None = None):
    """A function ``x -> scalar``: the mean squared activation of ``layer`` (DeepDream),
    or, with ``channel``, the mean activation of that one channel (feature visualization)."""

    get_layer(model, layer)  # an unknown name fails here, listing the valid ones

    def objective(x):
        act = run_recording(model, check_images(x), layer)[1][layer]
        if channel is None:
            return (act**2).mean()
        if not 0 <= channel < act.shape[1]:
            raise ValueError(f"layer {layer!r} has channels 0..{act.shape[1] - 1}, got {channel}")
        return act[:, channel].mean()

    return objective


def _jittered_ascent_step(objective, x, lr: float, jitter_px: int, generator) -> torch.Tensor:
    """``x + lr * g / mean(|g|)`` per image, with ``g`` taken on a randomly rolled copy and
    rolled back."""
    dx, dy = _offset(jitter_px, generator)
    grad = jitter(_gradient(objective, jitter(x, dx, dy)), -dx, -dy)
    scale = grad.abs().mean(dim=(1, 2, 3), keepdim=True).clamp_min(1e-12)
    return (x + lr * grad / scale).clamp(0, 1)


def deepdream(
    model: nn.Module,
    x: torch.Tensor,
    *,
    layer: str,
    steps: int = 10,
    lr: float = 0.02,
    n_octaves: int = 3,
    scale: float = 1.4,
    jitter_px: int = 4,
    channel: int | None = None,
    seed: int = 0,
    progress: bool = False,
) -> torch.Tensor:
    """DeepDream: amplify what ``layer`` sees in ``image``, over several scales (octaves).

    At each octave (smallest first, :func:`octave_sizes`) the image is the photo resized
    to that size plus the *detail* dreamed so far, upscaled. ``steps`` ascent steps on
    :func:`layer_objective` follow, each ``x + lr * g / mean(|g|)`` with a random roll of
    up to ``jitter_px`` undone afterwards, clamped to [0, 1]. The new detail is the dreamed
    image minus the resized photo.

    Args:
        model: any network; layer: its layer to amplify (``hooks.layer_names(model)``), one
            that runs once per forward pass.
        x: images ``(N, C, H, W)`` in [0, 1]; not modified.
        channel: amplify only this channel of ``layer`` (default: all of them).
        seed: seeds the jitter.

    Returns:
        ``(N, C, H, W)`` dreamed images in [0, 1].
    """
    # BEGIN EXERCISE 08_dreaming
    image = check_images(x).detach()
    generator = torch.Generator().manual_seed(seed)
    objective = layer_objective(model, layer, channel)
    sizes = octave_sizes(tuple(image.shape[-2:]), n_octaves, scale)
    detail = torch.zeros_like(_resize(image, sizes[0]))
    bar = tqdm(total=steps * len(sizes), desc=f"DeepDream {layer}", disable=not progress)
    with eval_mode(model):
        for size in sizes:
            base = _resize(image, size)
            x = (base + _resize(detail, size)).clamp(0, 1)
            for _ in range(steps):
                x = _jittered_ascent_step(objective, x, lr, jitter_px, generator)
                bar.update()
            detail = x - base
    bar.close()
    return x
    # END EXERCISE


def guide_objective(
    model: nn.Module, layer: str, guide: torch.Tensor, baseline: torch.Tensor | None = None
):
    """A function ``x -> scalar``: how much ``x`` activates ``layer`` *the way the guide does*.

    With ``g`` the guide's activation vector at ``layer`` averaged over its positions and
    images (``(K,)``, one entry per channel), the objective is the mean over the images and
    positions of ``x`` of the dot product ``<a(x)[:, i, j], g>``. Its gradient pushes up the
    channels the guide uses, each in proportion to how strongly the guide uses it. (DeepDream's
    mean squared activation has the gradient ``2 <a(x), da/dx>``: the photo is its own guide.)
    With ``baseline`` images, ``g`` becomes ``max(g - b, 0)`` with ``b`` their average vector:
    only the channels the guide activates *more than a typical image* count, and the dream is
    never pushed to remove what typical images have.

    Args:
        model: any network; layer: its layer (``hooks.layer_names(model)``).
        guide: images ``(M, C, H', W')``; their size may differ from that of ``x``.
        baseline: optional images ``(B, C, H'', W'')``, e.g. a few hundred training images.

    Returns:
        A function of images ``(N, C, H, W)`` returning a 0-dim tensor.
    """
    get_layer(model, layer)

    def mean_vector(images, name):
        with eval_mode(model), torch.no_grad():
            act = run_recording(model, check_images(images, name), layer)[1][layer]
        return act.mean(dim=(0, 2, 3))  # (K,)

    direction = mean_vector(guide, "guide")
    if baseline is not None:
        direction = (direction - mean_vector(baseline, "baseline")).clamp_min(0)

    def objective(x):
        act = run_recording(model, check_images(x), layer)[1][layer]
        return torch.einsum("nkhw,k->nhw", act, direction).mean()

    return objective


def guided_dream(
    model: nn.Module,
    x: torch.Tensor,
    guide: torch.Tensor,
    *,
    layer: str,
    baseline: torch.Tensor | None = None,
    steps: int = 10,
    lr: float = 0.02,
    n_octaves: int = 3,
    scale: float = 1.4,
    jitter_px: int = 4,
    seed: int = 0,
    progress: bool = False,
    octaves=octave_sizes,
) -> torch.Tensor:
    """DeepDream towards a guide: grow in ``x`` what ``layer`` sees in the ``guide`` image.

    The recipe of :func:`deepdream` (octaves, jitter, ``lr * g / mean|g|`` steps, clamp to
    [0, 1]) with :func:`guide_objective` in place of the mean squared activation.

    Args:
        model: any network; layer: its layer.
        x: images ``(N, C, H, W)`` in [0, 1]; not modified.
        guide: images ``(M, C, H', W')`` in [0, 1], any size (their activations are averaged).
        baseline: optional images whose average activation is subtracted from the guide's
            (:func:`guide_objective`); without it, channels that every image activates
            dominate and the dream looks much like plain DeepDream.
        steps, lr, n_octaves, scale, jitter_px, seed: as in :func:`deepdream`.
        octaves: called as ``octaves((H, W), n_octaves, scale)``; a function like
            :func:`octave_sizes` (yours, say).

    Returns:
        ``(N, C, H, W)`` dreamed images in [0, 1].

    Example:
        >>> cat, stripes = data.load_photo("chelsea", 96), data.load_photo("brick", 96)
        >>> dreamed = guided_dream(model, cat[None], stripes[None], layer="relu3")
    """
    image = check_images(x).detach()
    objective = guide_objective(model, layer, guide, baseline)
    generator = torch.Generator().manual_seed(seed)
    sizes = octaves(tuple(image.shape[-2:]), n_octaves, scale)
    detail = torch.zeros(len(image), image.shape[1], *sizes[0])
    bar = tqdm(total=steps * len(sizes), desc=f"guided dream {layer}", disable=not progress)
    with eval_mode(model):
        for size in sizes:
            base = _resize(image, size)
            dreamed = (base + _resize(detail, size)).clamp(0, 1)
            for _ in range(steps):
                dreamed = _jittered_ascent_step(objective, dreamed, lr, jitter_px, generator)
                bar.update()
            detail = dreamed - base
    bar.close()
    return dreamed


def channel_visualization(
    model: nn.Module,
    target: int | list[int],
    *,
    layer: str,
    shape: tuple[int, int, int],
    steps: int = 60,
    lr: float = 0.05,
    jitter_px: int = 2,
    blur_sigma: float = 0.5,
    blur_every: int = 4,
    seed: int = 0,
    noise: float = 0.05,
    blur=gaussian_blur,
) -> torch.Tensor:
    """For each channel, an image (from grey plus noise) that maximizes its mean activation.

    Steps as in :func:`deepdream` (normalized ascent with jitter, clamp to [0, 1]), plus a
    light blur every ``blur_every`` steps so the picture is not all high frequencies.

    Args:
        model: any network.
        target: the channel (or a list of channels) of ``layer`` to visualize.
        layer: the layer (``hooks.layer_names(model)``); shape: ``(C, H, W)`` of the images.
        blur_every: blur every this many steps (0: never).
        noise: standard deviation of the Gaussian noise added to the grey start. A channel
            that is zero on (almost) flat grey gets no gradient and its image stays grey;
            more noise gives it something to respond to.
        blur: the blur, called as ``blur(x, blur_sigma)`` when ``blur_sigma > 0``; a function
            like :func:`gaussian_blur` (yours, say).

    Returns:
        ``(number of channels, C, H, W)`` in [0, 1].
    """
    channels = _dream_targets(target).tolist()
    _check_every(blur_every)
    generator = torch.Generator().manual_seed(seed)
    if not isinstance(noise, int | float) or noise < 0:
        raise ValueError(f"noise must be a number >= 0 (a standard deviation), got {noise!r}")
    images = []
    with eval_mode(model):
        for channel in channels:
            objective = layer_objective(model, layer, channel)
            x = (0.5 + noise * torch.randn(1, *shape, generator=generator)).clamp(0, 1)
            for step in range(steps):
                x = _jittered_ascent_step(objective, x, lr, jitter_px, generator)
                if blur_every and (step + 1) % blur_every == 0 and blur_sigma > 0:
                    x = blur(x, blur_sigma)
            images.append(x)
    return torch.cat(images)


def shift_images(images: torch.Tensor, dx: int, dy: int, fill: float = 0.0) -> torch.Tensor:
    """Translate images by ``(dx, dy)`` pixels (right and down); uncovered pixels get ``fill``.

    Unlike :func:`jitter`, nothing wraps around: what leaves the frame is lost.
    """
    images = check_images(images, "images")
    out = torch.full_like(images, fill)
    h, w = images.shape[-2:]
    dx, dy = int(dx), int(dy)
    if abs(dx) >= w or abs(dy) >= h:
        return out
    src_y, dst_y = slice(max(0, -dy), h - max(0, dy)), slice(max(0, dy), h - max(0, -dy))
    src_x, dst_x = slice(max(0, -dx), w - max(0, dx)), slice(max(0, dx), w - max(0, -dx))
    out[..., dst_y, dst_x] = images[..., src_y, src_x]
    return out


def translation_flip_rate(model: nn.Module, images: torch.Tensor, max_shift: int) -> torch.Tensor:
    """How often the prediction changes when the images are shifted, for every shift.

    Args:
        model: a classifier; images: ``(N, C, H, W)``, the background is 0.
        max_shift: shifts from ``-max_shift`` to ``max_shift`` pixels in each direction.

    Returns:
        ``(2 * max_shift + 1, 2 * max_shift + 1)`` tensor; entry ``[dy + m, dx + m]`` is the
        fraction of images whose predicted class after :func:`shift_images` by ``(dx, dy)``
        differs from the prediction on the unshifted image. The centre entry is 0.
    """
    # BEGIN EXERCISE 08_dreaming
    images = check_images(images, "images")
    shifts = range(-max_shift, max_shift + 1)
    with eval_mode(model), torch.no_grad():
        reference = model(images).argmax(dim=1)
        rates = torch.zeros(len(shifts), len(shifts))
        for row, dy in enumerate(shifts):
            for col, dx in enumerate(shifts):
                moved = model(shift_images(images, dx, dy)).argmax(dim=1)
                rates[row, col] = (moved != reference).float().mean()
    return rates
    # END EXERCISE
