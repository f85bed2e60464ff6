"""Occlusion (Zeiler and Fergus 2014): cover part of the image and watch the score drop.

No gradients at all: a grey (or black, or blurred) square slides over the image, and every
position costs one forward pass. Where covering the image lowers the class score most is
where the model looks. Slow, but it asks the model directly.

Example:
    >>> model = load_model("shapes_anywhere")
    >>> data = load_anywhere("test")
    >>> maps = occlusion(model, data.images[:4], data.labels[:4], window=16, stride=8)
    >>> maps.shape
    torch.Size([4, 96, 96])
"""

from __future__ import annotations

import numbers

import torch
from torch import nn

from .attribution import Target, check_images, eval_mode, resolve_targets


def baseline_images(baseline, x: torch.Tensor) -> torch.Tensor:
    """The images ``(N, C, H, W)`` that stand for "nothing there", one per image of ``x``.

    Args:
        baseline: ``None`` (zeros: a black image), a number (a constant image of that
            value), one image ``(C, H, W)`` for all, or one per image ``(N, C, H, W)``.
        x: the images ``(N, C, H, W)`` to be explained.

    Returns:
        ``(N, C, H, W)`` tensor on the device and with the dtype of ``x``, detached.

    Example:
        >>> baseline_images(0.5, torch.zeros(2, 3, 8, 8)).shape
        torch.Size([2, 3, 8, 8])
    """
    if baseline is None:
        return torch.zeros_like(x)
    if isinstance(baseline, numbers.Real) and not isinstance(baseline, bool):
        return torch.full_like(x, float(baseline))
    if not isinstance(baseline, torch.Tensor):
        raise TypeError(
            f"baseline must be None, a number or a tensor, got {type(baseline).__name__}"
        )
    if tuple(baseline.shape) not in (tuple(x.shape), tuple(x.shape[1:])):
        raise ValueError(
            f"baseline must have shape (C, H, W) = {tuple(x.shape[1:])} or (N, C, H, W) = "
            f"{tuple(x.shape)} like x, got {tuple(baseline.shape)}"
        )
    return baseline.detach().to(x).expand_as(x)


def window_starts(size: int, window: int, stride: int) -> list[int]:
    """Where a window of side ``window`` starts along a side of ``size`` pixels: every
    ``stride`` pixels while it fits, and always at ``size - window`` too, so that every
    pixel is covered (``window_starts(10, 4, 4) == [0, 4, 6]``)."""
    starts = list(range(0, size - window + 1, stride))
    if starts[-1] != size - window:
        starts.append(size - window)
    return starts


def _check_positive_int(value, name: str) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def occlusion(
    model: nn.Module,
    x: torch.Tensor,
    target: Target = None,
    *,
    window: int = 12,
    stride: int = 6,
    baseline=0.0,
    batch_size: int = 64,
) -> torch.Tensor:
    """How much the target class's score drops when a square around each pixel is hidden.

    A ``window x window`` square (all channels) slides over the image, ``stride`` pixels at
    a time, and is replaced by the baseline's pixels there. Each pixel gets the mean drop
    ``score(x) - score(occluded)`` of all the windows that cover it: positive where hiding
    the pixel hurts the class, negative where it helps.

    Args:
        model: classifier returning ``(N, n_classes)`` scores (logits, not probabilities).
        x: images ``(N, C, H, W)``; not modified.
        target: the class to explain: one int, ``N`` of them, or ``None`` for the prediction.
        window: side of the square in pixels, at most ``min(H, W)``.
        stride: pixels between neighbouring windows; the last window always touches the
            image's bottom and right edges (see :func:`window_starts`).
        baseline: what is put in the window: a number, an image ``(C, H, W)``, or one image
            per input ``(N, C, H, W)`` (see :func:`baseline_images`).
        batch_size: occluded images per forward pass (bounds the memory used).

    Returns:
        ``(N, H, W)`` map of score drops, in the units of the score.

    Example:
        >>> occlusion(model, images, labels, window=16, stride=8).shape
        torch.Size([8, 96, 96])
    """
    x = check_images(x).detach()
    height, width = x.shape[2:]
    _check_positive_int(window, "window")
    _check_positive_int(stride, "stride")
    _check_positive_int(batch_size, "batch_size")
    if window > min(height, width):
        raise ValueError(
            f"window must fit in the image: at most {min(height, width)}, got {window}"
        )
    baseline = baseline_images(baseline, x)
    # BEGIN EXERCISE 07_faithfulness
    tops = torch.tensor(window_starts(height, window, stride), device=x.device)
    lefts = torch.tensor(window_starts(width, window, stride), device=x.device)
    rows, cols = torch.arange(height, device=x.device), torch.arange(width, device=x.device)
    # in_rows[t, r]: row r lies in a window starting at row tops[t]; the same for columns.
    in_rows = (rows >= tops[:, None]) & (rows < tops[:, None] + window)
    in_cols = (cols >= lefts[:, None]) & (cols < lefts[:, None] + window)
    n, n_windows = len(x), len(tops) * len(lefts)
    total = x.new_zeros(n, height, width)
    with eval_mode(model), torch.no_grad():
        scores = torch.cat([model(x[i : i + batch_size]) for i in range(0, n, batch_size)])
        targets = resolve_targets(target, scores)
        original = scores.gather(1, targets[:, None])[:, 0]
        # Every (window, image) pair is one occluded image: pair p is window p // n of
        # image p % n. They go through the network batch_size at a time.
        for start in range(0, n_windows * n, batch_size):
            pairs = torch.arange(start, min(start + batch_size, n_windows * n), device=x.device)
            windows, images = pairs // n, pairs % n
            inside = (
                in_rows[windows // len(lefts)][:, :, None]
                & in_cols[windows % len(lefts)][:, None, :]
            )  # (B, H, W)
            occluded = torch.where(inside[:, None], baseline[images], x[images])
            new_scores = model(occluded).gather(1, targets[images, None])[:, 0]
            drops = original[images] - new_scores
            total.index_add_(0, images, drops[:, None, None] * inside)
    # How many windows cover each pixel: the windows form a grid of tops x lefts.
    counts = in_rows.sum(dim=0)[:, None] * in_cols.sum(dim=0)[None, :]
    maps = total / counts
    # END EXERCISE
    return maps
