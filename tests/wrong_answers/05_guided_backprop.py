"""Plausible wrong answers for lessons/05_guided_backprop (format: tests/notebook_utils.py)."""

from notebook_utils import correct_answers, read, solution_path
from notebook_utils import replace_once as _with

# The correct answers, read from the teacher notebook; each wrong answer changes a line or two.
# The answer cell of exercise 1 holds the guided rule and ReLUFunction, that of exercise 2
# swap_relus and guided_backprop; each wrong answer breaks one of them.
_SOLUTION = correct_answers(read(solution_path("05_guided_backprop")))
_RULE = _SOLUTION["ex1_answer"]
_SWAP = _SOLUTION["ex2_answer"]
_CASCADE = _SOLUTION["ex3_answer"]

# Two wrong answers drop the swap's try/finally, which un-indents the block: the solution's
# block (the replacement fails if the solution has another) and its parts without it.
_TRY_FINALLY = (
    "    try:\n"
    "        for parent, name, _ in swapped:\n"
    "            setattr(parent, name, ReLUWithBackward(backward_rule))\n"
    "        yield model\n"
    "    finally:\n"
    "        for parent, name, original in swapped:\n"
    "            setattr(parent, name, original)\n"
)
_SWAP_AND_YIELD = (
    "    for parent, name, _ in swapped:\n"
    "        setattr(parent, name, ReLUWithBackward(backward_rule))\n"
    "    yield model\n"
)
_RESTORE = "    for parent, name, original in swapped:\n        setattr(parent, name, original)\n"

_GRADIENT = "attribution.input_gradient(model, x, target)"

WRONG_ANSWERS = {
    "ex1_answer": [
        # The deconvnet rule: ignores whether the unit was active.
        _with(_RULE, " * (x > 0)", ""),
        # The plain rule: keeps negative gradients.
        _with(_RULE, "grad_output.clamp(min=0) * ", "grad_output * "),
        # Counts x == 0 as active.
        _with(_RULE, "(x > 0)", "(x >= 0)"),
        # The forward pass works in place: the input itself is changed.
        _with(_RULE, "return x.clamp(min=0)", "return x.clamp_(min=0)"),
        # Saves the output instead of the input: the rule sees max(x, 0), not x.
        _with(
            _with(
                _RULE,
                "ctx.save_for_backward(x)",
                "output = x.clamp(min=0)\n        ctx.save_for_backward(output)",
            ),
            "return x.clamp(min=0)",
            "return output",
        ),
        # One gradient only: PyTorch wants one per input of forward (None for the rule).
        _with(
            _RULE,
            "return ctx.backward_rule(x, grad_output), None",
            "return ctx.backward_rule(x, grad_output)",
        ),
        # The rule's arguments swapped.
        _with(_RULE, "ctx.backward_rule(x, grad_output)", "ctx.backward_rule(grad_output, x)"),
    ],
    "ex2_answer": [
        # Forgets to put the original ReLUs back.
        _with(_SWAP, _TRY_FINALLY, _SWAP_AND_YIELD),
        # Restores them, but not when an error is raised (no try/finally).
        _with(_SWAP, _TRY_FINALLY, _SWAP_AND_YIELD + _RESTORE),
        # Uses the deconvnet rule.
        _with(
            _SWAP,
            "with swap_relus(model, guided_relu_backward):",
            "with swap_relus(model, guided.deconvnet_relu_backward):",
        ),
        # Returns the saliency-style summary |.| max over channels instead of the signed map.
        _with(_SWAP, _GRADIENT, _GRADIENT + ".abs().amax(dim=1)"),
        # Returns the absolute value (right shape, but no longer signed).
        _with(_SWAP, _GRADIENT, _GRADIENT + ".abs()"),
        # Differentiates the softmax probability instead of the class score (logit).
        _with(
            _SWAP,
            _GRADIENT,
            "attribution.input_gradient(nn.Sequential(model, nn.Softmax(dim=1)), x, target)",
        ),
        # One replacement module shared by every place: named_modules() lists it only once.
        _with(
            _with(_SWAP, "    try:\n", "    shared = ReLUWithBackward(backward_rule)\n    try:\n"),
            "setattr(parent, name, ReLUWithBackward(backward_rule))",
            "setattr(parent, name, shared)",
        ),
    ],
    "ex3_answer": [
        # Randomizes the caller's model in place instead of a deep copy.
        _with(_CASCADE, "randomized = copy.deepcopy(model)", "randomized = model"),
        # Randomizes one layer at a time on a fresh copy (not cascading).
        _with(
            _CASCADE,
            "            modules[name].reset_parameters()\n",
            "            randomized = copy.deepcopy(model)\n"
            "            modules = dict(randomized.named_modules())\n"
            "            modules[name].reset_parameters()\n",
        ),
        # Goes from the input up (conv1 first).
        _with(_CASCADE, "for name in reversed(names):", "for name in names:"),
        # Pearson correlation instead of Spearman.
        _with(_CASCADE, "spearmanr(u, v).statistic", "np.corrcoef(u, v)[0, 1]"),
    ],
}

EXPECT_FAIL = {
    "ex1_answer": ["ex1_check", "ex1_hidden"],
    "ex2_answer": ["ex2_hidden"],
    "ex3_answer": ["ex3_hidden"],
}
