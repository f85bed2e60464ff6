"""Plausible wrong answers for lessons/07_dreaming (format: tests/notebook_utils.py)."""

from notebook_utils import replace_once as _with

# The solutions, from which most wrong answers differ by one line.
_DREAM_STEP = """def dream_step(model, x, target, lr=1.0, l2=0.0):
    target = attribution.as_targets(target, len(x))
    image = x.detach().clone().requires_grad_(True)
    with attribution.eval_mode(model), torch.enable_grad():
        scores = model(image)
        objective = scores[torch.arange(len(x)), target].sum() - l2 * (image**2).sum()
        (grad,) = torch.autograd.grad(objective, image)
    norms = grad.flatten(1).norm(dim=1).clamp_min(1e-12)
    return (x.detach() + lr * grad / norms[:, None, None, None]).detach()
"""

_BLUR = """def gaussian_blur(x, sigma):
    radius = math.ceil(3 * sigma)
    offsets = torch.arange(-radius, radius + 1, dtype=x.dtype)
    kernel = torch.exp(-(offsets**2) / (2 * sigma**2))
    kernel = kernel / kernel.sum()
    channels = x.shape[1]
    rows = kernel.view(1, 1, 1, -1).repeat(channels, 1, 1, 1)
    cols = kernel.view(1, 1, -1, 1).repeat(channels, 1, 1, 1)
    x = F.conv2d(F.pad(x, (radius, radius, 0, 0), mode="reflect"), rows, groups=channels)
    return F.conv2d(F.pad(x, (0, 0, radius, radius), mode="reflect"), cols, groups=channels)
"""

_FLIP_RATE = """def translation_flip_rate(model, images, max_shift):
    m = max_shift
    height, width = images.shape[-2:]
    padded = F.pad(images, (m, m, m, m))
    rates = torch.zeros(2 * m + 1, 2 * m + 1)
    with attribution.eval_mode(model), torch.no_grad():
        reference = model(images).argmax(dim=1)
        for dy in range(-m, m + 1):
            for dx in range(-m, m + 1):
                moved = padded[..., m - dy : m - dy + height, m - dx : m - dx + width]
                rates[dy + m, dx + m] = (model(moved).argmax(dim=1) != reference).float().mean()
    return rates
"""

_OCTAVES = """def octave_sizes(size, n_octaves, scale=1.4):
    height, width = size
    return [
        (round(height / scale**k), round(width / scale**k)) for k in range(n_octaves - 1, -1, -1)
    ]
"""

_DEEPDREAM = """def deepdream(
    model, image, layer, steps=10, lr=0.02, n_octaves=3, scale=1.4, jitter_px=4, seed=0
):
    g = torch.Generator().manual_seed(seed)
    photo = image.detach()[None]
    sizes = octave_sizes(tuple(image.shape[-2:]), n_octaves, scale)
    detail = torch.zeros(1, image.shape[0], *sizes[0])
    objective = dream.layer_objective(model, layer)
    with attribution.eval_mode(model):
        for size in sizes:
            base = F.interpolate(photo, size=size, mode="bilinear", align_corners=False)
            enlarged = F.interpolate(detail, size=size, mode="bilinear", align_corners=False)
            x = (base + enlarged).clamp(0, 1)
            for _ in range(steps):
                dx, dy = torch.randint(-jitter_px, jitter_px + 1, (2,), generator=g).tolist()
                rolled = torch.roll(x, shifts=(dy, dx), dims=(2, 3)).requires_grad_(True)
                (grad,) = torch.autograd.grad(objective(rolled), rolled)
                grad = torch.roll(grad, shifts=(-dy, -dx), dims=(2, 3))
                x = (x + lr * grad / grad.abs().mean().clamp_min(1e-12)).clamp(0, 1).detach()
            detail = x - base
    return x[0]
"""


