"""Plausible wrong answers for lessons/02_activations (format: tests/notebook_utils.py)."""

from notebook_utils import correct_answers, read, solution_path
from notebook_utils import replace_once as _with

# The correct answers, read from the teacher notebook; each wrong answer changes a line.
_SOLUTION = correct_answers(read(solution_path("02_activations")))
_RECORDER = _SOLUTION["ex1_answer"]
_FIELD = _SOLUTION["ex2_answer"]
_PATCHES = _SOLUTION["ex3_answer"]

_TRY_FINALLY = """    try:
        for name, module in modules.items():
            handles.append(module.register_forward_hook(make_hook(name)))
        yield activations, gradients
    finally:
        for handle in handles:
            handle.remove()"""
_GUARDED_TENSOR_HOOK = (
    "            if output.requires_grad:  # False under torch.no_grad(): no gradient to come\n"
    "                handles.append(output.register_hook(save_gradient))"
)

# The gradient taken by a module backward hook (grad_output[0]) instead of a tensor hook.
_MODULE_BACKWARD_HOOK = _RECORDER
for _old, _new in [
    (_GUARDED_TENSOR_HOOK + "\n", ""),
    (
        "        def save_gradient(grad):\n            gradients[name] = grad.detach().clone()",
        "        def save_gradient(module, grad_input, grad_output):\n"
        "            gradients[name] = grad_output[0].detach().clone()",
    ),
    ("        return save_output\n", "        return save_output, save_gradient\n"),
    (
        "            handles.append(module.register_forward_hook(make_hook(name)))",
        "            save_output, save_gradient = make_hook(name)\n"
        "            handles.append(module.register_forward_hook(save_output))\n"
        "            handles.append(module.register_full_backward_hook(save_gradient))",
    ),
]:
    _MODULE_BACKWARD_HOOK = _with(_MODULE_BACKWARD_HOOK, _old, _new)

WRONG_ANSWERS = {
    "ex1_answer": [
        # Removes the hooks after the yield without try/finally: an error in the block leaves
        # every hook on the model.
        _with(
            _RECORDER,
            _TRY_FINALLY,
            """    for name, module in modules.items():
        handles.append(module.register_forward_hook(make_hook(name)))
    yield activations, gradients
    for handle in handles:
        handle.remove()""",
        ),
        # Stores the output itself (detached, not cloned): an in-place ReLU after the layer
        # overwrites the record.
        _with(
            _RECORDER,
            "activations[name] = output.detach().clone()",
            "activations[name] = output.detach()",
        ),
        # Clones without detaching: the record is still part of the autograd graph.
        _with(
            _RECORDER,
            "activations[name] = output.detach().clone()",
            "activations[name] = output.clone()",
        ),
        # A module backward hook instead of a tensor hook: fails when an in-place ReLU follows.
        _MODULE_BACKWARD_HOOK,
        # Records the gradient of the layer's input instead of its output.
        _with(
            _RECORDER,
            "handles.append(output.register_hook(save_gradient))",
            "handles.append(inputs[0].register_hook(save_gradient))",
        ),
        # The hooks are made in a function that does not take the name: each hook then reads
        # the loop variable `name` when it runs, so every layer is stored under the last name.
        _with(
            _RECORDER,
            "def make_hook(name):  # a hook for one layer, which remembers that layer's name",
            "def make_hook(layer):  # a hook for one layer",
        ),
        # Removes the hooks before yielding: nothing is ever recorded.
        _with(
            _RECORDER,
            """        yield activations, gradients
    finally:
        for handle in handles:
            handle.remove()""",
            """    finally:
        for handle in handles:
            handle.remove()
    yield activations, gradients""",
        ),
        # Keeps no handle of the tensor hooks: a backward pass after the block still records.
        _with(
            _RECORDER,
            "handles.append(output.register_hook(save_gradient))",
            "output.register_hook(save_gradient)",
        ),
        # Always registers the tensor hook: a pass under torch.no_grad() raises an error.
        _with(
            _RECORDER,
            _GUARDED_TENSOR_HOOK,
            "            handles.append(output.register_hook(save_gradient))",
        ),
    ],
    "ex2_answer": [
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
    "ex3_answer": [
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
    "ex1_answer": ["ex1_hidden"],
    "ex2_answer": ["ex2_check", "ex2_hidden"],
    "ex3_answer": ["ex3_hidden"],
}
