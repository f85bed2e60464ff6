"""Plausible wrong answers for lessons/05_guided_backprop (format: tests/notebook_utils.py)."""

# The answer cell of exercise 2 holds two functions; a wrong answer is a swap and a
# guided_backprop, one of which is right.
_IMPORT = "from contextlib import contextmanager\n\n\n"
_LIST = """    swapped = [
        (parent, name, child)
        for parent in model.modules()
        for name, child in parent.named_children()
        if isinstance(child, nn.ReLU)
    ]
"""
_SWAP = (
    "@contextmanager\ndef swap_relus(model, backward_rule):\n" + _LIST + "    try:\n"
    "        for parent, name, _ in swapped:\n"
    "            setattr(parent, name, ReLUWithBackward(backward_rule))\n"
    "        yield model\n"
    "    finally:\n"
    "        for parent, name, original in swapped:\n"
    "            setattr(parent, name, original)\n\n\n"
)
_GUIDED = (
    "def guided_backprop(model, x, target):\n"
    "    with swap_relus(model, guided_relu_backward):\n"
    "        return attribution.input_gradient(model, x, target)\n"
)


def _with_guided(body: str) -> str:
    """The correct swap and a guided_backprop with ``body``."""
    return _IMPORT + _SWAP + "def guided_backprop(model, x, target):\n" + body


def _with_swap(swap: str) -> str:
    """A swap ``swap`` (the whole function) and the correct guided_backprop."""
    return _IMPORT + swap + _GUIDED


# A correct cascade with the correlation left to `_correlation(u, v)`.
_CASCADE_HEAD = """
def cascading_randomization(model, method, x, target, seed=0):
    original = method(model, x, target).detach().flatten(1).numpy()
"""

