"""Look at a layer's activations as points: project them, measure class separation, lay them out.

The activations of N images at one layer, flattened to a matrix ``(N, D)``, are N points in a
D-dimensional space. These helpers take such a matrix (a NumPy array or a CPU tensor) and return
NumPy arrays. Lesson 03 asks you to write each of them yourself.

Example:
    >>> feats = collect_activations(model, "relu3", images).flatten(1).numpy()   # (N, 64)
    >>> coords, ratio = pca(feats, 2)          # (N, 2), (2,)
    >>> knn_accuracy(coords, labels, k=5)      # a float in [0, 1]
    >>> cells = atlas_grid(coords, 10)         # (N, 2) integer (row, col)
"""

import numbers

import numpy as np
import torch


def _as_points(X, name: str) -> np.ndarray:
    """(N, D) array or tensor -> float64 array, with a clear error for anything else."""
    if isinstance(X, torch.Tensor):
        X = X.detach().cpu().numpy()
    try:
        X = np.asarray(X, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(
            f"{name} must be a NumPy array or tensor of numbers, got {type(X).__name__}."
        ) from None
    if X.ndim != 2 or X.shape[0] == 0:
        raise ValueError(
            f"{name} has shape {X.shape}; expected (N, D) with N >= 1: one row per point "
            "(flatten activations with .flatten(1) or .reshape(len(x), -1))."
        )
    if not np.isfinite(X).all():
        raise ValueError(f"{name} contains NaN or infinite values.")
    return X


def _as_int(value, name: str, low: int, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}.")
    if value < low or (high is not None and value > high):
        upper = "" if high is None else f" and at most {high}"
        raise ValueError(f"{name} must be at least {low}{upper}, got {value}.")
    return int(value)


def pca(X, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Principal component analysis by singular value decomposition.

    The data are centred (the mean of each column is subtracted), then
    ``Xc = U S Vt``. The rows of ``Vt`` are the principal directions, and the projections are
    ``Xc @ Vt[:k].T`` (equal to ``U[:, :k] * S[:k]``). The variance along component ``i`` is
    proportional to ``S[i] ** 2``, so its share of the total variance is
    ``S[i] ** 2 / (S ** 2).sum()``. As in every PCA, the sign of each component is arbitrary.

    Args:
        X: Array or tensor (N, D), one point per row.
        k: Number of components, 1 <= k <= min(N, D).

    Returns:
        ``(projections, explained_variance_ratio)``: arrays (N, k) and (k,). The ratios are
        decreasing and sum to at most 1. They match ``sklearn.decomposition.PCA(k)``'s
        ``fit_transform`` and ``explained_variance_ratio_`` (projections up to sign).

    Raises:
        ValueError: X is not (N, D), contains NaN, has no variance, or k is out of range.

    Example:
        >>> coords, ratio = pca(feats, 2)
        >>> print(f"2 components keep {ratio.sum():.0%} of the variance")
    """
    # BEGIN EXERCISE 03_embeddings
    X = _as_points(X, "X")
    k = _as_int(k, "k", 1, min(X.shape))
    centred = X - X.mean(axis=0)
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    variance = s**2
    total = variance.sum()
    if total <= 0:
        raise ValueError("All rows of X are identical: there is no variance to project.")
    # END EXERCISE
    return centred @ vt[:k].T, variance[:k] / total


def knn_accuracy(Z, y, k: int = 5) -> float:
    """Leave-one-out k-nearest-neighbour accuracy: how well a point's neighbours predict its class.

    For every point, its ``k`` nearest *other* points (Euclidean distance; the point itself
    never counts) vote, and the class with most votes is the prediction. A tie between classes
    goes to the smallest label. Equal distances are ordered by the points' index.

    Args:
        Z: Array or tensor (N, d), one point per row (an embedding or raw activations).
        y: Integer labels (N,).
        k: Number of neighbours, 1 <= k <= N - 1.

    Returns:
        The fraction of points whose prediction equals their label, a float in [0, 1].

    Raises:
        ValueError: bad shapes, labels that are not integers, or k out of range.

    Example:
        >>> knn_accuracy(coords, labels, k=5)     # e.g. 0.96
    """
    # BEGIN EXERCISE 03_embeddings
    Z = _as_points(Z, "Z")
    if isinstance(y, torch.Tensor):
        y = y.detach().cpu().numpy()
    y = np.asarray(y)
    if y.shape != (len(Z),):
        raise ValueError(f"y has shape {y.shape}; expected ({len(Z)},), one label per row of Z.")
    if not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"y must hold integer class labels, got dtype {y.dtype}.")
    k = _as_int(k, "k", 1, len(Z) - 1)

    squared = (Z**2).sum(axis=1)
    distances = squared[:, None] + squared[None, :] - 2 * Z @ Z.T
    np.fill_diagonal(distances, np.inf)  # leave one out: a point is not its own neighbour
    neighbours = np.argsort(distances, axis=1, kind="stable")[:, :k]
    classes, codes = np.unique(y, return_inverse=True)  # sorted, so argmax picks the smallest
    votes = np.zeros((len(Z), len(classes)), dtype=np.int64)
    np.add.at(votes, (np.arange(len(Z))[:, None], codes[neighbours]), 1)
    predicted = classes[votes.argmax(axis=1)]
    accuracy = float((predicted == y).mean())
    # END EXERCISE
    return accuracy


def atlas_grid(Z, n: int) -> np.ndarray:
    """Assign 2-D points to the cells of an n x n grid laid over their bounding box.

    With ``x`` and ``y`` the two columns of ``Z``, the grid spans
    ``[x.min(), x.max()] x [y.min(), y.max()]`` and is numbered like an image:
    row 0 at the top (largest y), column 0 on the left (smallest x)::

        col = floor(n * (x - x.min()) / (x.max() - x.min()))
        row = floor(n * (y.max() - y) / (y.max() - y.min()))

    Points on the right or bottom edge would get index ``n``; they go to the last cell,
    ``n - 1``. When all points share one x (or y), they all get column (or row) 0.

    Args:
        Z: Array or tensor (N, 2), e.g. a t-SNE map.
        n: Number of rows and of columns, n >= 1.

    Returns:
        Integer array (N, 2): the (row, col) of each point, both in [0, n - 1].

    Example:
        >>> atlas_grid(np.array([[0.0, 0.0], [1.0, 1.0]]), 2)
        array([[1, 0],
               [0, 1]])
    """
    # BEGIN EXERCISE 03_embeddings
    Z = _as_points(Z, "Z")
    if Z.shape[1] != 2:
        raise ValueError(f"Z has shape {Z.shape}; expected (N, 2), one 2-D point per row.")
    n = _as_int(n, "n", 1)
    low, high = Z.min(axis=0), Z.max(axis=0)
    span = np.where(high > low, high - low, 1.0)  # a flat axis: everything in cell 0
    col = np.floor(n * (Z[:, 0] - low[0]) / span[0])
    row = np.floor(n * (high[1] - Z[:, 1]) / span[1])
    cells = np.clip(np.stack([row, col], axis=1), 0, n - 1).astype(np.int64)
    # END EXERCISE
    return cells
