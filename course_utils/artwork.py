"""Colourful, strongly textured "paintings" drawn in code, as style images for lesson 10.

The bundled photographs have few painting-like textures, and nothing may be downloaded,
so the course paints its own: :func:`brush_strokes` (short curved strokes in a few
saturated colours) and :func:`mosaic` (irregular tiles with dark grout). Both are
deterministic given ``seed``.
"""

from __future__ import annotations

import numpy as np
import torch
from skimage.draw import disk, line_aa
from skimage.filters import gaussian
from skimage.segmentation import find_boundaries

# A few palettes of saturated colours (RGB in [0, 1]), one per painting style.
PALETTES = {
    "sunset": ((0.98, 0.55, 0.1), (0.85, 0.15, 0.25), (0.35, 0.1, 0.45), (1.0, 0.85, 0.3)),
    "sea": ((0.05, 0.3, 0.65), (0.1, 0.65, 0.75), (0.95, 0.95, 0.85), (0.15, 0.45, 0.3)),
    "starry": ((0.08, 0.12, 0.4), (0.2, 0.4, 0.85), (0.95, 0.85, 0.25), (0.6, 0.8, 0.95)),
}


def _palette(name: str) -> np.ndarray:
    if name not in PALETTES:
        raise ValueError(f"unknown palette {name!r}. Available palettes: {', '.join(PALETTES)}")
    return np.array(PALETTES[name])


def _check_size(size: int) -> None:
    if not isinstance(size, int) or size < 16:
        raise ValueError(f"size must be an integer of at least 16 pixels, got {size!r}")


def brush_strokes(
    size: int = 128, palette: str = "starry", n_strokes: int | None = None, seed: int = 0
) -> torch.Tensor:
    """A canvas covered in short, thick, curved brush strokes that follow a swirling flow.

    Args:
        size: side of the square image in pixels.
        palette: one of :data:`PALETTES`.
        n_strokes: how many strokes (default: enough to cover the canvas several times).
        seed: fixes the painting.

    Returns:
        ``(3, size, size)`` float tensor in [0, 1].

    Example:
        >>> style = brush_strokes(128, "starry")
    """
    _check_size(size)
    colors = _palette(palette)
    rng = np.random.default_rng(seed)
    n_strokes = n_strokes or size * size // 12
    canvas = np.ones((size, size, 3)) * colors[0]
    centre = rng.uniform(0.3, 0.7, size=2) * size
    length, width = max(4, size // 12), max(1, size // 64)
    for _ in range(n_strokes):
        y, x = rng.uniform(0, size, size=2)
        # The strokes circle around a centre, like wind in a swirl, with some jitter.
        angle = np.arctan2(y - centre[0], x - centre[1]) + np.pi / 2 + rng.normal(0, 0.3)
        color = np.clip(colors[rng.integers(len(colors))] + rng.normal(0, 0.06, 3), 0, 1)
        for offset in range(-width, width + 1):
            oy, ox = offset * np.cos(angle), -offset * np.sin(angle)
            y1, x1 = y + length * np.sin(angle), x + length * np.cos(angle)
            rr, cc, value = line_aa(*(int(round(v)) for v in (y + oy, x + ox, y1 + oy, x1 + ox)))
            keep = (rr >= 0) & (rr < size) & (cc >= 0) & (cc < size)
            rr, cc, value = rr[keep], cc[keep], value[keep, None]
            canvas[rr, cc] = (1 - value) * canvas[rr, cc] + value * color
    canvas = gaussian(canvas, sigma=0.5, channel_axis=-1)
    return torch.tensor(canvas, dtype=torch.float32).permute(2, 0, 1).clamp(0, 1)


def mosaic(size: int = 128, palette: str = "sea", n_tiles: int | None = None, seed: int = 0):
    """Irregular coloured tiles (a Voronoi pattern) separated by dark grout.

    Args and Returns: as in :func:`brush_strokes`; ``n_tiles`` defaults to about one tile
    per 8 x 8 pixels.
    """
    _check_size(size)
    colors = _palette(palette)
    rng = np.random.default_rng(seed)
    n_tiles = n_tiles or max(4, size * size // 64)
    centres = rng.uniform(0, size, size=(n_tiles, 2))
    yy, xx = np.mgrid[:size, :size]
    distances = (yy[..., None] - centres[:, 0]) ** 2 + (xx[..., None] - centres[:, 1]) ** 2
    labels = distances.argmin(axis=-1)
    tile_colors = colors[rng.integers(len(colors), size=n_tiles)]
    tile_colors = np.clip(tile_colors + rng.normal(0, 0.08, tile_colors.shape), 0, 1)
    canvas = tile_colors[labels]
    canvas[find_boundaries(labels, mode="thick")] = (0.12, 0.1, 0.08)
    for _ in range(size // 8):  # a few round glass pieces catch the light
        rr, cc = disk(tuple(rng.uniform(0, size, 2)), max(1, size // 64), shape=(size, size))
        canvas[rr, cc] = 0.95
    return torch.tensor(canvas, dtype=torch.float32).permute(2, 0, 1).clamp(0, 1)
