"""Plausible wrong answers for lessons/00_getting_started (format: tests/notebook_utils.py)."""

from notebook_utils import correct_answers, read, solution_path
from notebook_utils import replace_once as _with

# The correct answers, read from the teacher notebook; each wrong answer changes a line or two.
_SOLUTION = correct_answers(read(solution_path("00_getting_started")))
_ACCURACY = _SOLUTION["ex2_answer"]
_CONFUSION = _SOLUTION["ex3_answer"]


def _in_normalize(*changes: tuple[str, str]) -> str:
    """The answer of exercise 1 with the (old, new) replacements made in normalize only
    (denormalize, which starts with the same lines, stays correct)."""
    normalize, start, denormalize = _SOLUTION["ex1_answer"].partition("def denormalize(")
    assert start, "exercise 1 has no denormalize"
    for old, new in changes:
        normalize = _with(normalize, old, new)
    return normalize + start + denormalize


_NORMALIZE_RETURN = "return (x - mean) / std"

WRONG_ANSWERS = {
    "ex1_answer": [
        # Hard-codes the ImageNet statistics: passes the visible check, nothing else.
        _in_normalize((_NORMALIZE_RETURN, "return data.imagenet_normalize(x)")),
        # Broadcasts the statistics along the last axis (width) instead of the channels.
        _in_normalize(
            ("(mean, dtype=x.dtype).reshape(-1, 1, 1)", "(mean, dtype=x.dtype)"),
            ("(std, dtype=x.dtype).reshape(-1, 1, 1)", "(std, dtype=x.dtype)"),
        ),
        # Edits the caller's tensor in place.
        _in_normalize((_NORMALIZE_RETURN, "return x.sub_(mean).div_(std)")),
        # Returns a NumPy array where a tensor is asked for.
        _in_normalize((_NORMALIZE_RETURN, "return (x.numpy() - mean.numpy()) / std.numpy()")),
    ],
    "ex2_answer": [
        # Forgets model.eval(): dropout stays on.
        _with(_ACCURACY, "    model.eval()\n", ""),
        # Returns a tensor, not a float.
        _with(
            _ACCURACY,
            "correct += int((scores.argmax(dim=1) == labels[start : start + batch_size]).sum())",
            "correct += (scores.argmax(dim=1) == labels[start : start + batch_size]).sum()",
        ),
        # Drops the last, smaller batch.
        _with(
            _ACCURACY,
            "range(0, len(images), batch_size)",
            "range(0, len(images) - batch_size + 1, batch_size)",
        ),
    ],
    "ex3_answer": [
        # Rows and columns swapped (rows = predicted class).
        _with(_CONFUSION, "matrix[true, predicted] += 1", "matrix[predicted, true] += 1"),
        # Sizes the matrix by the classes that occur, not n_classes.
        _with(
            _CONFUSION,
            "matrix = torch.zeros(n_classes, n_classes, dtype=torch.int64)",
            "k = int(max(predictions.max(), labels.max())) + 1\n"
            "    matrix = torch.zeros(k, k, dtype=torch.int64)",
        ),
        # Fancy indexing with += drops repeated index pairs: counts at most 1 per cell.
        _with(
            _CONFUSION,
            "    for true, predicted in zip(labels.tolist(), predictions.tolist()):\n"
            "        matrix[true, predicted] += 1\n",
            "    matrix[labels, predictions] += 1\n",
        ),
        # Counts correctly but returns nested lists, not a tensor.
        _with(
            _with(
                _CONFUSION,
                "matrix = torch.zeros(n_classes, n_classes, dtype=torch.int64)",
                "matrix = [[0] * n_classes for _ in range(n_classes)]",
            ),
            "matrix[true, predicted] += 1",
            "matrix[true][predicted] += 1",
        ),
    ],
}

EXPECT_FAIL = {
    "ex1_answer": ["ex1_hidden"],
    "ex2_answer": ["ex2_hidden"],
    "ex3_answer": ["ex3_hidden"],
}
