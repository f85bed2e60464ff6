"""Plausible wrong answers for lessons/03_embeddings (format: tests/notebook_utils.py)."""

from notebook_utils import correct_answers, read, solution_path
from notebook_utils import replace_once as _with

# The correct answers, read from the teacher notebook; each wrong answer changes a line or two.
_SOLUTION = correct_answers(read(solution_path("03_embeddings")))
_PCA = _SOLUTION["ex1_answer"]
_KNN = _SOLUTION["ex2_answer"]
_GRID = _SOLUTION["ex3_answer"]

_LEAVE_ONE_OUT = "    np.fill_diagonal(distances, np.inf)  # a point is not its own neighbour\n"

WRONG_ANSWERS = {
    "ex1_answer": [
        # Forgets to centre: the first "component" points at the mean of the data.
        _with(_PCA, "centred = X - X.mean(axis=0)", "centred = X"),
        # Takes the columns of Vt instead of its rows as the directions.
        _with(_PCA, "centred @ Vt[:k].T", "centred @ Vt[:, :k]"),
        # Returns the rows of U without the singular values: directions right, scale wrong.
        _with(_with(_PCA, "_, S, Vt =", "U, S, Vt ="), "centred @ Vt[:k].T", "U[:, :k]"),
        # Explained variance from the singular values, not their squares.
        _with(_PCA, "variance = S**2", "variance = S"),
        # Shares of the variance of the first k components only (they always sum to 1).
        _with(_PCA, "variance[:k] / variance.sum()", "variance[:k] / variance[:k].sum()"),
        # Centres the caller's array in place (np.asarray does not copy a float64 array).
        _with(_PCA, "centred = X - X.mean(axis=0)", "X -= X.mean(axis=0)\n    centred = X"),
    ],
    "ex2_answer": [
        # Counts the point itself as its own nearest neighbour.
        _with(_KNN, _LEAVE_ONE_OUT, ""),
        # Skips the first entry (the point itself) but then takes only k - 1 neighbours.
        _with(_with(_KNN, _LEAVE_ONE_OUT, ""), "[:, :k]", "[:, 1:k]"),
        # Leaves the point out correctly but takes k + 1 neighbours.
        _with(_KNN, "[:, :k]", "[:, : k + 1]"),
        # Breaks ties by the nearest neighbour (Counter keeps the order of first appearance).
        _with(
            _with(
                _KNN,
                "def knn_accuracy(",
                "from collections import Counter\n\n\n" + "def knn_accuracy(",
            ),
            "np.bincount(y[row]).argmax()",
            "Counter(y[row].tolist()).most_common(1)[0][0]",
        ),
    ],
    "ex3_answer": [
        # Returns (col, row): x and y swapped.
        _with(_GRID, "np.stack([row, col]", "np.stack([col, row]"),
        # Forgets the maximum edge: points there get index n.
        _with(
            _GRID, "np.clip(np.stack([row, col], axis=1), 0, n - 1)", "np.stack([row, col], axis=1)"
        ),
        # Assumes the points already lie in the unit square instead of using their bounding box.
        _with(
            _with(_GRID, "(Z[:, 0] - low[0]) / (high[0] - low[0])", "Z[:, 0]"),
            "(high[1] - Z[:, 1]) / (high[1] - low[1])",
            "(1 - Z[:, 1])",
        ),
        # Counts rows from the bottom (row 0 = smallest y), as in a plot rather than an image.
        _with(_GRID, "(high[1] - Z[:, 1])", "(Z[:, 1] - low[1])"),
    ],
}

EXPECT_FAIL = {
    "ex1_answer": ["ex1_hidden"],
    "ex2_answer": ["ex2_hidden"],
    "ex3_answer": ["ex3_hidden"],
}
