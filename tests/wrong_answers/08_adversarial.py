"""Plausible wrong answers for lessons/08_adversarial (format: tests/notebook_utils.py)."""

from notebook_utils import replace_once as _with

# The solutions, from which most wrong answers differ by a line or two.
_FOOLING = """def fooling_image(model, x, target, lr, max_steps):
    targets = attribution.as_targets(target, len(x))
    images = x.detach().clone()
    steps = torch.full((len(x),), max_steps)
    done = torch.zeros(len(x), dtype=torch.bool)
    with attribution.eval_mode(model):
        for step in range(max_steps + 1):
            with torch.no_grad():
                newly_done = (model(images).argmax(dim=1) == targets) & ~done
            steps[newly_done] = step
            done |= newly_done
            if done.all() or step == max_steps:
                break
            leaf = images.clone().requires_grad_(True)
            with torch.enable_grad():
                score = model(leaf).gather(1, targets[:, None]).sum()
                (grad,) = torch.autograd.grad(score, leaf)
            length = grad.flatten(1).norm(dim=1).clamp(min=1e-12)[:, None, None, None]
            moved = (images + lr * grad / length).clamp(0, 1)
            images = torch.where(done[:, None, None, None], images, moved)
    return images, steps
"""

_FGSM = """def fgsm(model, x, y, eps, targeted=False):
    labels = attribution.as_targets(y, len(x))
    leaf = x.detach().clone().requires_grad_(True)
    with attribution.eval_mode(model), torch.enable_grad():
        loss = F.cross_entropy(model(leaf), labels)
        (grad,) = torch.autograd.grad(loss, leaf)
    step = -eps if targeted else eps
    return (x.detach() + step * grad.sign()).clamp(0, 1)
"""

_PGD = """def pgd(model, x, y, eps, alpha, steps, random_start=True, targeted=False, seed=0):
    labels = attribution.as_targets(y, len(x))
    original = x.detach()
    images = original.clone()
    if random_start:
        noise = torch.rand(x.shape, generator=torch.Generator().manual_seed(seed)) * 2 * eps - eps
        images = (images + noise).clamp(0, 1)
    direction = -1.0 if targeted else 1.0
    with attribution.eval_mode(model), torch.enable_grad():
        for _ in range(steps):
            leaf = images.clone().requires_grad_(True)
            loss = F.cross_entropy(model(leaf), labels)
            (grad,) = torch.autograd.grad(loss, leaf)
            images = images + direction * alpha * grad.sign()
            images = original + (images - original).clamp(-eps, eps)
            images = images.clamp(0, 1)
    return images.detach()
"""

_ACCURACY = """def accuracy_under_attack(model, attack, data, eps_list):
    if isinstance(data, tuple) and len(data) == 2 and isinstance(data[0], torch.Tensor):
        data = [data]
    accuracies = []
    for eps in eps_list:
        correct = total = 0
        for images, labels in data:
            attacked = attack(model, images, labels, eps)
            with attribution.eval_mode(model), torch.no_grad():
                correct += (model(attacked).argmax(dim=1) == labels).sum().item()
            total += len(labels)
        accuracies.append(correct / total)
    return accuracies
"""

_SHAPE_BIAS = """def shape_bias(predictions, shape_labels, texture_labels):
    predictions, shape_labels, texture_labels = (
        torch.as_tensor(t).reshape(-1) for t in (predictions, shape_labels, texture_labels)
    )
    shape = (predictions == shape_labels).sum().item()
    texture = (predictions == texture_labels).sum().item()
    if shape + texture == 0:
        raise ValueError("no prediction follows the shape or the texture")
    return shape / (shape + texture)
"""


WRONG_ANSWERS = {
    "ex1_answer": [
        # Gradient descent on the target's score: walks away from the target.
        _with(_FOOLING, "moved = (images + lr * grad", "moved = (images - lr * grad"),
        # Climbs the softmax probability of the target instead of its score (the logit).
        _with(
            _FOOLING,
            "score = model(leaf).gather(1, targets[:, None]).sum()",
            "score = model(leaf).softmax(dim=1).gather(1, targets[:, None]).sum()",
        ),
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
        _with(_FGSM, "step = -eps if targeted else eps", "step = -eps"),
        # Targeted attack in the wrong direction: raises the loss of the target.
        _with(_FGSM, "step = -eps if targeted else eps", "step = eps"),
        # Computes the gradient in training mode (dropout makes it random).
        _with(
            _FGSM,
            "with attribution.eval_mode(model), torch.enable_grad():",
            "with torch.enable_grad():",
        ),
    ],
    "ex3_answer": [
        # No projection: after enough steps the change is larger than eps.
        _with(_PGD, "            images = original + (images - original).clamp(-eps, eps)\n", ""),
        # No clamp: pixel values leave [0, 1].
        _with(_PGD, "            images = images.clamp(0, 1)\n", ""),
        # Projects around the current image instead of the original one.
        _with(
            _PGD,
            "            images = images + direction * alpha * grad.sign()\n"
            "            images = original + (images - original).clamp(-eps, eps)\n",
            "            previous = images\n"
            "            images = images + direction * alpha * grad.sign()\n"
            "            images = previous + (images - previous).clamp(-eps, eps)\n",
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
        """def accuracy_under_attack(model, attack, data, eps_list):
    if isinstance(data, tuple) and len(data) == 2 and isinstance(data[0], torch.Tensor):
        data = [data]
    accuracies = []
    for eps in eps_list:
        batch_accuracies = []
        for images, labels in data:
            attacked = attack(model, images, labels, eps)
            with attribution.eval_mode(model), torch.no_grad():
                right = model(attacked).argmax(dim=1) == labels
            batch_accuracies.append(right.float().mean().item())
        accuracies.append(sum(batch_accuracies) / len(batch_accuracies))
    return accuracies
""",
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
}

EXPECT_FAIL = {
    "ex1_answer": ["ex1_hidden"],
    "ex2_answer": ["ex2_hidden"],
    "ex3_answer": ["ex3_hidden"],
    "ex4_answer": ["ex4_hidden"],
    "ex5_answer": ["ex5_hidden"],
}
