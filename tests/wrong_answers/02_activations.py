"""Plausible wrong answers for lessons/02_activations (format: tests/notebook_utils.py)."""

_FIRST = """
def first(value):
    return value[0] if isinstance(value, tuple) else value

"""

# The correct crop, shared by the wrong answers of exercise 2 that go wrong elsewhere.
_CROP_AT_ARGMAX = """
    field = receptive_field(receptive.layers_up_to(model, layer))
    size = field[0]
    patches = []
    for n in indices.tolist():
        i, j = divmod(int(where[n]), maps.shape[-1])
        top, left, _ = receptive.unit_window(field, i, j)
        padded = F.pad(images[n], (size, size, size, size))
        patches.append(padded[:, top + size : top + 2 * size, left + size : left + 2 * size])
    return torch.stack(patches), scores, indices
"""

WRONG_ANSWERS = {
    "ex1_answer": [
        # Adds up the kernel sizes as if every stride were 1: size = sum(k) - n + 1.
        _FIRST + "def receptive_field(layers):\n"
        "    size, stride, start = 1, 1, 0\n"
        "    for layer in layers:\n"
        "        if isinstance(layer, nn.Conv2d | nn.MaxPool2d | nn.AvgPool2d):\n"
        "            size += first(layer.kernel_size) - 1\n"
        "            start -= first(layer.padding) * stride\n"
        "            stride *= first(layer.stride)\n"
        "    return size, stride, start\n",
        # Forgets the product of the strides: jump becomes the last layer's stride.
        _FIRST + "def receptive_field(layers):\n"
        "    size, jump, start = 1, 1, 0\n"
        "    for layer in layers:\n"
        "        if isinstance(layer, nn.Conv2d | nn.MaxPool2d | nn.AvgPool2d):\n"
        "            size += (first(layer.kernel_size) - 1) * jump\n"
        "            start -= first(layer.padding) * jump\n"
        "            jump = first(layer.stride)\n"
        "    return size, jump, start\n",
        # Ignores the pooling layers: only convolutions count.
        _FIRST + "def receptive_field(layers):\n"
        "    size, jump, start = 1, 1, 0\n"
        "    for layer in layers:\n"
        "        if isinstance(layer, nn.Conv2d):\n"
        "            size += (first(layer.kernel_size) - 1) * jump\n"
        "            start -= first(layer.padding) * jump\n"
        "            jump *= first(layer.stride)\n"
        "    return size, jump, start\n",
        # Moves the start by the padding alone, forgetting that it counts units of `jump` pixels.
        _FIRST + "def receptive_field(layers):\n"
        "    size, jump, start = 1, 1, 0\n"
        "    for layer in layers:\n"
        "        if isinstance(layer, nn.Conv2d | nn.MaxPool2d | nn.AvgPool2d):\n"
        "            size += (first(layer.kernel_size) - 1) * jump\n"
        "            start -= first(layer.padding)\n"
        "            jump *= first(layer.stride)\n"
        "    return size, jump, start\n",
        # Returns only (size, stride), the receptive field without its position.
        _FIRST + "def receptive_field(layers):\n"
        "    size, jump = 1, 1\n"
        "    for layer in layers:\n"
        "        if isinstance(layer, nn.Conv2d | nn.MaxPool2d | nn.AvgPool2d):\n"
        "            size += (first(layer.kernel_size) - 1) * jump\n"
        "            jump *= first(layer.stride)\n"
        "    return size, jump\n",
    ],
    "ex2_answer": [
        # Scores each image by the mean over positions instead of the maximum.
        "def top_activating_patches(model, layer, channel, images, k):\n"
        "    maps = hooks.collect_activations(model, layer, images)[:, channel]\n"
        "    where = maps.flatten(1).argmax(dim=1)\n"
        "    scores, indices = maps.mean(dim=(1, 2)).topk(k)\n" + _CROP_AT_ARGMAX,
        # Returns the images with the lowest maxima instead of the highest.
        "def top_activating_patches(model, layer, channel, images, k):\n"
        "    maps = hooks.collect_activations(model, layer, images)[:, channel]\n"
        "    best, where = maps.flatten(1).max(dim=1)\n"
        "    scores, indices = best.topk(k, largest=False)\n" + _CROP_AT_ARGMAX,
        # Crops around the unit's position as if it were a pixel position (forgets the stride).
        "def top_activating_patches(model, layer, channel, images, k):\n"
        "    maps = hooks.collect_activations(model, layer, images)[:, channel]\n"
        "    best, where = maps.flatten(1).max(dim=1)\n"
        "    scores, indices = best.topk(k)\n"
        "    field = receptive_field(receptive.layers_up_to(model, layer))\n"
        "    size, stride, start = field\n"
        "    patches = []\n"
        "    for n in indices.tolist():\n"
        "        i, j = divmod(int(where[n]), maps.shape[-1])\n"
        "        top, left = start + i, start + j\n"
        "        padded = F.pad(images[n], (size, size, size, size))\n"
        "        top, left = top + size, left + size  # in the padded image\n"
        "        patches.append(padded[:, top : top + size, left : left + size])\n"
        "    return torch.stack(patches), scores, indices\n",
        # Turns the flat position into (row, column) with the height instead of the width.
        "def top_activating_patches(model, layer, channel, images, k):\n"
        "    maps = hooks.collect_activations(model, layer, images)[:, channel]\n"
        "    best, where = maps.flatten(1).max(dim=1)\n"
        "    scores, indices = best.topk(k)\n"
        "    field = receptive_field(receptive.layers_up_to(model, layer))\n"
        "    size = field[0]\n"
        "    patches = []\n"
        "    for n in indices.tolist():\n"
        "        i, j = divmod(int(where[n]), maps.shape[-2])\n"
        "        top, left, _ = receptive.unit_window(field, i, j)\n"
        "        padded = F.pad(images[n], (size, size, size, size))\n"
        "        top, left = top + size, left + size  # in the padded image\n"
        "        patches.append(padded[:, top : top + size, left : left + size])\n"
        "    return torch.stack(patches), scores, indices\n",
    ],
}

EXPECT_FAIL = {
    "ex1_answer": ["ex1_check", "ex1_hidden"],
    "ex2_answer": ["ex2_hidden"],
}
