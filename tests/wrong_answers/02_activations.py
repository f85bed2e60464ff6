"""Plausible wrong answers for lessons/02_activations (format: tests/notebook_utils.py)."""

from notebook_utils import correct_answers, read, solution_path
from notebook_utils import replace_once as _with

# The correct answers, read from the teacher notebook; each wrong answer changes a line.
_SOLUTION = correct_answers(read(solution_path("02_activations")))
_FIELD = _SOLUTION["ex1_answer"]
_PATCHES = _SOLUTION["ex2_answer"]

WRONG_ANSWERS = {
    "ex1_answer": [
        # Adds up the kernel sizes as if every stride were 1: size = sum(k) - n + 1.
        _with(
            _FIELD,
            "size += (first(layer.kernel_size) - 1) * jump",
            "size += first(layer.kernel_size) - 1",
        ),
        # Forgets the product of the strides: jump becomes the last layer's stride.
        _with(_FIELD, "jump *= first(layer.stride)", "jump = first(layer.stride)"),
        # Ignores the pooling layers: only convolutions count.
        _with(
            _FIELD,
            "isinstance(layer, nn.Conv2d | nn.MaxPool2d | nn.AvgPool2d)",
            "isinstance(layer, nn.Conv2d)",
        ),
        # Moves the start by the padding alone, forgetting that it counts units of `jump` pixels.
        _with(_FIELD, "start -= first(layer.padding) * jump", "start -= first(layer.padding)"),
        # Returns only (size, stride), the receptive field without its position.
        _with(_FIELD, "return size, jump, start", "return size, jump"),
    ],
    "ex2_answer": [
        # Scores each image by the mean over positions instead of the maximum.
        _with(
            _PATCHES,
            "scores, indices = best.topk(k)",
            "scores, indices = maps.mean(dim=(1, 2)).topk(k)",
        ),
        # Returns the images with the lowest maxima instead of the highest.
        _with(_PATCHES, "best.topk(k)", "best.topk(k, largest=False)"),
        # Crops around the unit's position as if it were a pixel position (forgets the stride).
        _with(
            _PATCHES,
            "top, left, _ = receptive.unit_window(field, i, j)",
            "top, left = field[2] + i, field[2] + j",
        ),
        # Turns the flat position into (row, column) with the height instead of the width.
        _with(
            _PATCHES,
            "divmod(int(where[n]), maps.shape[-1])",
            "divmod(int(where[n]), maps.shape[-2])",
        ),
    ],
}

EXPECT_FAIL = {
    "ex1_answer": ["ex1_check", "ex1_hidden"],
    "ex2_answer": ["ex2_hidden"],
}
