"""Plausible wrong answers for lessons/09_adversarial (format: tests/notebook_utils.py)."""

from notebook_utils import correct_answers, read, solution_path
from notebook_utils import cut_lines as _cut
from notebook_utils import replace_once as _with

# The correct answers, read from the teacher notebook; each wrong answer changes a line or two.
_SOLUTION = correct_answers(read(solution_path("09_adversarial")))
_FOOLING = _SOLUTION["ex1_answer"]
_FGSM = _SOLUTION["ex2_answer"]
_PGD = _SOLUTION["ex3_answer"]
_ACCURACY = _SOLUTION["ex4_answer"]
_STEP = _SOLUTION["ex5_answer"]
_ROUND = _SOLUTION["ex6_answer"]
_SHAPE_BIAS = _SOLUTION["ex7_answer"]
_PATCH = _SOLUTION["ex8_answer"]


_UNTARGETED = "step = -eps if targeted else eps"
_PROJECTION = "images = original + (images - original).clamp(-eps, eps)"
_PATCH_STEP = "patch = (patch - lr * grad.sign()).clamp(0, 1)"
_POSITIONS = "tops, lefts = adversarial.patch_positions(x, size, generator)"

WRONG_ANSWERS = {
    "ex1_answer": [
        # Gradient descent on the target's score: walks away from the target.
        _with(_FOOLING, "moved = (images + lr * grad", "moved = (images - lr * grad"),
        # Climbs the softmax probability of the target instead of its score (the logit).
        _with(_FOOLING, "model(leaf).gather(", "model(leaf).softmax(dim=1).gather("),
        # Never stops an image: every image keeps moving until all of them are fooled.
        _with(
            _FOOLING,
            "images = torch.where(done[:, None, None, None], images, moved)",
            "images = moved",
        ),
        # One gradient norm for the whole batch instead of one per image.
        _with(
            _FOOLING,
            "length = grad.flatten(1).norm(dim=1).clamp(min=1e-12)[:, None, None, None]",
            "length = grad.norm().clamp(min=1e-12)",
        ),
    ],
    "ex2_answer": [
        # No sign: a step along the raw gradient.
        _with(_FGSM, "step * grad.sign()", "step * grad"),
        # No clamp: pixel values leave [0, 1].
        _with(_FGSM, "(x.detach() + step * grad.sign()).clamp(0, 1)", "x + step * grad.sign()"),
        # Gradient descent in the untargeted case: lowers the loss of the true class.
        _with(_FGSM, _UNTARGETED, "step = -eps"),
        # Targeted attack in the wrong direction: raises the loss of the target.
        _with(_FGSM, _UNTARGETED, "step = eps"),
        # Computes the gradient in training mode (dropout makes it random).
        _with(
            _FGSM,
            "with attribution.eval_mode(model), torch.enable_grad():",
            "with torch.enable_grad():",
        ),
    ],
    "ex3_answer": [
        # No projection: after enough steps the change is larger than eps.
        _cut(_PGD, _PROJECTION, "images = images.clamp(0, 1)"),
        # No clamp: pixel values leave [0, 1].
        _cut(_PGD, "images = images.clamp(0, 1)", "return images.detach()"),
        # Projects around the current image instead of the original one.
        _with(
            _PGD,
            "images = images + direction * alpha * grad.sign()\n            " + _PROJECTION,
            "previous = images\n"
            "            images = images + direction * alpha * grad.sign()\n"
            "            images = previous + (images - previous).clamp(-eps, eps)",
        ),
        # Gradient descent in the untargeted case.
        _with(_PGD, "direction = -1.0 if targeted else 1.0", "direction = -1.0"),
        # Random start in [0, eps] instead of [-eps, eps].
        _with(_PGD, "* 2 * eps - eps", "* eps"),
    ],
    "ex4_answer": [
        # Accuracy on the clean images for every eps: the attacked images are never used.
        _with(_ACCURACY, "model(attacked).argmax", "model(images).argmax"),
        # The mean of the batch accuracies: wrong when the batches differ in size.
        _with(
            _with(_ACCURACY, "== labels).sum().item()", "== labels).float().mean().item()"),
            "total += len(labels)",
            "total += 1",
        ),
        # The share of images the attack fooled instead of the accuracy.
        _with(_ACCURACY, "argmax(dim=1) == labels", "argmax(dim=1) != labels"),
        # Predicts in training mode (dropout makes the accuracy random).
        _with(
            _ACCURACY,
            "with attribution.eval_mode(model), torch.no_grad():",
            "with torch.no_grad():",
        ),
    ],
    "ex5_answer": [
        # Attacks in the mode the model came in (train mode in a training loop: dropout noise).
        _with(_STEP, "with attribution.eval_mode(model):", "with torch.enable_grad():"),
        # No zero_grad: the stale gradients of the previous batch are added to the new ones.
        _with(_STEP, "    optimizer.zero_grad()\n", ""),
        # The whole batch attacked, whatever the fraction.
        _with(_STEP, "k = int(fraction * len(images))", "k = len(images)"),
        # The loss on the clean images only: the attacked images are never trained on.
        _with(_STEP, "model(mixed)", "model(images)"),
        # The attacked images put at the end: they get the labels of other images.
        _with(
            _STEP,
            "torch.cat([attacked.detach(), images[k:]])",
            "torch.cat([images[k:], attacked.detach()])",
        ),
        # The summed loss instead of the mean: a step N times too large.
        _with(
            _STEP,
            "F.cross_entropy(model(mixed), labels)",
            'F.cross_entropy(model(mixed), labels, reduction="sum")',
        ),
        # Returns the loss tensor, with the graph of the whole batch, instead of a float.
        _with(_STEP, "return loss.item()", "return loss"),
        # Computes the loss in the mode the model came in (eval mode: no dropout).
        _with(_STEP, "    model.train()\n", ""),
    ],
    "ex6_answer": [
        # The true derivative of rounding: zero, so the attacker is blind again.
        _with(_ROUND, "return grad_output", "return torch.zeros_like(grad_output)"),
        # The derivative of the identity, 1, instead of the incoming gradient times 1.
        _with(_ROUND, "return grad_output", "return torch.ones_like(grad_output)"),
        # Rounds down instead of to the nearest integer.
        _with(_ROUND, "return torch.round(x)", "return torch.floor(x)"),
    ],
    "ex7_answer": [
        # Divides by all images, including the decisions that follow neither cue.
        _with(_SHAPE_BIAS, "return shape / (shape + texture)", "return shape / len(predictions)"),
        # The texture share instead of the shape share.
        _with(_SHAPE_BIAS, "return shape / (", "return texture / ("),
        # Counts texture decisions as shape decisions too.
        _with(
            _SHAPE_BIAS,
            "shape = (predictions == shape_labels).sum().item()",
            "shape = (predictions == shape_labels) | (predictions == texture_labels)\n"
            "    shape = shape.sum().item()",
        ),
    ],
    "ex8_answer": [
        # Gradient ascent: raises the loss of the target, a patch that pushes away from it.
        _with(_PATCH, _PATCH_STEP, "patch = (patch + lr * grad.sign()).clamp(0, 1)"),
        # No clamp: the patch's values leave [0, 1].
        _with(_PATCH, _PATCH_STEP, "patch = patch - lr * grad.sign()"),
        # A step along the raw gradient instead of its sign.
        _with(_PATCH, _PATCH_STEP, "patch = (patch - lr * grad).clamp(0, 1)"),
        # Positions drawn once, before the loop: the patch only learns to work there.
        _with(
            _with(_PATCH, "            " + _POSITIONS + "\n", ""),
            "    with attribution.eval_mode(model)",
            "    " + _POSITIONS + "\n    with attribution.eval_mode(model)",
        ),
        # One position per step, shared by all the images.
        _with(
            _PATCH, "patch_positions(x, size, generator)", "patch_positions(x[:1], size, generator)"
        ),
        # .backward() fills the .grad of the model's weights as well.
        _with(
            _PATCH,
            "(grad,) = torch.autograd.grad(loss, leaf)",
            "loss.backward()\n            grad = leaf.grad",
        ),
        # Optimizes in training mode (dropout makes every step random).
        _with(
            _PATCH,
            "with attribution.eval_mode(model), torch.enable_grad():",
            "with torch.enable_grad():",
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
}