WRONG_ANSWERS = {
    "ex1_answer": [
        # The deconvnet rule: ignores whether the unit was active.
        "def guided_relu_backward(x, grad_output):\n    return grad_output.clamp(min=0)\n",
        # The plain rule: keeps negative gradients.
        "def guided_relu_backward(x, grad_output):\n    return grad_output * (x > 0)\n",
        # Counts x == 0 as active.
        "def guided_relu_backward(x, grad_output):\n"
        "    return grad_output.clamp(min=0) * (x >= 0)\n",
    ],
    "ex2_answer": [
        # Forgets to put the original ReLUs back.
        _with_swap(
            "@contextmanager\ndef swap_relus(model, backward_rule):\n" + _LIST
            + "    for parent, name, _ in swapped:\n"
            "        setattr(parent, name, ReLUWithBackward(backward_rule))\n"
            "    yield model\n\n\n"
        ),
        # Restores them, but not when an error is raised (no try/finally).
        _with_swap(
            "@contextmanager\ndef swap_relus(model, backward_rule):\n" + _LIST
            + "    for parent, name, _ in swapped:\n"
            "        setattr(parent, name, ReLUWithBackward(backward_rule))\n"
            "    yield model\n"
            "    for parent, name, original in swapped:\n"
            "        setattr(parent, name, original)\n\n\n"
        ),
        # Uses the deconvnet rule.
        _with_guided(
            "    with swap_relus(model, guided.deconvnet_relu_backward):\n"
            "        return attribution.input_gradient(model, x, target)\n"
        ),
        # Returns the saliency-style summary |.| max over channels instead of the signed map.
        _with_guided(
            "    with swap_relus(model, guided_relu_backward):\n"
            "        return attribution.input_gradient(model, x, target).abs().amax(dim=1)\n"
        ),
        # Returns the absolute value (right shape, but no longer signed).
        _with_guided(
            "    with swap_relus(model, guided_relu_backward):\n"
            "        return attribution.input_gradient(model, x, target).abs()\n"
        ),
        # Differentiates the softmax probability instead of the class score (logit).
        _with_guided(
            "    was_training = model.training\n"
            "    try:\n"
            "        with swap_relus(model, guided_relu_backward):\n"
            "            model.eval()\n"
            "            x = x.detach().clone().requires_grad_(True)\n"
            "            probabilities = model(x).softmax(dim=1)\n"
            "            target = attribution.as_targets(target, len(x))\n"
            "            probabilities.gather(1, target[:, None]).sum().backward()\n"
            "            return x.grad.detach()\n"
            "    finally:\n"
            "        model.train(was_training)\n"
        ),
        # One replacement module shared by every place: named_modules() lists it only once.
        _with_swap(
            "@contextmanager\ndef swap_relus(model, backward_rule):\n" + _LIST
            + "    shared = ReLUWithBackward(backward_rule)\n"
            "    try:\n"
            "        for parent, name, _ in swapped:\n"
            "            setattr(parent, name, shared)\n"
            "        yield model\n"
            "    finally:\n"
            "        for parent, name, original in swapped:\n"
            "            setattr(parent, name, original)\n\n\n"
        ),
    ],
    "ex3_answer": [
        # Randomizes the caller's model in place instead of a deep copy.
        _CASCADE_HEAD + "    modules = dict(model.named_modules())\n"
        "    names = [n for n, m in modules.items() if n and list(m.parameters(recurse=False))]\n"
        "    results = []\n"
        "    torch.manual_seed(seed)\n"
        "    for name in reversed(names):\n"
        "        modules[name].reset_parameters()\n"
        "        new = method(model, x, target).detach().flatten(1).numpy()\n"
        "        values = [0.0 if np.ptp(u) == 0 or np.ptp(v) == 0 else spearmanr(u, v).statistic\n"
        "                  for u, v in zip(original, new)]\n"
        "        results.append((name, float(np.mean(values))))\n"
        "    return results\n",
        # Randomizes one layer at a time on a fresh copy (not cascading).
        _CASCADE_HEAD + "    names = evaluation.parameter_layers(model)\n"
        "    results = []\n"
        "    torch.manual_seed(seed)\n"
        "    for name in reversed(names):\n"
        "        randomized = copy.deepcopy(model)\n"
        "        dict(randomized.named_modules())[name].reset_parameters()\n"
        "        new = method(randomized, x, target).detach().flatten(1).numpy()\n"
        "        values = [0.0 if np.ptp(u) == 0 or np.ptp(v) == 0 else spearmanr(u, v).statistic\n"
        "                  for u, v in zip(original, new)]\n"
        "        results.append((name, float(np.mean(values))))\n"
        "    return results\n",
        # Goes from the input up (conv1 first).
        _CASCADE_HEAD + "    randomized = copy.deepcopy(model)\n"
        "    modules = dict(randomized.named_modules())\n"
        "    names = evaluation.parameter_layers(randomized)\n"
        "    results = []\n"
        "    torch.manual_seed(seed)\n"
        "    for name in names:\n"
        "        modules[name].reset_parameters()\n"
        "        new = method(randomized, x, target).detach().flatten(1).numpy()\n"
        "        values = [0.0 if np.ptp(u) == 0 or np.ptp(v) == 0 else spearmanr(u, v).statistic\n"
        "                  for u, v in zip(original, new)]\n"
        "        results.append((name, float(np.mean(values))))\n"
        "    return results\n",
        # Pearson correlation instead of Spearman.
        _CASCADE_HEAD + "    randomized = copy.deepcopy(model)\n"
        "    modules = dict(randomized.named_modules())\n"
        "    names = evaluation.parameter_layers(randomized)\n"
        "    results = []\n"
        "    torch.manual_seed(seed)\n"
        "    for name in reversed(names):\n"
        "        modules[name].reset_parameters()\n"
        "        new = method(randomized, x, target).detach().flatten(1).numpy()\n"
        "        values = [0.0 if np.ptp(u) == 0 or np.ptp(v) == 0 else np.corrcoef(u, v)[0, 1]\n"
        "                  for u, v in zip(original, new)]\n"
        "        results.append((name, float(np.mean(values))))\n"
        "    return results\n",
    ],
}

EXPECT_FAIL = {
    "ex1_answer": ["ex1_check", "ex1_hidden"],
    "ex2_answer": ["ex2_hidden"],
    "ex3_answer": ["ex3_hidden"],
}
