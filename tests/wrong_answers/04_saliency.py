"""Plausible wrong answers for lessons/04_saliency (format: tests/notebook_utils.py)."""

from notebook_utils import correct_answers, read, solution_path
from notebook_utils import replace_once as _with

# The correct answers, read from the teacher notebook; each wrong answer changes a line or two.
_SOLUTION = correct_answers(read(solution_path("04_saliency")))
_SALIENCY = _SOLUTION["ex1_answer"]
_SMOOTH = _SOLUTION["ex2_answer"]
_MASK = _SOLUTION["ex3_answer"]
_IOU = _SOLUTION["ex4_answer"]

_SCORE_GRADIENT = "scores.gather(1, target.reshape(-1, 1)).sum().backward()"
_INTERSECTION, _UNION = "(a & b).flatten(1).sum(dim=1)", "(a | b).flatten(1).sum(dim=1)"

WRONG_ANSWERS = {
    "ex1_answer": [
        # The gradient of the softmax probability instead of the score.
        _with(_SALIENCY, "scores = model(x)\n", "scores = model(x).softmax(dim=1)\n"),
        # No absolute value: the largest signed gradient over the channels.
        _with(_SALIENCY, "x.grad.detach().abs().amax(dim=1)", "x.grad.detach().amax(dim=1)"),
        # The mean over the channels instead of the maximum.
        _with(_SALIENCY, ".abs().amax(dim=1)", ".abs().mean(dim=1)"),
        # The gradient of the (batch-mean) cross-entropy loss.
        _with(_SALIENCY, _SCORE_GRADIENT, "F.cross_entropy(scores, target).backward()"),
        # Never switches to eval mode: dropout stays on.
        _with(_SALIENCY, "    model.eval()\n", ""),
        # Switches to eval mode and leaves the model there: the mode is read after the switch.
        _with(
            _SALIENCY,
            "    was_training = model.training\n    model.eval()\n",
            "    model.eval()\n    was_training = model.training\n",
        ),
    ],
    "ex2_answer": [
        # Absolute noise: sigma = noise_level, whatever the value range of the image.
        _with(_SMOOTH, "generator=generator) * sigma", "generator=generator) * noise_level"),
        # The noise is drawn once and reused for every sample.
        _with(
            _SMOOTH,
            "    for _ in range(n_samples):\n"
            "        noise = torch.randn(x.shape, generator=generator) * sigma\n",
            "    noise = torch.randn(x.shape, generator=generator) * sigma\n"
            "    for _ in range(n_samples):\n",
        ),
        # Averages the signed gradients, then takes the absolute value.
        _with(
            _with(
                _with(_SMOOTH, "torch.zeros(x.shape[0], *x.shape[2:])", "torch.zeros(x.shape)"),
                "total += saliency_map(model, x + noise, target)  # exercise 1",
                "noisy = (x + noise).detach().requires_grad_(True)\n"
                "        model.eval()\n"
                "        model(noisy).gather(1, target[:, None]).sum().backward()\n"
                "        total += noisy.grad",
            ),
            "return total / n_samples",
            "return (total / n_samples).abs().amax(dim=1)",
        ),
        # One value range for the whole batch instead of one per image.
        _with(_SMOOTH, "(flat.max(dim=1).values - flat.min(dim=1).values)", "(x.max() - x.min())"),
    ],
    "ex3_answer": [
        # No connected-component step in effect: keeps all the top pixels.
        _with(_MASK, "result.append(regions == sizes.argmax())", "result.append(kept)"),
        # One threshold for the whole batch instead of one per image.
        _with(
            _MASK,
            "torch.quantile(single.flatten(), 1 - fraction)",
            "torch.quantile(saliency_maps.float().flatten(), 1 - fraction)",
        ),
        # Keeps the smallest region instead of the largest.
        _with(
            _with(_MASK, "sizes[0] = 0", "sizes[0] = regions.size"),
            "sizes.argmax()",
            "sizes.argmin()",
        ),
        # 4-connected regions (connectivity=1): pixels touching at a corner are split.
        _with(_MASK, "connectivity=2", "connectivity=1"),
    ],
    "ex4_answer": [
        # One IoU for the whole batch (pooled), not one per image.
        _with(
            _with(_IOU, _INTERSECTION, "(a & b).sum().reshape(1)"),
            _UNION,
            "(a | b).sum().reshape(1)",
        ),
        # Intersection over the area of the first mask.
        _with(_IOU, "union = (a | b)", "union = a"),
        # Floor division: every partial overlap becomes 0.
        _with(_IOU, "intersection / union", "intersection // union"),
        # Forgets to subtract the intersection: |A| + |B| as the union.
        _with(_IOU, _UNION, "(a.flatten(1).sum(dim=1) + b.flatten(1).sum(dim=1))"),
        # Counts with uint8: the counts wrap around at 256.
        _with(
            _with(
                _IOU,
                _INTERSECTION,
                "(a & b).to(torch.uint8).flatten(1).sum(dim=1, dtype=torch.uint8)",
            ),
            _UNION,
            "(a | b).to(torch.uint8).flatten(1).sum(dim=1, dtype=torch.uint8)",
        ),
        # 0 / 0 for two empty masks: NaN instead of 1.
        _with(
            _IOU,
            "torch.where(union > 0, intersection / union.clamp(min=1), torch.ones_like(union))",
            "intersection / union",
        ),
    ],
}

EXPECT_FAIL = {
    "ex1_answer": ["ex1_hidden"],
    "ex2_answer": ["ex2_hidden"],
    "ex3_answer": ["ex3_hidden"],
    "ex4_answer": ["ex4_hidden"],
}
