"""Plausible wrong answers for lessons/08_dreaming (format: tests/notebook_utils.py)."""

from notebook_utils import correct_answers, read, solution_path
from notebook_utils import replace_once as _with

# The correct answers, read from the teacher notebook; each wrong answer changes a line or two.
_SOLUTION = correct_answers(read(solution_path("08_dreaming")))
_TO_TARGET = _SOLUTION["ex1_answer"]
_DREAM_STEP = _SOLUTION["ex2_answer"]
_BLUR = _SOLUTION["ex3_answer"]
_CLASS_VIS = _SOLUTION["ex4_answer"]
_FLIP_RATE = _SOLUTION["ex5_answer"]
_OCTAVES = _SOLUTION["ex6_answer"]
_DEEPDREAM = _SOLUTION["ex7_answer"]
_FOURIER = _SOLUTION["ex8_answer"]
_TRANSFORM = _SOLUTION["ex9_answer"]

_WINDOW = "padded[..., m - dy : m - dy + height, m - dx : m - dx + width]"
_EXPONENTS = "range(n_octaves - 1, -1, -1)"
_DRAW = "dx, dy = torch.randint(-jitter_px, jitter_px + 1, (2,), generator=generator).tolist()\n"

WRONG_ANSWERS = {
    "ex1_answer": [
        # No softmax: the raw scores are pulled towards the one-hot target.
        _with(_TO_TARGET, "probabilities = model(x).softmax(dim=1)", "probabilities = model(x)"),
        # The sign flipped: gradient ascent on the loss.
        _with(
            _TO_TARGET,
            "(x.grad,) = torch.autograd.grad(loss, x)",
            "(x.grad,) = torch.autograd.grad(-loss, x)",
        ),
        # backward() without zero_grad(): the weights get a .grad and the image's gradients pile up.
        _with(_TO_TARGET, "(x.grad,) = torch.autograd.grad(loss, x)", "loss.backward()"),
        # No clamp: the pixels leave [0, 1].
        _with(
            _TO_TARGET, "            with torch.no_grad():\n                x.clamp_(0, 1)\n", ""
        ),
        # The loss summed over the images instead of averaged.
        _with(_TO_TARGET, ".sum(dim=1).mean()", ".sum()"),
        # The model is not put in eval mode (dropout is active in training mode).
        _with(
            _TO_TARGET,
            "with attribution.eval_mode(model), torch.enable_grad():",
            "with torch.enable_grad():",
        ),
    ],
    "ex2_answer": [
        # Gradient descent instead of ascent: the score goes down.
        _with(_DREAM_STEP, "return (x.detach() + lr", "return (x.detach() - lr"),
        # Maximizes the softmax probability instead of the score (the logit).
        _with(_DREAM_STEP, "scores = model(image)\n", "scores = model(image).softmax(dim=1)\n"),
        # The gradient is not normalized: the step is lr * g.
        _with(_DREAM_STEP, "lr * grad / norms[:, None, None, None]", "lr * grad"),
        # The L2 penalty with the wrong sign: it rewards large pixel values.
        _with(_DREAM_STEP, "- l2 * (image**2).sum()", "+ l2 * (image**2).sum()"),
        # One norm for the whole batch instead of one per image.
        _with(
            _DREAM_STEP,
            "norms = grad.flatten(1).norm(dim=1).clamp_min(1e-12)",
            "norms = grad.norm().clamp_min(1e-12).expand(len(x))",
        ),
    ],
    "ex3_answer": [
        # The kernel is not normalized: the image gets brighter.
        _with(_BLUR, "    kernel = kernel / kernel.sum()\n", ""),
        # Zero padding: a constant image gets dark borders.
        _with(
            _with(_BLUR, '(radius, radius, 0, 0), mode="reflect"', "(radius, radius, 0, 0)"),
            '(0, 0, radius, radius), mode="reflect"',
            "(0, 0, radius, radius)",
        ),
        # sigma used as the variance.
        _with(_BLUR, "/ (2 * sigma**2)", "/ (2 * sigma)"),
        # The radius truncated instead of rounded up.
        _with(_BLUR, "radius = math.ceil(3 * sigma)", "radius = int(3 * sigma)"),
    ],
    "ex4_answer": [
        # The jitter is never undone: the shifts pile up.
        _with(
            _CLASS_VIS, "x = dream.jitter(stepped, -dx, -dy).clamp(0, 1)", "x = stepped.clamp(0, 1)"
        ),
        # One jitter offset for the whole run, drawn before the loop.
        _with(
            _with(
                _CLASS_VIS,
                "        " + _DRAW,
                "",
            ),
            "    for number in range(steps):\n",
            "    " + _DRAW + "    for number in range(steps):\n",
        ),
        # Blurs and clips after steps 1, 4, 7, ... instead of 3, 6, ... (off by one).
        _with(_CLASS_VIS, "(number + 1) % blur_every == 0", "number % blur_every == 0"),
        # The faint pixels are reset to black instead of the background.
        _with(_CLASS_VIS, "baseline=start", "baseline=0.0"),
        # No clamp after the step: the pixels leave [0, 1].
        _with(
            _CLASS_VIS,
            "x = dream.jitter(stepped, -dx, -dy).clamp(0, 1)",
            "x = dream.jitter(stepped, -dx, -dy)",
        ),
    ],
    "ex5_answer": [
        # torch.roll instead of a zero-filled shift: what leaves one side comes back on the other.
        _with(_FLIP_RATE, _WINDOW, "torch.roll(images, shifts=(dy, dx), dims=(2, 3))"),
        # dx and dy swapped: the grid comes out transposed.
        _with(_FLIP_RATE, "rates[dy + m, dx + m]", "rates[dx + m, dy + m]"),
        # The fraction of unchanged predictions instead of changed ones.
        _with(_FLIP_RATE, "!= reference", "== reference"),
        # Shifts in the opposite direction (the window moved the wrong way).
        _with(
            _FLIP_RATE, _WINDOW, "padded[..., m + dy : m + dy + height, m + dx : m + dx + width]"
        ),
        # Predicts in whatever mode the model is in (dropout active in training mode).
        _with(
            _FLIP_RATE,
            "with attribution.eval_mode(model), torch.no_grad():",
            "with torch.no_grad():",
        ),
    ],
    "ex6_answer": [
        # Largest first.
        _with(_OCTAVES, _EXPONENTS, "range(n_octaves)"),
        # Exponents off by one: the full size is missing.
        _with(_OCTAVES, _EXPONENTS, "range(n_octaves, 0, -1)"),
        # int() truncates instead of rounding.
        _with(
            _OCTAVES,
            "(round(height / scale**k), round(width / scale**k))",
            "(int(height / scale**k), int(width / scale**k))",
        ),
    ],
    "ex7_answer": [
        # Gradient descent instead of ascent.
        _with(_DEEPDREAM, "x = (x + lr * grad", "x = (x - lr * grad"),
        # One scale for the whole batch: an image with small gradients barely moves.
        _with(
            _DEEPDREAM,
            "grad.abs().mean(dim=(1, 2, 3), keepdim=True).clamp_min(1e-12)",
            "grad.abs().mean().clamp_min(1e-12)",
        ),
        # The image is rolled but never rolled back: the jitter piles up.
        _with(
            _with(
                _DEEPDREAM,
                "rolled = torch.roll(x, shifts=(dy, dx), dims=(2, 3))",
                "x = torch.roll(x, shifts=(dy, dx), dims=(2, 3))",
            ),
            "(grad,) = torch.autograd.grad(objective(rolled), rolled)\n"
            "                grad = torch.roll(grad, shifts=(-dy, -dx), dims=(2, 3))\n",
            "(grad,) = torch.autograd.grad(objective(x), x)\n",
        ),
        # No octaves: everything happens at full size.
        _with(
            _DEEPDREAM,
            "sizes = octave_sizes(tuple(photo.shape[-2:]), n_octaves, scale)",
            "sizes = [tuple(photo.shape[-2:])]",
        ),
        # The detail is not carried over: each octave starts again from the resized photo.
        _with(_DEEPDREAM, "x = (base + enlarged).clamp(0, 1)", "x = base.clone()"),
        # The whole dreamed image is enlarged instead of the detail: the photo gets blurred.
        _with(
            _with(
                _with(
                    _DEEPDREAM,
                    "    detail = torch.zeros(len(photo), photo.shape[1], *sizes[0])\n",
                    "    x = photo\n",
                ),
                "            base = F.interpolate(photo, size=size, "
                'mode="bilinear", align_corners=False)\n'
                "            enlarged = F.interpolate(detail, size=size, "
                'mode="bilinear", align_corners=False)\n'
                "            x = (base + enlarged).clamp(0, 1)\n",
                "            x = F.interpolate(x, size=size, "
                'mode="bilinear", align_corners=False)\n',
            ),
            "            detail = x - base\n",
            "",
        ),
        # No clamp: pixel values leave [0, 1].
        _with(_DEEPDREAM, "/ scale_).clamp(0, 1)", "/ scale_)"),
    ],
    "ex8_answer": [
        # No 1 / frequency scale: every frequency gets the same weight (fine noise dominates).
        _with(_FOURIER, "torch.fft.irfft2(spectrum * scale,", "torch.fft.irfft2(spectrum,"),
        # Multiplied by the frequency instead of divided: the constant term vanishes.
        _with(
            _FOURIER,
            "scale = 1 / frequency.clamp_min(1 / max(height, width))",
            "scale = frequency.clamp_min(1 / max(height, width))",
        ),
        # The colour matrix transposed.
        _with(_FOURIER, '"ij,njhw->nihw"', '"ji,njhw->nihw"'),
        # irfft2's default normalization instead of "ortho": everything shrinks by sqrt(H W).
        _with(_FOURIER, ', norm="ortho")', ")"),
        # Row and column frequencies both from the width.
        _with(_FOURIER, "fy = torch.fft.fftfreq(height)", "fy = torch.fft.fftfreq(width)[:height]"),
    ],
    "ex9_answer": [
        # Zero padding instead of grey.
        _with(_TRANSFORM, "(pad, pad, pad, pad), value=0.5)", "(pad, pad, pad, pad))"),
        # dx and dy swapped in the roll.
        _with(_TRANSFORM, "shifts=(dy, dx)", "shifts=(dx, dy)"),
        # Degrees passed to cos and sin as if they were radians.
        _with(_TRANSFORM, "a = math.radians(degrees)", "a = degrees"),
        # Multiplied by the scale: the content shrinks instead of growing.
        _with(_TRANSFORM, "theta = theta / scale", "theta = theta * scale"),
        # Rotation in the opposite sense (the matrix transposed).
        _with(
            _TRANSFORM,
            "[[math.cos(a), -math.sin(a), 0.0], [math.sin(a), math.cos(a), 0.0]]",
            "[[math.cos(a), math.sin(a), 0.0], [-math.sin(a), math.cos(a), 0.0]]",
        ),
    ],
}

EXPECT_FAIL = {
    "ex1_answer": ["ex1_hidden"],
    "ex2_answer": ["ex2_hidden"],
    "ex3_answer": ["ex3_hidden"],
    "ex4_answer": ["ex4_hidden"],
    "ex5_answer": ["ex5_hidden"],
    "ex6_answer": ["ex6_hidden"],
    "ex7_answer": ["ex7_hidden"],
    "ex8_answer": ["ex8_hidden"],
    "ex9_answer": ["ex9_hidden"],
}
