"""An activation atlas in miniature (Carter et al., *Activation Atlas*, Distill 2019).

Every position ``(i, j)`` of a convolutional layer's output ``(N, K, h, w)`` holds a
``K``-number vector that describes one image patch: the receptive field of that position.
An atlas collects many such vectors, lays them out in 2-D (t-SNE), cuts the layout into a
grid, averages the vectors of each cell, and draws every average by *feature
visualization*: a small image optimized until the layer's response at its centre points
the same way as the average. The steps, one function each:

1. :func:`patch_activations`: sample vectors ``(M, K)`` and their positions;
2. (t-SNE and a grid of your choice: ``cells`` of shape ``(M, 2)``);
3. :func:`cell_means`: the mean vector of every cell that holds enough points;
4. :func:`render_directions`: one picture per mean vector, all optimized at once;
5. :func:`nearest_positions` and :func:`crop_patches`: the real patches closest to each mean,
   to compare with the pictures; :func:`tile_grid` pastes tiles into one atlas image.

The model must run its layers one after another (``receptive.layers_up_to``), like the
course CNNs. Nothing here changes the model: modes, ``.grad`` and ``requires_grad`` stay.

Example:
    >>> vectors, positions = patch_activations(model, images, layer="relu2", n=1000)
    >>> coords = TSNE(n_components=2).fit_transform(vectors.numpy())  # (M, 2), scikit-learn
    >>> cells = embeddings.atlas_grid(coords, 10)                   # (M, 2) (row, col)
    >>> occupied, means, counts = cell_means(vectors, cells, min_count=4)
    >>> pictures = render_directions(model, means, layer="relu2")    # (C, 1, 18, 18)
    >>> real = crop_patches(model, images, positions[nearest_positions(vectors, means)[:, 0]],
    ...                     layer="relu2")                          # (C, 1, 18, 18)
    >>> plt.imshow(tile_grid(pictures, occupied, 10))
"""

from __future__ import annotations

import numbers

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .attribution import check_images, eval_mode
from .hooks import collect_activations
from .receptive import Window, _crop, layers_up_to, receptive_field, unit_window


