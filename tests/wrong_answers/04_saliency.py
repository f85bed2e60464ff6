"""Plausible wrong answers for lessons/04_saliency (format: tests/notebook_utils.py)."""

# The correct SmoothGrad noise scale, shared by the wrong answers that go wrong elsewhere.
_SIGMA = (
    "    flat = x.flatten(1)\n"
    "    sigma = (noise_level * (flat.max(dim=1).values - flat.min(dim=1).values))"
    ".view(-1, 1, 1, 1)\n"
)

# Everything but the connected-component step of saliency_to_mask.
_LARGEST = (
    "def largest(kept):\n"
    "    regions = connected_components(kept, connectivity=2)\n"
    "    if regions.max() == 0:\n"
    "        return kept\n"
    "    sizes = np.bincount(regions.ravel())\n"
    "    sizes[0] = 0\n"
    "    return regions == sizes.argmax()\n\n\n"
)


def _saliency(body):
    return (
        "def saliency_map(model, x, y):\n"
        "    was_training = model.training\n"
        "    model.eval()\n"
        "    x = x.detach().clone().requires_grad_(True)\n"
        + body
        + "    model.train(was_training)\n"
    )


WRONG_ANSWERS = {
    "ex1_answer": [
        # The gradient of the softmax probability instead of the score.
        _saliency(
            "    model(x).softmax(dim=1).gather(1, y[:, None]).sum().backward()\n"
            "    return x.grad.detach().abs().amax(dim=1)\n"
        ),
        # No absolute value: the largest signed gradient over the channels.
        _saliency(
            "    model(x).gather(1, y[:, None]).sum().backward()\n"
            "    return x.grad.detach().amax(dim=1)\n"
        ),
        # The mean over the channels instead of the maximum.
        _saliency(
            "    model(x).gather(1, y[:, None]).sum().backward()\n"
            "    return x.grad.detach().abs().mean(dim=1)\n"
        ),
        # The gradient of the (batch-mean) cross-entropy loss.
        _saliency(
            "    F.cross_entropy(model(x), y).backward()\n"
            "    return x.grad.detach().abs().amax(dim=1)\n"
        ),
        # Never switches to eval mode: dropout stays on.
        "def saliency_map(model, x, y):\n"
        "    x = x.detach().clone().requires_grad_(True)\n"
        "    model(x).gather(1, y[:, None]).sum().backward()\n"
        "    return x.grad.detach().abs().amax(dim=1)\n",
        # Switches to eval mode and leaves the model there.
        "def saliency_map(model, x, y):\n"
        "    model.eval()\n"
        "    x = x.detach().clone().requires_grad_(True)\n"
        "    model(x).gather(1, y[:, None]).sum().backward()\n"
        "    return x.grad.detach().abs().amax(dim=1)\n",
    ],
    "ex2_answer": [
        # Absolute noise: sigma = noise_level, whatever the value range of the image.
        "def smoothgrad(model, x, y, n_samples, noise_level, seed):\n"
        "    generator = torch.Generator().manual_seed(seed)\n"
        "    total = 0\n"
        "    for _ in range(n_samples):\n"
        "        noise = torch.randn(x.shape, generator=generator) * noise_level\n"
        "        total = total + saliency_map(model, x + noise, y)\n"
        "    return total / n_samples\n",
        # The noise is drawn once and reused for every sample.
        "def smoothgrad(model, x, y, n_samples, noise_level, seed):\n"
        "    generator = torch.Generator().manual_seed(seed)\n" + _SIGMA + ""
        "    noise = torch.randn(x.shape, generator=generator) * sigma\n"
        "    total = 0\n"
        "    for _ in range(n_samples):\n"
        "        total = total + saliency_map(model, x + noise, y)\n"
        "    return total / n_samples\n",
        # Averages the signed gradients, then takes the absolute value.
        "def smoothgrad(model, x, y, n_samples, noise_level, seed):\n"
        "    generator = torch.Generator().manual_seed(seed)\n" + _SIGMA + ""
        "    total = 0\n"
        "    for _ in range(n_samples):\n"
        "        noise = torch.randn(x.shape, generator=generator) * sigma\n"
        "        noisy = (x + noise).detach().requires_grad_(True)\n"
        "        model.eval()\n"
        "        model(noisy).gather(1, y[:, None]).sum().backward()\n"
        "        total = total + noisy.grad\n"
        "    return (total / n_samples).abs().amax(dim=1)\n",
        # One value range for the whole batch instead of one per image.
        "def smoothgrad(model, x, y, n_samples, noise_level, seed):\n"
        "    generator = torch.Generator().manual_seed(seed)\n"
        "    sigma = noise_level * (x.max() - x.min())\n"
        "    total = 0\n"
        "    for _ in range(n_samples):\n"
        "        noise = torch.randn(x.shape, generator=generator) * sigma\n"
        "        total = total + saliency_map(model, x + noise, y)\n"
        "    return total / n_samples\n",
    ],
    "ex3_answer": [
        # No connected-component step: all the top pixels.
        "def saliency_to_mask(saliency_maps, fraction):\n"
        "    masks = []\n"
        "    for single in saliency_maps.float():\n"
        "        masks.append(single >= torch.quantile(single.flatten(), 1 - fraction))\n"
        "    return torch.stack(masks)\n",
        # One threshold for the whole batch instead of one per image.
        _LARGEST + "def saliency_to_mask(saliency_maps, fraction):\n"
        "    threshold = torch.quantile(saliency_maps.float().flatten(), 1 - fraction)\n"
        "    kept = (saliency_maps >= threshold).numpy()\n"
        "    return torch.from_numpy(np.stack([largest(k) for k in kept]))\n",
        # Keeps the smallest region instead of the largest.
        "def saliency_to_mask(saliency_maps, fraction):\n"
        "    masks = []\n"
        "    for single in saliency_maps.float():\n"
        "        kept = (single >= torch.quantile(single.flatten(), 1 - fraction)).numpy()\n"
        "        regions = connected_components(kept, connectivity=2)\n"
        "        if regions.max() == 0:\n"
        "            masks.append(kept)\n"
        "            continue\n"
        "        sizes = np.bincount(regions.ravel()).astype(float)\n"
        "        sizes[0] = np.inf\n"
        "        masks.append(regions == sizes.argmin())\n"
        "    return torch.from_numpy(np.stack(masks))\n",
        # 4-connected regions (connectivity=1): pixels touching at a corner are split.
        "def saliency_to_mask(saliency_maps, fraction):\n"
        "    masks = []\n"
        "    for single in saliency_maps.float():\n"
        "        kept = (single >= torch.quantile(single.flatten(), 1 - fraction)).numpy()\n"
        "        regions = connected_components(kept, connectivity=1)\n"
        "        if regions.max() == 0:\n"
        "            masks.append(kept)\n"
        "            continue\n"
        "        sizes = np.bincount(regions.ravel())\n"
        "        sizes[0] = 0\n"
        "        masks.append(regions == sizes.argmax())\n"
        "    return torch.from_numpy(np.stack(masks))\n",
    ],
    "ex4_answer": [
        # One IoU for the whole batch (pooled), not one per image.
        "def iou(a, b):\n    return ((a & b).sum().float() / (a | b).sum().float()).reshape(1)\n",
        # Intersection over the area of the first mask.
        "def iou(a, b):\n"
        "    inter = (a & b).flatten(1).sum(dim=1).float()\n"
        "    area = a.flatten(1).sum(dim=1).float()\n"
        "    return torch.where(area > 0, inter / area.clamp(min=1), torch.ones_like(area))\n",
        # Integer division: every partial overlap becomes 0.
        "def iou(a, b):\n"
        "    inter = (a & b).flatten(1).sum(dim=1)\n"
        "    union = (a | b).flatten(1).sum(dim=1)\n"
        "    return torch.where(union > 0, inter // union.clamp(min=1), 1)\n",
        # Forgets to subtract the intersection: |A| + |B| as the union.
        "def iou(a, b):\n"
        "    inter = (a & b).flatten(1).sum(dim=1).float()\n"
        "    union = (a.flatten(1).sum(dim=1) + b.flatten(1).sum(dim=1)).float()\n"
        "    return torch.where(union > 0, inter / union.clamp(min=1), torch.ones_like(union))\n",
        # Counts with uint8: the counts wrap around at 256.
        "def iou(a, b):\n"
        "    inter = (a & b).to(torch.uint8).flatten(1).sum(dim=1, dtype=torch.uint8).float()\n"
        "    union = (a | b).to(torch.uint8).flatten(1).sum(dim=1, dtype=torch.uint8).float()\n"
        "    return torch.where(union > 0, inter / union.clamp(min=1), torch.ones_like(union))\n",
        # 0 / 0 for two empty masks: NaN instead of 1.
        "def iou(a, b):\n"
        "    inter = (a & b).flatten(1).sum(dim=1).float()\n"
        "    return inter / (a | b).flatten(1).sum(dim=1).float()\n",
    ],
}

EXPECT_FAIL = {
    "ex1_answer": ["ex1_hidden"],
    "ex2_answer": ["ex2_hidden"],
    "ex3_answer": ["ex3_hidden"],
    "ex4_answer": ["ex4_hidden"],
}
