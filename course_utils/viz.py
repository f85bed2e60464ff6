"""Plotting helpers with one look for the whole course.

The look: no axis ticks, small titles, ``"gray"`` for grayscale images (0 is black, 1 is
white), ``"RdBu_r"`` centred on 0 for signed values such as weights (red positive, blue
negative), ``"jet"`` (or ``"inferno"``) for heatmaps laid over an image.

Images are expected in [0, 1]: a (C, H, W) tensor or a (H, W, C) NumPy array, C = 1 or 3.
The functions never call ``plt.show()``; they return the Figure or Axes so that you can
add to it, save it with ``fig.savefig(...)``, or let the notebook display it.

Example:
    >>> fig = show_images(images[:8], titles=[str(y) for y in labels[:8].tolist()])
    >>> ax = overlay_heatmap(images[0], cam)
"""

import math

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F

TITLE_SIZE = "small"


def _to_numpy(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().float().numpy()
    return np.asarray(x, dtype=np.float32)


def _to_hwc(image, what: str = "image") -> np.ndarray:
    """One image (CHW tensor, HWC/HW array or HW tensor) -> HW or HWC array in [0, 1]."""
    is_tensor = isinstance(image, torch.Tensor)
    img = _to_numpy(image)
    if is_tensor and img.ndim == 3 and img.shape[0] in (1, 3):
        img = img.transpose(1, 2, 0)  # tensors are channels-first, imshow wants channels-last
    if img.ndim == 3 and img.shape[-1] == 1:
        img = img[..., 0]
    if img.ndim != 2 and not (img.ndim == 3 and img.shape[-1] == 3):
        layout = "(C, H, W) or (H, W) tensor" if is_tensor else "(H, W, C) or (H, W) array"
        raise ValueError(f"{what} has shape {img.shape}; expected a {layout} with C = 1 or 3.")
    if not np.isfinite(img).all():
        raise ValueError(f"{what} contains NaN or infinite values.")
    low, high = img.min(), img.max()
    if low < -0.01 or high > 1.01:
        raise ValueError(
            f"{what} has values in [{low:.3g}, {high:.3g}] but [0, 1] was expected. "
            "If it is ImageNet-normalized, show imagenet_denormalize(x) (course_utils.data); "
            "otherwise rescale it, e.g. (x - x.min()) / (x.max() - x.min())."
        )
    return np.clip(img, 0, 1)


def _imshow(ax, img: np.ndarray, cmap=None):
    """Show an image in [0, 1] with the course look."""
    if img.ndim == 2:
        im = ax.imshow(img, cmap=cmap or "gray", vmin=0, vmax=1)
    else:
        im = ax.imshow(img)
    ax.axis("off")
    return im


def show_images(
    images, titles=None, ncols=8, cmap=None, masks=None, suptitle=None, size=1.6
) -> plt.Figure:
    """Show images in a grid.

    Args:
        images: Tensor (N, C, H, W) or (N, H, W), or a list of (C, H, W)/(H, W) tensors
            or (H, W, C)/(H, W) NumPy arrays. C = 1 or 3, values in [0, 1].
        titles: Optional list of N strings, one per image.
        ncols: Images per row.
        cmap: Colormap for single-channel images (default ``"gray"``).
        masks: Optional (N, H, W) boolean masks; their outlines are drawn on the images.
        suptitle: Optional title of the whole figure.
        size: Size of one image in inches.

    Returns:
        The matplotlib Figure.

    Example:
        >>> show_images(images[:16], titles=[f"label {y}" for y in labels[:16].tolist()])
    """
    if isinstance(images, torch.Tensor | np.ndarray):
        if images.ndim not in (3, 4):
            raise ValueError(
                f"images has shape {tuple(images.shape)}; expected a batch (N, C, H, W) or "
                "(N, H, W). For a single image use show_images([image])."
            )
        images = list(images)
    images = [_to_hwc(img, f"image {i}") for i, img in enumerate(images)]
    n = len(images)
    if n == 0:
        raise ValueError("images is empty; there is nothing to show.")
    if titles is not None and len(titles) != n:
        raise ValueError(f"Got {len(titles)} titles for {n} images.")
    if masks is not None:
        masks = [_to_numpy(m) > 0.5 for m in masks]
        if len(masks) != n:
            raise ValueError(f"Got {len(masks)} masks for {n} images.")

    ncols = max(1, min(ncols, n))
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(ncols * size, nrows * size), squeeze=False)
    for i, ax in enumerate(axes.flat):
        if i >= n:
            ax.set_visible(False)  # unused grid cell
            continue
        _imshow(ax, images[i], cmap)
        if titles is not None:
            ax.set_title(str(titles[i]), fontsize=TITLE_SIZE)
        if masks is not None:
            mask = masks[i]
            if mask.shape != images[i].shape[:2]:
                raise ValueError(
                    f"mask {i} has shape {mask.shape} but image {i} is {images[i].shape[:2]}."
                )
            if mask.any() and not mask.all():  # a contour needs both inside and outside
                ax.contour(mask.astype(float), levels=[0.5], colors="yellow", linewidths=1)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def overlay_heatmap(image, heatmap, alpha=0.5, cmap="jet", ax=None, title=None, colorbar=False):
    """Lay a heatmap (saliency, Grad-CAM, ...) over an image.

    The heatmap is scaled to [0, 1] for display; a smaller heatmap (e.g. a 7x7 Grad-CAM)
    is upsampled bilinearly to the image size.

    Args:
        image: Tensor (C, H, W) or array (H, W, C) / (H, W), values in [0, 1].
        heatmap: Tensor or array (h, w).
        alpha: Opacity of the heatmap (0 = invisible, 1 = hides the image).
        cmap: Colormap of the heatmap.
        ax: Axes to draw on; a new figure is made when None.
        title: Optional title.
        colorbar: Add a colorbar for the heatmap.

    Returns:
        The matplotlib Axes.

    Example:
        >>> overlay_heatmap(photo, cam, title="Grad-CAM for 'cat'")
    """
    img = _to_hwc(image)
    heat = torch.as_tensor(_to_numpy(heatmap))
    while heat.ndim > 2 and heat.shape[0] == 1:  # accept (1, h, w) as produced by batches of 1
        heat = heat[0]
    if heat.ndim != 2:
        raise ValueError(f"heatmap has shape {tuple(heat.shape)}; expected (h, w).")
    if not torch.isfinite(heat).all():
        raise ValueError("heatmap contains NaN or infinite values.")
    size = img.shape[:2]
    if tuple(heat.shape) != size:
        heat = F.interpolate(heat[None, None], size=size, mode="bilinear", align_corners=False)
        heat = heat[0, 0]
    heat = heat - heat.min()
    if heat.max() > 0:  # a constant heatmap stays all zeros
        heat = heat / heat.max()

    if ax is None:
        _, ax = plt.subplots(figsize=(3, 3))
    _imshow(ax, img)
    im = ax.imshow(heat.numpy(), cmap=cmap, alpha=alpha, vmin=0, vmax=1)
    if title:
        ax.set_title(title, fontsize=TITLE_SIZE)
    if colorbar:
        ax.figure.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    return ax