def _int(value, name: str, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise ValueError(f"{name} must be an int >= {low}, got {value!r}.")
    return int(value)


def _vectors(vectors, name: str = "vectors") -> torch.Tensor:
    """A float ``(M, K)`` tensor with M >= 1 and finite values, or a clear error."""
    if isinstance(vectors, np.ndarray):
        vectors = torch.from_numpy(vectors)
    if not isinstance(vectors, torch.Tensor) or vectors.ndim != 2 or len(vectors) == 0:
        shape = tuple(vectors.shape) if hasattr(vectors, "shape") else type(vectors).__name__
        raise ValueError(f"{name} must be a (M, K) tensor with M >= 1, got {shape}.")
    vectors = vectors.detach().float().cpu()
    if not torch.isfinite(vectors).all():
        raise ValueError(f"{name} contains NaN or infinite values.")
    return vectors


def patch_activations(
    model: nn.Module,
    images: torch.Tensor,
    *,
    layer: str,
    n: int = 1000,
    min_norm: float = 0.0,
    seed: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """A random sample of the activation vectors of one layer, one per image position.

    Args:
        model: Any network; ``layer`` must output feature maps ``(N, K, h, w)``.
        images: ``(N, C, H, W)`` batch the model accepts.
        layer: Layer name (``hooks.layer_names(model)``).
        n: How many vectors to keep at most (drawn without replacement).
        min_norm: Positions whose vector is shorter than this (L2 norm) are left out:
            a blank background excites almost nothing.
        seed: Seeds the random draw.

    Returns:
        ``(vectors, positions)``: float ``(M, K)`` and int64 ``(M, 3)`` holding
        ``(image index, row i, column j)`` of each vector, with ``M = min(n, positions kept)``.

    Example:
        >>> vectors, positions = patch_activations(model, images, layer="relu2", n=500)
    """
    check_images(images, "images")
    n = _int(n, "n", 1)
    acts = collect_activations(model, layer, images)
    if acts.ndim != 4:
        raise ValueError(
            f"layer {layer!r} gives outputs of shape {tuple(acts.shape[1:])} per image; an "
            "atlas of patches needs a layer with (K, h, w) feature maps."
        )
    count, channels, height, width = acts.shape
    vectors = acts.permute(0, 2, 3, 1).reshape(-1, channels)  # row = (image, i, j)
    kept = torch.nonzero(vectors.norm(dim=1) >= min_norm).flatten()
    if len(kept) == 0:
        raise ValueError(f"no position of {layer!r} has a norm >= min_norm={min_norm}; lower it.")
    generator = torch.Generator().manual_seed(seed)
    chosen = kept[torch.randperm(len(kept), generator=generator)[:n]].sort().values
    image, place = chosen // (height * width), chosen % (height * width)
    positions = torch.stack([image, place // width, place % width], dim=1)
    return vectors[chosen].clone(), positions


def cell_means(vectors, cells, *, min_count: int = 3):
    """The mean vector of each grid cell that holds at least ``min_count`` points.

    Args:
        vectors: ``(M, K)`` activation vectors.
        cells: Integer ``(M, 2)``: the ``(row, col)`` cell of each vector (an ``atlas_grid``).
        min_count: Cells with fewer points are skipped: an average of one or two vectors is
            a single example, not a region of the layout.

    Returns:
        ``(occupied, means, counts)``: int64 ``(C, 2)`` cells in row-major order, float
        ``(C, K)`` their mean vectors, int64 ``(C,)`` the number of points in each.

    Example:
        >>> occupied, means, counts = cell_means(vectors, atlas_grid(coords, 10), min_count=4)
    """
    vectors = _vectors(vectors)
    cells = torch.as_tensor(np.asarray(cells))
    if cells.shape != (len(vectors), 2) or cells.is_floating_point() or cells.is_complex():
        raise ValueError(
            f"cells must be an integer (M, 2) array of (row, col), one per vector "
            f"(M = {len(vectors)}); got {tuple(cells.shape)} of {cells.dtype}."
        )
    min_count = _int(min_count, "min_count", 1)
    occupied, inverse, counts = torch.unique(
        cells.long(), dim=0, return_inverse=True, return_counts=True
    )
    sums = torch.zeros(len(occupied), vectors.shape[1]).index_add_(0, inverse, vectors)
    keep = counts >= min_count
    if not keep.any():
        raise ValueError(f"no cell holds {min_count} points; use a coarser grid or more points.")
    return occupied[keep], sums[keep] / counts[keep, None], counts[keep]


def nearest_positions(vectors, means, k: int = 1) -> torch.Tensor:
    """For every mean, the indices of the ``k`` vectors closest to it (Euclidean distance).

    Args:
        vectors: ``(M, K)`` activation vectors; means: ``(C, K)``; k: 1 <= k <= M.

    Returns:
        int64 ``(C, k)``, nearest first.

    Example:
        >>> best = nearest_positions(vectors, means)[:, 0]       # (C,)
    """
    vectors, means = _vectors(vectors), _vectors(means, "means")
    if means.shape[1] != vectors.shape[1]:
        raise ValueError(f"means have {means.shape[1]} numbers each, vectors {vectors.shape[1]}.")
    if _int(k, "k", 1) > len(vectors):
        raise ValueError(f"k={k} is more than the {len(vectors)} vectors.")
    return torch.cdist(means, vectors).topk(k, dim=1, largest=False).indices


def _geometry(model: nn.Module, layer: str, margin: int):
    """The chain of layers up to ``layer``, and where a centred unit sits.

    Returns ``(chain, centre, size)``: unit ``(centre, centre)`` of ``layer`` sees the middle
    of a ``size x size`` input, with at least ``margin`` pixels around its receptive field.
    """
    chain = nn.Sequential(*layers_up_to(model, layer))  # unknown names: UnknownLayerError
    margin = _int(margin, "margin", 0)
    try:
        size, stride, start = receptive_field(chain)
    except TypeError as error:  # a Linear, Flatten, ... before the layer
        raise ValueError(
            f"layer {layer!r} does not keep image positions, so it has no patches to draw: "
            f"pick a convolution, pooling or ReLU layer that comes before them. ({error})"
        ) from None
    centre = -((start - margin) // stride)  # the first unit whose window starts at >= margin
    top = start + centre * stride
    return chain, centre, size + 2 * top


def crop_patches(
    model: nn.Module, images: torch.Tensor, positions, *, layer: str, margin: int = 2
) -> torch.Tensor:
    """The image patches behind some positions of ``layer``: each receptive field plus a
    border, cut exactly like the inputs :func:`render_directions` makes (zeros outside).

    Args:
        model, layer: As in :func:`render_directions`.
        images: ``(N, C, H, W)`` the positions come from.
        positions: int ``(P, 3)`` rows ``(image index, i, j)`` (from :func:`patch_activations`).
        margin: Minimum border around the receptive field, in pixels.

    Returns:
        ``(P, C, S, S)`` patches, ``S`` as in :func:`render_directions`.

    Example:
        >>> patches = crop_patches(model, images, positions[:8], layer="relu2")
    """
    check_images(images, "images")
    chain, centre, size = _geometry(model, layer, margin)
    positions = torch.as_tensor(positions)
    if positions.ndim != 2 or positions.shape[1] != 3 or positions.is_floating_point():
        raise ValueError(f"positions must be int (P, 3) rows (image, i, j), got {positions!r}.")
    field = receptive_field(chain)
    patches = []
    for image, i, j in positions.tolist():
        window = unit_window(field, i, j)
        border = (size - window.size) // 2
        patches.append(
            _crop(images[image], Window(window.top - border, window.left - border, size))
        )
    return torch.stack(patches)


def aligned_objective(acts: torch.Tensor, directions: torch.Tensor, power: float = 4.0):
    """Carter's objective ``dot(a, v) * cos(a, v) ** power`` for every row, ``v`` of length 1.

    The dot product rewards a strong response along ``v``; the cosine (floored at 0.1 so
    a response pointing away still has a gradient to follow) rewards pointing the same way
    rather than just being large.

    Args:
        acts: ``(T, K)`` responses; directions: ``(T, K)``; power: the cosine's exponent.

    Returns:
        ``(T,)`` objective values.
    """
    unit = F.normalize(directions, dim=1)
    dot = (acts * unit).sum(dim=1)
    cos = dot / acts.norm(dim=1).clamp(min=1e-8)
    return dot * cos.clamp(min=0.1) ** power


def _open_relu(x: torch.Tensor) -> torch.Tensor:
    """The values of ``relu(x)``, but a gradient of 0.1 instead of 0 where ``x < 0``: a unit
    silent on the starting image would otherwise never get a direction to move in."""
    closed = (x < 0).to(x.dtype)
    return x.clamp(min=0) + 0.1 * closed * (x - x.detach())


def render_directions(
    model: nn.Module,
    directions,
    *,
    layer: str,
    margin: int = 2,
    steps: int = 120,
    lr: float = 0.1,
    power: float = 4.0,
    coarse: int = 6,
    jitter_px: int = 2,
    init_std: float = 0.5,
    seed: int = 0,
) -> torch.Tensor:
    """Feature visualization of activation vectors: one small image per direction.

    Each image is ``sigmoid`` of a ``coarse x coarse`` grid of numbers, enlarged smoothly
    (bilinear), so it has no pixel noise. At every Adam step the network sees a random
    ``S x S`` window of an image ``2 * jitter_px`` pixels larger (a shift of up to
    ``jitter_px``), and the objective :func:`aligned_objective` of the centre unit's
    response is raised, for all directions at once. During the first quarter of the steps
    the ReLUs let a tenth of the gradient through where they are closed, so that a direction
    the random start does not excite at all can still be reached. The centre window is
    returned.

    Args:
        model: A network whose layers run one after another, taking images in [0, 1].
        directions: ``(T, K)`` vectors to draw (``K`` = channels of ``layer``), e.g. the
            means of :func:`cell_means`.
        layer: A layer with feature maps (``hooks.layer_names(model)``).
        margin: Minimum border around the receptive field (the image side ``S`` is the
            receptive field plus about twice this).
        steps, lr: Adam steps (0: the random start) and learning rate.
        power: Exponent of the cosine in the objective (0: plain dot product).
        coarse: Side of the grid the image is enlarged from (smaller: smoother).
        jitter_px: Largest random shift per step, in pixels.
        init_std: Spread of the random start (0 starts from flat dark grey).
        seed: Seeds the start and the shifts.

    Returns:
        ``(T, C, S, S)`` images in [0, 1], ``C`` the model's input channels.

    Example:
        >>> pictures = render_directions(model, means, layer="relu2")   # (T, 1, 18, 18)
    """
    directions = _vectors(directions, "directions")
    chain, centre, size = _geometry(model, layer, margin)
    convs = [m for m in chain if isinstance(m, nn.Conv2d)]
    if not convs:
        raise ValueError(f"no convolution runs up to {layer!r}: nothing to render.")
    _int(steps, "steps", 0), _int(coarse, "coarse", 1), _int(jitter_px, "jitter_px", 0)
    if not all(isinstance(v, numbers.Real) and v >= 0 for v in (lr, power, init_std)):
        raise ValueError(f"lr, power and init_std must be numbers >= 0, got {lr, power, init_std}.")
    big = size + 2 * jitter_px
    generator = torch.Generator().manual_seed(seed)
    shape = (len(directions), convs[0].in_channels, coarse, coarse)
    latent = (init_std * torch.randn(shape, generator=generator) - 1.0).requires_grad_(True)
    optimizer = torch.optim.Adam([latent], lr=lr)

    def image(latent):
        big_image = F.interpolate(latent, size=(big, big), mode="bilinear", align_corners=False)
        return torch.sigmoid(big_image)

    with eval_mode(model), torch.enable_grad():
        for step in range(steps):
            dy, dx = torch.randint(0, 2 * jitter_px + 1, (2,), generator=generator).tolist()
            acts = image(latent)[:, :, dy : dy + size, dx : dx + size]
            for module in chain:  # early on, closed ReLUs pass a little gradient
                opened = isinstance(module, nn.ReLU) and step < steps // 4
                acts = _open_relu(acts) if opened else module(acts)
            if acts.ndim != 4 or acts.shape[1] != directions.shape[1]:
                raise ValueError(
                    f"layer {layer!r} gives outputs of shape {tuple(acts.shape[1:])}; the "
                    f"directions need (K, h, w) maps with K = {directions.shape[1]}."
                )
            value = aligned_objective(acts[:, :, centre, centre], directions, power).sum()
            (latent.grad,) = torch.autograd.grad(-value, latent)  # weights' .grad untouched
            optimizer.step()
    with torch.no_grad():
        return image(latent)[:, :, jitter_px : jitter_px + size, jitter_px : jitter_px + size]


@torch.no_grad()
def centre_objective(
    model: nn.Module, patches: torch.Tensor, directions, *, layer: str, power: float = 4.0
) -> torch.Tensor:
    """:func:`aligned_objective` of the centre unit for patches made by :func:`crop_patches`
    or :func:`render_directions`: how well each patch expresses its direction.

    Returns:
        ``(T,)`` values, one per patch / direction pair.
    """
    check_images(patches, "patches")
    directions = _vectors(directions, "directions")
    chain, _, _ = _geometry(model, layer, 0)
    size, stride, start = receptive_field(chain)
    centre = ((patches.shape[-1] - size) // 2 - start) // stride  # the unit seeing the middle
    with eval_mode(model):
        acts = chain(patches)[:, :, centre, centre]
    return aligned_objective(acts, directions, power)


def tile_grid(tiles: torch.Tensor, cells, n: int, *, gap: int = 1, fill: float = 0.5):
    """Paste one tile per occupied cell into an ``n x n`` atlas image.

    Args:
        tiles: ``(C, channels, S, S)`` images in [0, 1]; cells: int ``(C, 2)`` (row, col).
        n: Cells per side; gap: pixels between tiles; fill: grey of empty cells and gaps.

    Returns:
        NumPy ``(n * (S + gap), n * (S + gap), channels)`` image, ready for ``plt.imshow``
        (squeeze the last axis of a grayscale atlas).
    """
    check_images(tiles, "tiles")
    cells = np.asarray(cells)
    if cells.shape != (len(tiles), 2):
        raise ValueError(f"cells must have shape ({len(tiles)}, 2), got {cells.shape}.")
    step = tiles.shape[-1] + gap
    atlas = np.full((n * step, n * step, tiles.shape[1]), fill, dtype=np.float32)
    for tile, (row, col) in zip(tiles, cells.tolist()):
        atlas[
            row * step : row * step + tiles.shape[-2], col * step : col * step + tiles.shape[-1]
        ] = tile.permute(1, 2, 0).numpy()
    return atlas
