"""Plausible wrong answers for lessons/06_grad_cam (format: tests/notebook_utils.py)."""

from notebook_utils import correct_answers, read, solution_path
from notebook_utils import replace_once as _with

# The correct answers, read from the teacher notebook; each wrong answer changes a line or two.
_SOLUTION = correct_answers(read(solution_path("06_grad_cam")))
_GRAD_CAM = _SOLUTION["ex1_answer"]
_GUIDED = _SOLUTION["ex2_answer"]
_POINTING = _SOLUTION["ex3_answer"]
_DISCRIMINATION = _SOLUTION["ex4_answer"]

_WINDOW = "window = masks[n, top : r + tolerance + 1, left : c + tolerance + 1]"

WRONG_ANSWERS = {
    "ex1_answer": [
        # No ReLU: the evidence against the class stays in the map.
        _with(_GRAD_CAM, ".sum(dim=1).clamp(min=0)", ".sum(dim=1)"),
        # Nearest-neighbour upsampling instead of bilinear.
        _with(_GRAD_CAM, 'mode="bilinear", align_corners=False', 'mode="nearest"'),
        # Channel weights from the activations instead of the gradients.
        _with(
            _GRAD_CAM, "alpha = gradients.mean(dim=(2, 3))", "alpha = activations.mean(dim=(2, 3))"
        ),
        # Backpropagates the softmax probability instead of the score.
        _with(_GRAD_CAM, "scores = model(x)\n", "scores = model(x).softmax(dim=1)\n"),
        # Normalizes over the whole batch instead of map by map.
        _with(
            _GRAD_CAM,
            "flat = flat - flat.min(dim=1, keepdim=True).values\n"
            "    peak = flat.max(dim=1, keepdim=True).values\n",
            "flat = flat - flat.min()\n    peak = flat.max().expand(len(flat), 1)\n",
        ),
        # Restores the model's mode without try/finally: an error leaves it in eval mode.
        _with(
            _GRAD_CAM,
            "    with attribution.eval_mode(model), torch.enable_grad():\n"
            "        with hooks.record_activations(model, layer) as acts:\n"
            "            with hooks.record_gradients(model, layer) as grads:\n"
            "                scores = model(x)\n"
            "                scores[torch.arange(len(x)), target].sum().backward()\n",
            "    was_training = model.training\n"
            "    model.eval()\n"
            "    with hooks.record_activations(model, layer) as acts:\n"
            "        with hooks.record_gradients(model, layer) as grads:\n"
            "            scores = model(x)\n"
            "            scores[torch.arange(len(x)), target].sum().backward()\n"
            "    model.train(was_training)\n",
        ),
    ],
    "ex2_answer": [
        # Grad-CAM of the last block whatever layer was asked for.
        _with(_GUIDED, "layer=layer)", 'layer="relu4")'),
        # Adds the maps instead of multiplying them.
        _with(_GUIDED, "target) * cams", "target) + cams"),
        # Takes the absolute value of guided backprop.
        _with(_GUIDED, "target) * cams", "target).abs() * cams"),
        # Multiplies by the unnormalized Grad-CAM map.
        _with(_GUIDED, "layer=layer)", "layer=layer, normalize=False)"),
        # Explains the predicted class instead of the class asked for.
        _with(
            _GUIDED,
            "    cams = grad_cam(",
            "    with torch.no_grad():\n"
            "        target = model(x).argmax(dim=1)\n"
            "    cams = grad_cam(",
        ),
    ],
    "ex3_answer": [
        # The minimum instead of the maximum.
        _with(_POINTING, "argmax(dim=1)", "argmin(dim=1)"),
        # Rows and columns swapped: the flat index is split with the height.
        _with(_POINTING, "width = maps.shape[2]", "width = maps.shape[1]"),
        # Reads the mask at (column, row).
        _with(
            _POINTING,
            _WINDOW,
            "window = masks[n, left : c + tolerance + 1, top : r + tolerance + 1]",
        ),
        # Counts a hit when any hot pixel (above half the maximum) is on the object.
        _with(_POINTING, _WINDOW, "window = masks[n] & (maps[n] >= 0.5 * maps[n].max())"),
        # A diamond (|dr| + |dc| <= t) instead of the square neighbourhood.
        _with(
            _POINTING,
            _WINDOW,
            "rows = torch.arange(maps.shape[1])[:, None]\n"
            "        cols = torch.arange(width)[None, :]\n"
            "        window = masks[n] & ((rows - r).abs() + (cols - c).abs() <= tolerance)",
        ),
        # Forgets to cut the square off at the border: a negative start gives an empty slice.
        _with(
            _POINTING,
            "top, left = max(r - tolerance, 0), max(c - tolerance, 0)",
            "top, left = r - tolerance, c - tolerance",
        ),
    ],
    "ex4_answer": [
        # Rows and columns swapped: the flat index is split with the height (non-square maps).
        _with(
            _DISCRIMINATION,
            "rows, cols = peaks // width, peaks % width",
            "rows, cols = peaks // height, peaks % height",
        ),
        # Counts a hit when the peak is on either object, not on the object of the class asked.
        _with(
            _DISCRIMINATION,
            "hits = masks[image, own, rows, cols]",
            "hits = masks.any(dim=1)[image, rows, cols]",
        ),
        # Counts images instead of maps: an image is right only when both of its maps are.
        _with(
            _DISCRIMINATION,
            "return hits.float().mean().item()",
            "return hits.all(dim=1).float().mean().item()",
        ),
        # The argmax over the wrong axis: over the two maps at each pixel, not over the pixels.
        _with(_DISCRIMINATION, "argmax(dim=2)", "argmax(dim=1)"),
        # Ties: a hit when any pixel that shares the maximum lies on the object.
        _with(
            _DISCRIMINATION,
            "hits = masks[image, own, rows, cols]",
            "hits = (masks & (maps == maps.amax(dim=(2, 3), keepdim=True))).any(dim=(2, 3))",
        ),
        # Returns a tensor instead of a Python float.
        _with(_DISCRIMINATION, "hits.float().mean().item()", "hits.float().mean()"),
    ],
}

EXPECT_FAIL = {
    "ex1_answer": ["ex1_hidden"],
    "ex2_answer": ["ex2_hidden"],
    "ex3_answer": ["ex3_hidden"],
    "ex4_answer": ["ex4_hidden"],
}
