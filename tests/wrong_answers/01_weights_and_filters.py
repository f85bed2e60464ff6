"""Plausible wrong answers for lessons/01_weights_and_filters (format: tests/notebook_utils.py)."""

from notebook_utils import correct_answers, read, solution_path
from notebook_utils import replace_once as _with

# The correct answers, read from the teacher notebook; each wrong answer changes a line or two.
_SOLUTION = correct_answers(read(solution_path("01_weights_and_filters")))
_TEMPLATES = _SOLUTION["ex1_answer"]
_FILTERS = _SOLUTION["ex2_answer"]
_HINTON = _SOLUTION["ex3_answer"]

_RESHAPE = "W.reshape(W.shape[0], height, width)"

WRONG_ANSWERS = {
    "ex1_answer": [
        # Transposes every template: reshapes to (W, H) and swaps the axes back.
        _with(_TEMPLATES, _RESHAPE, "W.reshape(W.shape[0], width, height).transpose(1, 2)"),
        # Reshapes W.T, a (H*W, n_classes) matrix, into (n_classes, H, W).
        _with(_TEMPLATES, _RESHAPE, "W.T.reshape(-1, height, width)"),
        # Fills the templates in Fortran (column-major) order instead of flatten's row-major.
        _with(
            _TEMPLATES,
            _RESHAPE,
            "torch.from_numpy(np.reshape(W.numpy(), (len(W), height, width), order='F'))",
        ),
    ],
    "ex2_answer": [
        # One minimum and maximum for all filters together.
        _with(_FILTERS, "flat = w.reshape(w.shape[0], -1)", "flat = w.reshape(1, -1)"),
        # Scales each channel of each filter on its own (distorts the colours).
        _with(
            _FILTERS,
            "flat = w.reshape(w.shape[0], -1)",
            "flat = w.reshape(w.shape[0] * w.shape[1], -1)",
        ),
        # Per filter, but a constant filter divides 0 by 0 and becomes NaN.
        _with(
            _with(_FILTERS, "torch.where(span > 0, span, torch.ones_like(span))", "span"),
            "    scaled = torch.where(span > 0, scaled, torch.full_like(scaled, 0.5))\n",
            "",
        ),
    ],
    "ex3_answer": [
        # Side proportional to the magnitude: the area then grows with its square.
        _with(_HINTON, "torch.sqrt(magnitude / largest)", "magnitude / largest"),
        # Normalizes by the sum of the magnitudes instead of the largest one.
        _with(
            _HINTON, "torch.sqrt(magnitude / largest)", "torch.sqrt(magnitude / magnitude.sum())"
        ),
        # Sign flipped: negative entries get +1.
        _with(_HINTON, "colors = torch.sign(matrix)", "colors = -torch.sign(matrix)"),
    ],
}

EXPECT_FAIL = {
    "ex1_answer": ["ex1_hidden"],
    "ex2_answer": ["ex2_hidden"],
    "ex3_answer": ["ex3_hidden"],
}
