"""Feature visualization as in Lucid: a better image parameterization and robustness to
small transformations.

Plain pixel ascent (:func:`course_utils.dream.channel_visualization`) lets every pixel move on
its own; the gradients of a CNN are largest at high frequencies, so the dream fills with
pixel-sized, fully saturated red, green and blue fringes. Two changes fix most of that:

* :func:`fourier_image`: optimize the *spectrum* of the image, scaled by ``1 / frequency``
  so that a step changes coarse structure as easily as fine structure, in *decorrelated*
  colour channels that a fixed matrix (:func:`color_matrix`) maps to RGB, then a sigmoid.
* :func:`transform`: before each forward pass, pad, shift, scale and rotate the image a
  little (random parameters from :func:`random_transform`): a pattern has to work at any
  position, size and angle to raise the objective.

:func:`feature_visualization` puts them together.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from .attribution import check_images, eval_mode, run_recording
from .dream import _dream_targets
from .hooks import get_layer


def color_matrix(images: torch.Tensor) -> torch.Tensor:
    """A ``3 x 3`` matrix that turns uncorrelated colour channels into RGB with the colour
    statistics of ``images``: the symmetric square root of their RGB covariance, scaled so
    that its largest column has norm 1.

    Args:
        images: ``(N, 3, H, W)`` RGB images, e.g. the shapes training images.

    Returns:
        ``(3, 3)`` tensor ``M``: for independent channels ``z`` of equal variance, ``M @ z``
        has the pixel covariance of ``images`` (up to a factor).

    Example:
        >>> M = color_matrix(data.load_shapes("train").images[:200])
    """
    images = check_images(images, "images")
    if images.shape[1] != 3:
        raise ValueError(f"images must be RGB (N, 3, H, W), got {tuple(images.shape)}")
    pixels = images.permute(0, 2, 3, 1).reshape(-1, 3).double()
    covariance = torch.cov(pixels.T)
    values, vectors = torch.linalg.eigh(covariance)
    root = vectors @ torch.diag(values.clamp_min(0).sqrt()) @ vectors.T
    return (root / root.norm(dim=0).max()).float()


def _check_spectrum(spectrum, size) -> tuple[int, int]:
    if not isinstance(spectrum, torch.Tensor) or not spectrum.is_complex() or spectrum.ndim != 4:
        raise ValueError(
            "spectrum must be a complex tensor (N, C, H, W // 2 + 1), got "
            f"{getattr(spectrum, 'dtype', type(spectrum).__name__)} "
            f"{tuple(getattr(spectrum, 'shape', ()))}"
        )
    height, width = size
    if spectrum.shape[-2:] != (height, width // 2 + 1):
        raise ValueError(
            f"a spectrum for size {(height, width)} has shape (N, C, {height}, {width // 2 + 1}), "
            f"got {tuple(spectrum.shape)}"
        )
    return height, width


def fourier_image(
    spectrum: torch.Tensor, size: tuple[int, int], color: torch.Tensor
) -> torch.Tensor:
    """Images in [0, 1] from a scaled spectrum in decorrelated colour channels.

    1. ``scale[i, j] = 1 / max(f[i, j], 1 / max(H, W))``, where ``f`` is the frequency
       ``sqrt(fy**2 + fx**2)`` with ``fy = torch.fft.fftfreq(H)`` (rows) and
       ``fx = torch.fft.rfftfreq(W)`` (columns), in cycles per pixel;
    2. ``z = torch.fft.irfft2(spectrum * scale, s=(H, W), norm="ortho")``, ``(N, 3, H, W)``;
    3. ``rgb[n, i] = sum_j color[i, j] * z[n, j]`` (the colour matrix on every pixel);
    4. return ``sigmoid(rgb)``.

    Args:
        spectrum: complex ``(N, 3, H, W // 2 + 1)``, the half-spectrum ``torch.fft.rfft2``
            of real images has.
        size: ``(H, W)`` of the images.
        color: ``(3, 3)``, e.g. :func:`color_matrix`.

    Returns:
        ``(N, 3, H, W)`` images in (0, 1), differentiable with respect to ``spectrum``.

    Example:
        >>> spectrum = torch.randn(1, 3, 64, 33, dtype=torch.complex64)
        >>> fourier_image(spectrum, (64, 64), torch.eye(3)).shape
        torch.Size([1, 3, 64, 64])
    """
    height, width = _check_spectrum(spectrum, size)
    if not isinstance(color, torch.Tensor) or color.shape != (spectrum.shape[1],) * 2:
        raise ValueError(f"color must be a ({spectrum.shape[1]}, {spectrum.shape[1]}) tensor")
    # BEGIN EXERCISE 08_dreaming
    fy = torch.fft.fftfreq(height)[:, None]
    fx = torch.fft.rfftfreq(width)[None, :]
    frequency = (fy**2 + fx**2).sqrt()
    scale = 1 / frequency.clamp_min(1 / max(height, width))
    z = torch.fft.irfft2(spectrum * scale, s=(height, width), norm="ortho")
    rgb = torch.einsum("ij,njhw->nihw", color.to(z.dtype), z)
    return torch.sigmoid(rgb)
    # END EXERCISE


def transform(
    x: torch.Tensor, *, pad: int, dx: int, dy: int, scale: float, degrees: float
) -> torch.Tensor:
    """Pad, shift, then scale and rotate images about their centre (one set of parameters).

    1. pad ``pad`` pixels of grey (0.5) on every side: ``(N, C, H + 2 pad, W + 2 pad)``;
    2. roll by ``dx`` pixels to the right and ``dy`` down (``torch.roll``, wrap-around);
    3. resample with ``F.affine_grid`` / ``F.grid_sample`` (bilinear, ``padding_mode=
       "border"``, ``align_corners=False``) through the matrix
       ``[[c, -s, 0], [s, c, 0]] / scale`` with ``c = cos(a)``, ``s = sin(a)`` and ``a`` the
       angle in radians: the content gets ``scale`` times larger and turns by ``degrees``.

    Args:
        x: images ``(N, C, H, W)``.
        pad: pixels of grey on each side (>= 0); dx, dy: the roll, in pixels.
        scale: > 0, the enlargement; degrees: the rotation.

    Returns:
        ``(N, C, H + 2 pad, W + 2 pad)``, differentiable with respect to ``x``.

    Example:
        >>> transform(torch.rand(1, 3, 64, 64), pad=4, dx=2, dy=-1, scale=1.05, degrees=5).shape
        torch.Size([1, 3, 72, 72])
    """
    x = check_images(x)
    if not isinstance(pad, int) or pad < 0 or scale <= 0:
        raise ValueError(f"need a whole pad >= 0 and scale > 0, got pad={pad!r}, scale={scale!r}")
    # BEGIN EXERCISE 08_dreaming
    x = F.pad(x, (pad, pad, pad, pad), value=0.5)
    x = torch.roll(x, shifts=(int(dy), int(dx)), dims=(2, 3))
    angle = math.radians(degrees)
    cos, sin = math.cos(angle) / scale, math.sin(angle) / scale
    theta = torch.tensor([[cos, -sin, 0.0], [sin, cos, 0.0]], dtype=x.dtype)
    grid = F.affine_grid(theta.expand(len(x), 2, 3), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    # END EXERCISE


def random_transform(
    x: torch.Tensor,
    generator: torch.Generator,
    *,
    pad: int = 4,
    jitter_px: int = 4,
    scales: tuple[float, float] = (0.9, 1.1),
    max_degrees: float = 10.0,
    transform=transform,
) -> torch.Tensor:
    """:func:`transform` with random parameters: ``dx, dy`` whole in ``-jitter_px ..
    jitter_px``, ``scale`` uniform in ``scales``, ``degrees`` uniform in ``+-max_degrees``,
    drawn from ``generator`` in that order.

    Args:
        x: images ``(N, C, H, W)``; generator: a seeded ``torch.Generator``.
        transform: called as ``transform(x, pad=, dx=, dy=, scale=, degrees=)`` (yours, say).
    """
    dx, dy = torch.randint(-jitter_px, jitter_px + 1, (2,), generator=generator).tolist()
    low, high = scales
    u, v = torch.rand(2, generator=generator, dtype=torch.float64).tolist()
    scale = low + (high - low) * u
    degrees = max_degrees * (2 * v - 1)
    return transform(x, pad=pad, dx=dx, dy=dy, scale=scale, degrees=degrees)


def feature_visualization(
    model: nn.Module,
    target: int | list[int],
    *,
    layer: str,
    size: tuple[int, int] = (64, 64),
    color: torch.Tensor | None = None,
    steps: int = 64,
    lr: float = 0.01,
    init_std: float = 0.05,
    robust: bool = True,
    seed: int = 0,
    progress: bool = False,
    image_fn=fourier_image,
    transform_fn=transform,
) -> torch.Tensor:
    """For each channel of ``layer``, an RGB image that maximizes its mean activation,
    parameterized by :func:`fourier_image` and, with ``robust``, seen through
    :func:`random_transform` at every step (Adam on the spectrum).

    The spectrum starts as seeded complex noise of standard deviation ``init_std``: the
    starting image is a cloud of soft colour blobs rather than flat grey, so even a channel
    that is silent on grey has a gradient to follow.

    Args:
        model: a network taking ``(N, 3, H, W)`` images in [0, 1].
        target: the channel, or a list of channels, of ``layer``.
        layer: a layer name (``hooks.layer_names(model)``); size: ``(H, W)`` of the images.
        color: ``(3, 3)`` colour matrix (default: the identity, no decorrelation).
        steps, lr: Adam steps and learning rate; init_std: the starting noise.
        robust: apply :func:`random_transform` before each forward pass.
        seed: seeds the starting spectrum and the transformations.
        image_fn, transform_fn: functions like :func:`fourier_image` and :func:`transform`
            (yours, say).

    Returns:
        ``(number of channels, 3, H, W)`` in [0, 1].

    Example:
        >>> images = feature_visualization(models.load_model("shapes"), [0, 5], layer="relu3")
    """
    channels = _dream_targets(target).tolist()
    height, width = size
    color = torch.eye(3) if color is None else color
    generator = torch.Generator().manual_seed(seed)
    shape = (len(channels), 3, height, width // 2 + 1, 2)
    real = (init_std * torch.randn(shape, generator=generator)).requires_grad_(True)
    optimizer = torch.optim.Adam([real], lr=lr)
    get_layer(model, layer)  # an unknown name fails here, listing the valid ones
    rows = torch.arange(len(channels))
    with eval_mode(model), torch.enable_grad():
        for _ in tqdm(range(steps), desc=f"feature visualization {layer}", disable=not progress):
            images = image_fn(torch.view_as_complex(real), size, color)
            if robust:
                images = random_transform(images, generator, transform=transform_fn)
            act = run_recording(model, images, layer)[1][layer]  # (T, K, h, w)
            if max(channels) >= act.shape[1]:
                raise ValueError(f"layer {layer!r} has channels 0..{act.shape[1] - 1}")
            # Image i serves channel i: the sum of each image's mean activation of its channel.
            loss = -act[rows, channels].mean(dim=(1, 2)).sum()
            (real.grad,) = torch.autograd.grad(loss, real)
            optimizer.step()
    with torch.no_grad():
        return image_fn(torch.view_as_complex(real.detach()), size, color)
