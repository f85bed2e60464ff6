"""Plausible wrong answers for lessons/07_faithfulness (format: tests/notebook_utils.py)."""

from notebook_utils import correct_answers, read, solution_path
from notebook_utils import replace_once as _with

# The correct answers, read from the teacher notebook; each wrong answer changes a line or two.
_SOLUTION = correct_answers(read(solution_path("07_faithfulness")))
_IG = _SOLUTION["ex1_answer"]
_OCCLUSION = _SOLUTION["ex2_answer"]

_GRADIENT = "attribution.input_gradient(model, baseline + alpha * (x - baseline), target)"
_BASELINE = (
    "    if baseline is None:\n"
    "        baseline = torch.zeros_like(x)\n"
    "    baseline = torch.as_tensor(baseline, dtype=x.dtype).expand_as(x)\n"
)
_SCORES = "model(occluded)[images, targets]"
_FLUSH = (
    "        if positions[-1] != size - window:\n"
    "            positions.append(size - window)  # the last square touches the edge\n"
)

WRONG_ANSWERS = {
    "ex1_answer": [
        # The left Riemann sum: alpha_k = k / steps.
        _with(_IG, "alpha = (k + 0.5) / steps", "alpha = k / steps"),
        # The right Riemann sum: alpha_k = (k + 1) / steps.
        _with(_IG, "alpha = (k + 0.5) / steps", "alpha = (k + 1) / steps"),
        # Forgets the factor (x - baseline): the average gradient along the path.
        _with(_IG, "return (x - baseline) * total / steps", "return total / steps"),
        # Multiplies by x instead of (x - baseline): right only for a black baseline.
        _with(_IG, "return (x - baseline) * total / steps", "return x * total / steps"),
        # Adds the gradients up instead of averaging them.
        _with(_IG, "return (x - baseline) * total / steps", "return (x - baseline) * total"),
        # Differentiates the softmax probability instead of the class score.
        _with(
            _IG,
            _GRADIENT,
            "attribution.input_gradient(\n"
            "            nn.Sequential(model, nn.Softmax(dim=1)),\n"
            "            baseline + alpha * (x - baseline),\n"
            "            target,\n"
            "        )",
        ),
        # Ignores the baseline it was given: always the black image.
        _with(_IG, _BASELINE, "    baseline = torch.zeros_like(x)\n"),
        # Puts the model in eval mode and leaves it there.
        _with(
            _IG,
            "    total = torch.zeros_like(x)\n",
            "    model.eval()\n    total = torch.zeros_like(x)\n",
        ),
        # Uses backward(): the gradient lands in the weights' .grad too, and the model stays
        # in the mode it came in (dropout active in training mode).
        _with(
            _IG,
            f"        total += {_GRADIENT}\n",
            "        point = (baseline + alpha * (x - baseline)).requires_grad_(True)\n"
            "        targets = attribution.as_targets(target, len(x))\n"
            "        model(point)[torch.arange(len(x)), targets].sum().backward()\n"
            "        total += point.grad\n",
        ),
    ],
    "ex2_answer": [
        # Adds the drops of the covering squares instead of averaging them.
        _with(_OCCLUSION, "return drops / counts", "return drops"),
        # Divides by the number of all squares instead of those covering the pixel.
        _with(
            _OCCLUSION,
            "return drops / counts",
            "return drops / (len(starts(height)) * len(starts(width)))",
        ),
        # The increase of the score instead of its drop.
        _with(
            _OCCLUSION,
            f"drop = original - {_SCORES}",
            f"drop = {_SCORES} - original",
        ),
        # No square flush with the bottom and right edges: the last rows and columns are
        # covered by fewer squares than they should be, or by none (0 / 0).
        _with(_OCCLUSION, _FLUSH, ""),
        # Probabilities instead of scores.
        _with(
            _with(
                _OCCLUSION,
                "original = model(x)[images, targets]",
                "original = model(x).softmax(dim=1)[images, targets]",
            ),
            _SCORES,
            "model(occluded).softmax(dim=1)[images, targets]",
        ),
        # Rows and columns mixed up: the columns take the positions of the rows.
        _with(_OCCLUSION, "for left in starts(width):", "for left in starts(height):"),
        # Ignores the baseline it was given: black squares whatever was asked.
        _with(
            _OCCLUSION,
            "fill = torch.as_tensor(baseline, dtype=x.dtype).expand_as(x)",
            "fill = torch.zeros_like(x)",
        ),
        # Puts the model in eval mode and leaves it there.
        _with(
            _OCCLUSION,
            "    with attribution.eval_mode(model), torch.no_grad():\n",
            "    model.eval()\n    with torch.no_grad():\n",
        ),
    ],
}

EXPECT_FAIL = {
    "ex1_answer": ["ex1_hidden"],
    "ex2_answer": ["ex2_hidden"],
}