def show_filters(weights, ncols=8, title=None, size=0.9) -> plt.Figure:
    """Show convolution filters as small images.

    Each filter is scaled to [0, 1] on its own, so compare patterns, not brightness
    between filters. A constant filter is shown as 0.5 gray.

    Args:
        weights: Tensor or array (K, C, kh, kw), e.g. ``model.conv1.weight``.
            C = 1 is shown in gray, C = 3 in color, other C as the mean over channels.
        ncols: Filters per row.
        title: Optional figure title.
        size: Size of one filter in inches.

    Returns:
        The matplotlib Figure.

    Example:
        >>> show_filters(model.conv1.weight, title="conv1 filters")
    """
    w = _to_numpy(weights)
    if w.ndim != 4:
        raise ValueError(
            f"weights has shape {w.shape}; expected (K, C, kh, kw), e.g. model.conv1.weight."
        )
    channels = w.shape[1]
    if channels not in (1, 3):
        w = w.mean(axis=1, keepdims=True)
        note = f"mean over {channels} input channels"
        title = f"{title} ({note})" if title else note
    filters = []
    for f in w:
        low, high = f.min(), f.max()
        scaled = (f - low) / (high - low) if high > low else np.full_like(f, 0.5)
        filters.append(scaled.transpose(1, 2, 0))  # (kh, kw, C) for imshow
    titles = [str(k) for k in range(len(filters))]
    return show_images(filters, titles=titles, ncols=ncols, suptitle=title, size=size)


def diverging_imshow(ax, array, title=None):
    """Show signed values (weights, gradients) with a colour scale symmetric around 0.

    Args:
        ax: Axes to draw on.
        array: Tensor or array (H, W).
        title: Optional title.

    Returns:
        The AxesImage (for example to reuse its colour scale).

    Example:
        >>> fig, ax = plt.subplots()
        >>> diverging_imshow(ax, model.fc.weight[3].reshape(28, 28), title="weights of class 3")
    """
    a = _to_numpy(array)
    if a.ndim != 2:
        raise ValueError(f"array has shape {a.shape}; expected (H, W).")
    m = float(np.abs(a).max()) or 1.0  # all zeros: any symmetric range will do
    im = ax.imshow(a, cmap="RdBu_r", vmin=-m, vmax=m)
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=TITLE_SIZE)
    ax.figure.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    return im


def hinton(ax, matrix, title=None):
    """Draw a Hinton diagram: one square per entry, its area proportional to the magnitude.

    Red squares are positive entries, blue ones negative (the course's colours for signed
    values); zero entries get no square. The largest magnitude fills 90% of its cell's
    width, so neighbouring squares never touch. Row 0 is at the top, as in a printed matrix.
    The axes keep their frame but get no ticks: add your own labels with ``ax.set_yticks``.

    Args:
        ax: Axes to draw on.
        matrix: Tensor or array (R, C), e.g. ``model.fc.weight`` (classes x features).
        title: Optional title.

    Returns:
        The Axes.

    Example:
        >>> fig, ax = plt.subplots(figsize=(12, 2))
        >>> hinton(ax, model.fc.weight, title="weights of the last layer")
    """
    m = _to_numpy(matrix)
    if m.ndim != 2:
        raise ValueError(f"matrix has shape {m.shape}; expected (R, C), e.g. model.fc.weight.")
    if not np.isfinite(m).all():
        raise ValueError("matrix contains NaN or infinite values.")
    biggest = float(np.abs(m).max()) if m.size else 0.0
    cmap = plt.get_cmap("RdBu_r")
    positive, negative = cmap(0.85), cmap(0.15)
    for (i, j), value in np.ndenumerate(m):
        if value == 0:
            continue
        # Area, not side, is proportional to |value|: the eye compares areas.
        side = 0.9 * math.sqrt(abs(value) / biggest)
        color = positive if value > 0 else negative
        ax.add_patch(plt.Rectangle((j - side / 2, i - side / 2), side, side, facecolor=color))
    rows, cols = m.shape
    ax.set_xlim(-0.5, cols - 0.5)
    ax.set_ylim(rows - 0.5, -0.5)
    ax.set_aspect("equal")
    ax.set_facecolor("whitesmoke")
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=TITLE_SIZE)
    return ax
