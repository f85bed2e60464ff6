"""Plausible wrong answers for lessons/03_embeddings (format: tests/notebook_utils.py)."""

WRONG_ANSWERS = {
    "ex1_answer": [
        # Forgets to centre: the first "component" points at the mean of the data.
        "def pca(X, k):\n"
        "    X = np.asarray(X, dtype=np.float64)\n"
        "    _, S, Vt = np.linalg.svd(X, full_matrices=False)\n"
        "    return X @ Vt[:k].T, S[:k] ** 2 / np.sum(S**2)\n",
        # Takes the columns of Vt instead of its rows as the directions.
        "def pca(X, k):\n"
        "    centred = np.asarray(X, dtype=np.float64) - np.mean(X, axis=0)\n"
        "    _, S, Vt = np.linalg.svd(centred, full_matrices=False)\n"
        "    return centred @ Vt[:, :k], S[:k] ** 2 / np.sum(S**2)\n",
        # Returns the rows of U without the singular values: directions right, scale wrong.
        "def pca(X, k):\n"
        "    centred = np.asarray(X, dtype=np.float64) - np.mean(X, axis=0)\n"
        "    U, S, Vt = np.linalg.svd(centred, full_matrices=False)\n"
        "    return U[:, :k], S[:k] ** 2 / np.sum(S**2)\n",
        # Explained variance from the singular values, not their squares.
        "def pca(X, k):\n"
        "    centred = np.asarray(X, dtype=np.float64) - np.mean(X, axis=0)\n"
        "    _, S, Vt = np.linalg.svd(centred, full_matrices=False)\n"
        "    return centred @ Vt[:k].T, S[:k] / np.sum(S)\n",
        # Shares of the variance of the first k components only (they always sum to 1).
        "def pca(X, k):\n"
        "    centred = np.asarray(X, dtype=np.float64) - np.mean(X, axis=0)\n"
        "    _, S, Vt = np.linalg.svd(centred, full_matrices=False)\n"
        "    return centred @ Vt[:k].T, S[:k] ** 2 / np.sum(S[:k] ** 2)\n",
        # Centres the caller's array in place.
        "def pca(X, k):\n"
        "    X -= X.mean(axis=0)\n"
        "    _, S, Vt = np.linalg.svd(X, full_matrices=False)\n"
        "    return X @ Vt[:k].T, S[:k] ** 2 / np.sum(S**2)\n",
    ],
    "ex2_answer": [
        # Counts the point itself as its own nearest neighbour.
        "def knn_accuracy(Z, y, k):\n"
        "    distances = np.linalg.norm(Z[:, None, :] - Z[None, :, :], axis=-1)\n"
        "    neighbours = np.argsort(distances, axis=1)[:, :k]\n"
        "    predictions = np.array([np.bincount(y[row]).argmax() for row in neighbours])\n"
        "    return float(np.mean(predictions == y))\n",
        # Skips the first entry (the point itself) but then takes only k - 1 neighbours.
        "def knn_accuracy(Z, y, k):\n"
        "    distances = np.linalg.norm(Z[:, None, :] - Z[None, :, :], axis=-1)\n"
        "    neighbours = np.argsort(distances, axis=1)[:, 1:k]\n"
        "    predictions = np.array([np.bincount(y[row]).argmax() for row in neighbours])\n"
        "    return float(np.mean(predictions == y))\n",
        # Leaves the point out correctly but takes k + 1 neighbours.
        "def knn_accuracy(Z, y, k):\n"
        "    distances = np.linalg.norm(Z[:, None, :] - Z[None, :, :], axis=-1)\n"
        "    np.fill_diagonal(distances, np.inf)\n"
        "    neighbours = np.argsort(distances, axis=1)[:, : k + 1]\n"
        "    predictions = np.array([np.bincount(y[row]).argmax() for row in neighbours])\n"
        "    return float(np.mean(predictions == y))\n",
        # Breaks ties by the nearest neighbour (Counter keeps the order of first appearance).
        "def knn_accuracy(Z, y, k):\n"
        "    from collections import Counter\n"
        "    distances = np.linalg.norm(Z[:, None, :] - Z[None, :, :], axis=-1)\n"
        "    np.fill_diagonal(distances, np.inf)\n"
        "    neighbours = np.argsort(distances, axis=1)[:, :k]\n"
        "    predictions = np.array([Counter(y[row].tolist()).most_common(1)[0][0]\n"
        "                            for row in neighbours])\n"
        "    return float(np.mean(predictions == y))\n",
    ],
    "ex3_answer": [
        # Returns (col, row): x and y swapped.
        "def atlas_grid(Z, n):\n"
        "    low, high = Z.min(axis=0), Z.max(axis=0)\n"
        "    col = np.floor(n * (Z[:, 0] - low[0]) / (high[0] - low[0]))\n"
        "    row = np.floor(n * (high[1] - Z[:, 1]) / (high[1] - low[1]))\n"
        "    return np.clip(np.stack([col, row], axis=1), 0, n - 1).astype(int)\n",
        # Forgets the maximum edge: points there get index n.
        "def atlas_grid(Z, n):\n"
        "    low, high = Z.min(axis=0), Z.max(axis=0)\n"
        "    col = np.floor(n * (Z[:, 0] - low[0]) / (high[0] - low[0]))\n"
        "    row = np.floor(n * (high[1] - Z[:, 1]) / (high[1] - low[1]))\n"
        "    return np.stack([row, col], axis=1).astype(int)\n",
        # Assumes the points already lie in the unit square instead of using their bounding box.
        "def atlas_grid(Z, n):\n"
        "    col = np.floor(n * Z[:, 0])\n"
        "    row = np.floor(n * (1 - Z[:, 1]))\n"
        "    return np.clip(np.stack([row, col], axis=1), 0, n - 1).astype(int)\n",
        # Counts rows from the bottom (row 0 = smallest y), as in a plot rather than an image.
        "def atlas_grid(Z, n):\n"
        "    low, high = Z.min(axis=0), Z.max(axis=0)\n"
        "    col = np.floor(n * (Z[:, 0] - low[0]) / (high[0] - low[0]))\n"
        "    row = np.floor(n * (Z[:, 1] - low[1]) / (high[1] - low[1]))\n"
        "    return np.clip(np.stack([row, col], axis=1), 0, n - 1).astype(int)\n",
    ],
}

EXPECT_FAIL = {
    "ex1_answer": ["ex1_hidden"],
    "ex2_answer": ["ex2_hidden"],
    "ex3_answer": ["ex3_hidden"],
}
