"""Plausible wrong answers for lessons/01_weights_and_filters (format: tests/notebook_utils.py)."""

_HINTON_ZERO_CASE = (
    "    magnitude = matrix.abs()\n"
    "    if magnitude.max() == 0:\n"
    "        return torch.zeros_like(matrix), torch.zeros_like(matrix)\n"
)

WRONG_ANSWERS = {
    "ex1_answer": [
        # Transposes every template: reshapes to (W, H) and swaps the axes back.
        "def weights_to_templates(W, shape):\n"
        "    height, width = shape\n"
        "    return W.reshape(len(W), width, height).transpose(1, 2)\n",
        # Reshapes W.T, a (H*W, n_classes) matrix, into (n_classes, H, W).
        "def weights_to_templates(W, shape):\n"
        "    return W.T.reshape(-1, *shape)\n",
        # Fills the templates in Fortran (column-major) order instead of flatten's row-major.
        "def weights_to_templates(W, shape):\n"
        "    return torch.from_numpy(np.reshape(W.numpy(), (len(W), *shape), order='F'))\n",
    ],
    "ex2_answer": [
        # One minimum and maximum for all filters together.
        "def normalize_filters(w):\n"
        "    span = w.max() - w.min()\n"
        "    return (w - w.min()) / span if span > 0 else torch.full_like(w, 0.5)\n",
        # Scales each channel of each filter on its own (distorts the colours).
        "def normalize_filters(w):\n"
        "    low = w.amin(dim=(2, 3), keepdim=True)\n"
        "    high = w.amax(dim=(2, 3), keepdim=True)\n"
        "    span = high - low\n"
        "    scaled = (w - low) / torch.where(span > 0, span, torch.ones_like(span))\n"
        "    return torch.where(span > 0, scaled, torch.full_like(scaled, 0.5))\n",
        # Per filter, but a constant filter divides 0 by 0 and becomes NaN.
        "def normalize_filters(w):\n"
        "    low = w.amin(dim=(1, 2, 3), keepdim=True)\n"
        "    high = w.amax(dim=(1, 2, 3), keepdim=True)\n"
        "    return (w - low) / (high - low)\n",
    ],
    "ex3_answer": [
        # Side proportional to the magnitude: the area then grows with its square.
        "def hinton_data(matrix, max_size=1.0):\n" + _HINTON_ZERO_CASE
        + "    return max_size * magnitude / magnitude.max(), torch.sign(matrix)\n",
        # Normalizes by the sum of the magnitudes instead of the largest one.
        "def hinton_data(matrix, max_size=1.0):\n" + _HINTON_ZERO_CASE
        + "    return max_size * torch.sqrt(magnitude / magnitude.sum()), torch.sign(matrix)\n",
        # Sign flipped: negative entries get +1.
        "def hinton_data(matrix, max_size=1.0):\n" + _HINTON_ZERO_CASE
        + "    return max_size * torch.sqrt(magnitude / magnitude.max()), -torch.sign(matrix)\n",
    ],
}

EXPECT_FAIL = {
    "ex1_answer": ["ex1_hidden"],
    "ex2_answer": ["ex2_hidden"],
    "ex3_answer": ["ex3_hidden"],
}
