"""Plausible wrong answers for lessons/06_grad_cam (format: tests/notebook_utils.py)."""

# The solution of exercise 1, from which the wrong answers differ by one line each.
_GRAD_CAM = """def grad_cam(model, layer, x, target, *, normalize=True):
    target = attribution.as_targets(target, len(x))
    with attribution.eval_mode(model), torch.enable_grad():
        with hooks.record_activations(model, layer) as acts:
            with hooks.record_gradients(model, layer) as grads:
                scores = model(x)
                scores[torch.arange(len(x)), target].sum().backward()
    activations, gradients = acts[layer], grads[layer]
    alpha = gradients.mean(dim=(2, 3))
    cam = (alpha[:, :, None, None] * activations).sum(dim=1).clamp(min=0)
    cam = F.interpolate(cam[:, None], size=x.shape[2:], mode="bilinear", align_corners=False)[:, 0]
    if not normalize:
        return cam.detach()
    flat = cam.flatten(1)
    flat = flat - flat.min(dim=1, keepdim=True).values
    peak = flat.max(dim=1, keepdim=True).values
    flat = torch.where(peak > 0, flat / peak.clamp(min=1e-30), torch.zeros_like(flat))
    return flat.view_as(cam).detach()
"""


def _grad_cam_with(old: str, new: str) -> str:
    assert old in _GRAD_CAM, old
    return _GRAD_CAM.replace(old, new)


# The solution of exercise 3 up to the window, shared by two wrong answers.
_POINTING = """def pointing_game(maps, masks, tolerance=0):
    maps, masks = torch.as_tensor(maps), torch.as_tensor(masks).bool()
    width = maps.shape[2]
    peaks = maps.flatten(1).argmax(dim=1)
    hits = 0
    for n, peak in enumerate(peaks.tolist()):
        r, c = divmod(peak, width)
        top, left = max(r - tolerance, 0), max(c - tolerance, 0)
        window = masks[n, top : r + tolerance + 1, left : c + tolerance + 1]
        hits += bool(window.any())
    return hits / len(maps)
"""


def _pointing_with(old: str, new: str) -> str:
    assert old in _POINTING, old
    return _POINTING.replace(old, new)


WRONG_ANSWERS = {
    "ex1_answer": [
        # No ReLU: the evidence against the class stays in the map.
        _grad_cam_with(".sum(dim=1).clamp(min=0)", ".sum(dim=1)"),
        # Nearest-neighbour upsampling instead of bilinear.
        _grad_cam_with('mode="bilinear", align_corners=False', 'mode="nearest"'),
        # Channel weights from the activations instead of the gradients.
        _grad_cam_with(
            "alpha = gradients.mean(dim=(2, 3))", "alpha = activations.mean(dim=(2, 3))"
        ),
        # Backpropagates the softmax probability instead of the score.
        _grad_cam_with(
            "scores = model(x)\n",
            "scores = model(x).softmax(dim=1)\n",
        ),
        # Normalizes over the whole batch instead of map by map.
        _grad_cam_with(
            "flat = flat - flat.min(dim=1, keepdim=True).values\n"
            "    peak = flat.max(dim=1, keepdim=True).values\n",
            "flat = flat - flat.min()\n    peak = flat.max().expand(len(flat), 1)\n",
        ),
        # Restores the model's mode without try/finally: an error leaves it in eval mode.
        _grad_cam_with(
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
        "def guided_grad_cam(model, layer, x, target):\n"
        "    cams = grad_cam(model, 'relu4', x, target)\n"
        "    return guided.guided_backprop(model, x, target) * cams[:, None]\n",
        # Adds the maps instead of multiplying them.
        "def guided_grad_cam(model, layer, x, target):\n"
        "    cams = grad_cam(model, layer, x, target)\n"
        "    return guided.guided_backprop(model, x, target) + cams[:, None]\n",
        # Takes the absolute value of guided backprop.
        "def guided_grad_cam(model, layer, x, target):\n"
        "    cams = grad_cam(model, layer, x, target)\n"
        "    return guided.guided_backprop(model, x, target).abs() * cams[:, None]\n",
        # Multiplies by the unnormalized Grad-CAM map.
        "def guided_grad_cam(model, layer, x, target):\n"
        "    cams = grad_cam(model, layer, x, target, normalize=False)\n"
        "    return guided.guided_backprop(model, x, target) * cams[:, None]\n",
        # Explains the predicted class instead of the class asked for.
        "def guided_grad_cam(model, layer, x, target):\n"
        "    with torch.no_grad():\n"
        "        predicted = model(x).argmax(dim=1)\n"
        "    cams = grad_cam(model, layer, x, predicted)\n"
        "    return guided.guided_backprop(model, x, predicted) * cams[:, None]\n",
    ],
    "ex3_answer": [
        # The minimum instead of the maximum.
        _pointing_with("argmax(dim=1)", "argmin(dim=1)"),
        # Rows and columns swapped: the flat index is split with the height.
        _pointing_with("width = maps.shape[2]", "width = maps.shape[1]"),
        # Reads the mask at (column, row).
        _pointing_with(
            "window = masks[n, top : r + tolerance + 1, left : c + tolerance + 1]",
            "window = masks[n, left : c + tolerance + 1, top : r + tolerance + 1]",
        ),
        # Counts a hit when any hot pixel (above half the maximum) is on the object.
        "def pointing_game(maps, masks, tolerance=0):\n"
        "    maps, masks = torch.as_tensor(maps), torch.as_tensor(masks).bool()\n"
        "    hot = maps >= 0.5 * maps.flatten(1).max(dim=1).values[:, None, None]\n"
        "    return (hot & masks).flatten(1).any(dim=1).float().mean().item()\n",
        # A diamond (|dr| + |dc| <= t) instead of the square neighbourhood.
        "def pointing_game(maps, masks, tolerance=0):\n"
        "    maps, masks = torch.as_tensor(maps), torch.as_tensor(masks).bool()\n"
        "    height, width = maps.shape[1:]\n"
        "    rows = torch.arange(height)[:, None].expand(height, width)\n"
        "    cols = torch.arange(width)[None, :].expand(height, width)\n"
        "    hits = 0\n"
        "    for n, peak in enumerate(maps.flatten(1).argmax(dim=1).tolist()):\n"
        "        r, c = divmod(peak, width)\n"
        "        near = (rows - r).abs() + (cols - c).abs() <= tolerance\n"
        "        hits += bool((masks[n] & near).any())\n"
        "    return hits / len(maps)\n",
        # Forgets to cut the square off at the border: a negative start gives an empty slice.
        _pointing_with(
            "top, left = max(r - tolerance, 0), max(c - tolerance, 0)",
            "top, left = r - tolerance, c - tolerance",
        ),
    ],
}

EXPECT_FAIL = {
    "ex1_answer": ["ex1_hidden"],
    "ex2_answer": ["ex2_hidden"],
    "ex3_answer": ["ex3_hidden"],
}