WRONG_ANSWERS = {
    "ex1_answer": [
        # Gradient descent instead of ascent: the score goes down.
        _with(_DREAM_STEP, "return (x.detach() + lr", "return (x.detach() - lr"),
        # Maximizes the softmax probability instead of the score (the logit).
        _with(_DREAM_STEP, "scores = model(image)\n", "scores = model(image).softmax(dim=1)\n"),
        # The gradient is not normalized: the step is lr * g.
        _with(
            _DREAM_STEP,
            "return (x.detach() + lr * grad / norms[:, None, None, None]).detach()",
            "return (x.detach() + lr * grad).detach()",
        ),
        # The L2 penalty with the wrong sign: it rewards large pixel values.
        _with(_DREAM_STEP, "- l2 * (image**2).sum()", "+ l2 * (image**2).sum()"),
        # One norm for the whole batch instead of one per image.
        _with(
            _DREAM_STEP,
            "norms = grad.flatten(1).norm(dim=1).clamp_min(1e-12)",
            "norms = grad.norm().clamp_min(1e-12).expand(len(x))",
        ),
    ],
    "ex2_answer": [
        # The kernel is not normalized: the image gets brighter.
        _with(_BLUR, "    kernel = kernel / kernel.sum()\n", ""),
        # Zero padding: a constant image gets dark borders.
        _with(_BLUR, 'mode="reflect"', 'mode="constant"'),
        # sigma used as the variance.
        _with(_BLUR, "/ (2 * sigma**2)", "/ (2 * sigma)"),
        # The radius truncated instead of rounded up.
        _with(_BLUR, "radius = math.ceil(3 * sigma)", "radius = int(3 * sigma)"),
    ],
    "ex3_answer": [
        # torch.roll instead of a zero-filled shift: what leaves one side comes back on the other.
        _with(
            _FLIP_RATE,
            "moved = padded[..., m - dy : m - dy + height, m - dx : m - dx + width]",
            "moved = torch.roll(images, shifts=(dy, dx), dims=(2, 3))",
        ),
        # dx and dy swapped: the grid comes out transposed.
        _with(_FLIP_RATE, "rates[dy + m, dx + m]", "rates[dx + m, dy + m]"),
        # The fraction of unchanged predictions instead of changed ones.
        _with(_FLIP_RATE, "!= reference", "== reference"),
        # Shifts in the opposite direction (the window moved the wrong way).
        _with(
            _FLIP_RATE,
            "padded[..., m - dy : m - dy + height, m - dx : m - dx + width]",
            "padded[..., m + dy : m + dy + height, m + dx : m + dx + width]",
        ),
        # Predicts in whatever mode the model is in (dropout active in training mode).
        _with(
            _FLIP_RATE,
            "with attribution.eval_mode(model), torch.no_grad():",
            "with torch.no_grad():",
        ),
    ],
    "ex4_answer": [
        # Largest first.
        _with(_OCTAVES, "range(n_octaves - 1, -1, -1)", "range(n_octaves)"),
        # Exponents off by one: the full size is missing.
        _with(_OCTAVES, "range(n_octaves - 1, -1, -1)", "range(n_octaves, 0, -1)"),
        # int() truncates instead of rounding.
        _with(
            _OCTAVES,
            "(round(height / scale**k), round(width / scale**k))",
            "(int(height / scale**k), int(width / scale**k))",
        ),
    ],
    "ex5_answer": [
        # Gradient descent instead of ascent.
        _with(_DEEPDREAM, "x = (x + lr * grad", "x = (x - lr * grad"),
        # The image is rolled but never rolled back: the jitter piles up.
        _with(
            _with(
                _DEEPDREAM,
                "rolled = torch.roll(x, shifts=(dy, dx), dims=(2, 3)).requires_grad_(True)",
                "x = torch.roll(x, shifts=(dy, dx), dims=(2, 3)).requires_grad_(True)",
            ),
            "(grad,) = torch.autograd.grad(objective(rolled), rolled)\n"
            "                grad = torch.roll(grad, shifts=(-dy, -dx), dims=(2, 3))\n",
            "(grad,) = torch.autograd.grad(objective(x), x)\n",
        ),
        # No octaves: everything happens at full size.
        _with(
            _DEEPDREAM,
            "sizes = octave_sizes(tuple(image.shape[-2:]), n_octaves, scale)",
            "sizes = [tuple(image.shape[-2:])]",
        ),
        # The detail is not carried over: each octave starts again from the resized photo.
        _with(_DEEPDREAM, "x = (base + enlarged).clamp(0, 1)", "x = base.clone()"),
        # The whole dreamed image is enlarged instead of the detail: the photo gets blurred.
        _with(
            _with(
                _with(
                    _DEEPDREAM,
                    "    detail = torch.zeros(1, image.shape[0], *sizes[0])\n",
                    "    x = photo\n",
                ),
                '            base = F.interpolate(photo, size=size, mode="bilinear", '
                "align_corners=False)\n"
                '            enlarged = F.interpolate(detail, size=size, mode="bilinear", '
                "align_corners=False)\n"
                "            x = (base + enlarged).clamp(0, 1)\n",
                '            x = F.interpolate(x, size=size, mode="bilinear", '
                "align_corners=False)\n",
            ),
            "            detail = x - base\n",
            "",
        ),
        # No clamp: pixel values leave [0, 1].
        _with(
            _DEEPDREAM,
            "x = (x + lr * grad / grad.abs().mean().clamp_min(1e-12)).clamp(0, 1).detach()",
            "x = (x + lr * grad / grad.abs().mean().clamp_min(1e-12)).detach()",
        ),
    ],
}

EXPECT_FAIL = {
    "ex1_answer": ["ex1_hidden"],
    "ex2_answer": ["ex2_hidden"],
    "ex3_answer": ["ex3_hidden"],
    "ex4_answer": ["ex4_hidden"],
    "ex5_answer": ["ex5_hidden"],
}
