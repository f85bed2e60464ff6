"""Tests of course_utils.embeddings, against scikit-learn and against brute-force loops."""

import numpy as np
import pytest
import torch
from sklearn.decomposition import PCA
from sklearn.model_selection import LeaveOneOut, cross_val_score
from sklearn.neighbors import KNeighborsClassifier

from course_utils.embeddings import atlas_grid, knn_accuracy, pca


def blobs(n_per_class=20, n_classes=4, dim=5, spread=1.5, seed=0):
    """Overlapping Gaussian clusters: separable enough to be interesting, not perfectly."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 2, size=(n_classes, dim))
    y = np.repeat(np.arange(n_classes), n_per_class)
    X = centres[y] + rng.normal(0, spread, size=(len(y), dim))
    return X, y


def align_signs(result, expected):
    """Flip each column of result to point the same way as the matching column of expected."""
    signs = np.sign((result * expected).sum(axis=0))
    signs[signs == 0] = 1
    return result * signs


# --- pca -------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape, k", [((60, 7), 3), ((15, 40), 5), ((30, 4), 4), ((8, 3), 1)])
def test_pca_matches_sklearn_up_to_sign(shape, k):
    rng = np.random.default_rng(1)
    # Correlated columns and a large offset: centering and the order of components matter.
    X = rng.normal(size=shape) @ rng.normal(size=(shape[1], shape[1])) + 50
    coords, ratio = pca(X, k)
    reference = PCA(n_components=k).fit(X)
    assert coords.shape == (shape[0], k) and ratio.shape == (k,)
    np.testing.assert_allclose(
        align_signs(coords, reference.transform(X)), reference.transform(X), atol=1e-8
    )
    np.testing.assert_allclose(ratio, reference.explained_variance_ratio_, atol=1e-10)


def test_pca_ratios_decrease_and_sum_to_one_with_all_components():
    X, _ = blobs()
    coords, ratio = pca(X, 5)
    assert np.all(np.diff(ratio) <= 1e-12)
    assert ratio.sum() == pytest.approx(1.0)
    # Projections onto orthogonal directions are uncorrelated, with variance = share * total.
    covariance = np.cov(coords, rowvar=False)
    np.testing.assert_allclose(covariance, np.diag(np.diag(covariance)), atol=1e-9)
    total = np.var(X, axis=0, ddof=1).sum()
    np.testing.assert_allclose(np.diag(covariance), ratio * total, rtol=1e-9)


def test_pca_of_points_on_a_line():
    t = np.linspace(-2, 3, 11)
    X = np.outer(t, [1.0, 2.0, 2.0]) + [10.0, -3.0, 7.0]  # direction of length 3
    coords, ratio = pca(X, 1)
    np.testing.assert_allclose(np.abs(coords[:, 0]), np.abs(3 * (t - t.mean())), atol=1e-10)
    np.testing.assert_allclose(ratio, [1.0])


def test_pca_accepts_tensors_and_leaves_input_alone():
    X = torch.randn(12, 6, generator=torch.Generator().manual_seed(3)) + 4
    before = X.clone()
    coords, ratio = pca(X, 2)
    assert isinstance(coords, np.ndarray) and isinstance(ratio, np.ndarray)
    assert torch.equal(X, before)
    expected, _ = pca(X.numpy(), 2)
    np.testing.assert_allclose(coords, expected, atol=1e-6)


@pytest.mark.parametrize(
    "X, k, error, words",
    [
        (np.ones(5), 1, ValueError, "(N, D)"),
        (np.zeros((0, 3)), 1, ValueError, "N >= 1"),
        (np.random.rand(5, 3), 0, ValueError, "at least 1"),
        (np.random.rand(5, 3), 4, ValueError, "at most 3"),
        (np.random.rand(5, 3), 2.0, TypeError, "int"),
        (np.array([[1.0, np.nan], [2.0, 3.0]]), 1, ValueError, "NaN"),
        (np.ones((4, 3)), 1, ValueError, "identical"),
        ("abc", 1, TypeError, "array"),
    ],
)
def test_pca_rejects_bad_input(X, k, error, words):
    with pytest.raises(error, match=words.replace("(", r"\(").replace(")", r"\)")):
        pca(X, k)


# --- knn_accuracy ----------------------------------------------------------------------------


def brute_force_knn(Z, y, k):
    """The definition, one point at a time."""
    correct = 0
    for i in range(len(Z)):
        distances = [(np.sum((Z[i] - Z[j]) ** 2), j) for j in range(len(Z)) if j != i]
        nearest = [j for _, j in sorted(distances)[:k]]
        counts = np.bincount(y[nearest], minlength=y.max() + 1)
        correct += int(counts.argmax() == y[i])
    return correct / len(Z)


@pytest.mark.parametrize("k", [1, 2, 3, 4, 7])
def test_knn_matches_brute_force(k):
    Z, y = blobs(n_per_class=15, seed=k)
    assert knn_accuracy(Z, y, k) == pytest.approx(brute_force_knn(Z, y, k))


@pytest.mark.parametrize("k", [1, 5])
def test_knn_matches_sklearn_leave_one_out(k):
    Z, y = blobs(n_per_class=12, n_classes=3, dim=3, seed=10 + k)
    # An odd k and 3 classes can still tie; sklearn also breaks ties by the smallest label.
    reference = cross_val_score(KNeighborsClassifier(k), Z, y, cv=LeaveOneOut()).mean()
    assert knn_accuracy(Z, y, k) == pytest.approx(reference)


def test_knn_leaves_the_point_itself_out():
    # Pairs of points of alternating labels: the nearest *other* point always has the other label.
    Z = np.array([[0.0, 0.0], [0.1, 0.0], [5.0, 0.0], [5.1, 0.0]])
    y = np.array([0, 1, 0, 1])
    assert knn_accuracy(Z, y, 1) == 0.0


def test_knn_ties_go_to_the_smallest_label():
    # The middle point's two neighbours, at distances 1 and 2, have labels 2 and 0: a tie.
    Z = np.array([[0.0], [-1.0], [2.0], [50.0], [51.0], [52.0]])
    y = np.array([0, 2, 0, 2, 2, 2])
    # Point 0: tie 2 vs 0 -> 0, correct. Point 1: neighbours 0 (0) and 2 (0) -> 0, wrong.
    # Point 2: neighbours 0 (0) and 1 (2) -> tie -> 0, correct. Points 3-5: 2, correct.
    assert knn_accuracy(Z, y, 2) == pytest.approx(5 / 6)
    assert knn_accuracy(Z, y + 1, 2) == pytest.approx(5 / 6)  # labels need not start at 0


def test_knn_accepts_tensors_and_returns_a_float():
    Z, y = blobs(n_per_class=5)
    result = knn_accuracy(torch.tensor(Z), torch.tensor(y), 3)
    assert isinstance(result, float) and 0 <= result <= 1
    assert result == knn_accuracy(Z, y, 3)


@pytest.mark.parametrize(
    "y, k, error, words",
    [
        (np.zeros(4, dtype=int), 1, ValueError, "expected"),
        (np.zeros(5), 1, ValueError, "integer"),
        (np.zeros(5, dtype=int), 5, ValueError, "at most 4"),
        (np.zeros(5, dtype=int), 0, ValueError, "at least 1"),
        (np.zeros(5, dtype=int), 1.5, TypeError, "int"),
    ],
)
def test_knn_rejects_bad_input(y, k, error, words):
    with pytest.raises(error, match=words):
        knn_accuracy(np.random.rand(5, 2), y, k)


# --- atlas_grid ------------------------------------------------------------------------------


def test_atlas_grid_corners_centre_and_edges():
    Z = np.array([[0.0, 0.0], [4.0, 0.0], [0.0, 2.0], [4.0, 2.0], [1.0, 1.0], [2.0, 1.5]])
    cells = atlas_grid(Z, 2)
    # Row 0 is the top (largest y); the maximum edges go to the last cell.
    np.testing.assert_array_equal(cells, [[1, 0], [1, 1], [0, 0], [0, 1], [1, 0], [0, 1]])
    assert np.issubdtype(cells.dtype, np.integer)


def test_atlas_grid_uses_the_bounding_box():
    rng = np.random.default_rng(5)
    unit = rng.uniform(size=(200, 2))
    unit[:2] = [[0, 0], [1, 1]]  # pin the bounding box to the unit square
    moved = unit * [300.0, 0.01] + [-100.0, 40.0]
    np.testing.assert_array_equal(atlas_grid(moved, 7), atlas_grid(unit, 7))
    expected_col = np.minimum(np.floor(unit[:, 0] * 7), 6)
    expected_row = np.minimum(np.floor((1 - unit[:, 1]) * 7), 6)
    np.testing.assert_array_equal(atlas_grid(unit, 7), np.stack([expected_row, expected_col], 1))


def test_atlas_grid_fills_every_cell_of_a_regular_lattice():
    xs, ys = np.meshgrid(np.arange(5) + 0.5, np.arange(5) + 0.5)
    Z = np.stack([xs.ravel(), ys.ravel()], 1)
    Z = np.vstack([Z, [[0, 0], [5, 5]]])  # bounding box [0, 5] x [0, 5]
    cells = atlas_grid(Z, 5)
    assert len({tuple(c) for c in cells[:25]}) == 25
    assert cells.min() == 0 and cells.max() == 4


def test_atlas_grid_flat_axis_and_one_cell():
    Z = np.array([[1.0, 3.0], [2.0, 3.0], [3.0, 3.0]])
    np.testing.assert_array_equal(atlas_grid(Z, 3), [[0, 0], [0, 1], [0, 2]])
    np.testing.assert_array_equal(atlas_grid(Z, 1), np.zeros((3, 2)))


@pytest.mark.parametrize(
    "Z, n, error, words",
    [
        (np.random.rand(5, 3), 4, ValueError, "(N, 2)"),
        (np.random.rand(5, 2), 0, ValueError, "at least 1"),
        (np.random.rand(5, 2), 2.5, TypeError, "int"),
        (np.array([[0.0, np.inf]]), 2, ValueError, "infinite"),
    ],
)
def test_atlas_grid_rejects_bad_input(Z, n, error, words):
    with pytest.raises(error, match=words.replace("(", r"\(").replace(")", r"\)")):
        atlas_grid(Z, n)
