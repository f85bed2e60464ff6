"""Adversarial examples: small changes of the input that change the answer.

All attacks work on images in [0, 1] (apply normalization inside the model) and on the
**logits** of a classifier; the loss is the cross-entropy, averaged over the batch.

* :func:`fooling_image`: ascend one wrong class's score until the model predicts it.
* :func:`fgsm`: one step of size ``eps`` along the sign of the loss gradient.
* :func:`pgd`: many small sign steps, each followed by a projection back into the
  ``eps``-ball around the original image and the valid range.
* :func:`accuracy_under_attack`: accuracy on attacked images for several ``eps``.
* :func:`adversarial_training_step`: one optimizer step on a batch that is partly attacked.
* :class:`BitDepth`: an input-transformation "defense", with the straight-through
  gradient (BPDA) an adaptive attacker uses to break it.
* :func:`shape_bias`: shape versus texture decisions on cue-conflict images.
* :func:`adversarial_patch`: one small patch that pushes many images to a target class
  wherever it is pasted, with :func:`paste_patch` and :func:`patch_positions`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
import torch.nn.functional as F
from torch import nn

from .attribution import Target, as_targets, check_images, eval_mode, normalized_step
from .models import predict


def check_unit_range(x: torch.Tensor, name: str = "images") -> torch.Tensor:
    """Raise a clear error unless ``x`` is an image batch with values in [0, 1]."""
    x = check_images(x, name)
    low, high = x.min().item(), x.max().item()
    if low < 0 or high > 1:
        raise ValueError(
            f"{name} must lie in [0, 1] (attacks clamp to that range), got values in "
            f"[{low:.3g}, {high:.3g}]: pass unnormalized images and normalize inside the model"
        )
    return x


def _check_eps(eps: float) -> float:
    if not 0 <= eps <= 1:
        raise ValueError(
            f"eps is a change of pixel values in [0, 1]: expected 0 <= eps <= 1, got {eps}"
        )
    return float(eps)


def loss_gradient(model: nn.Module, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Gradient of the mean cross-entropy loss for ``target`` (N,) with respect to ``x``;
    weights untouched."""
    # BEGIN EXERCISE 09_adversarial
    x = check_images(x).detach().requires_grad_(True)
    with eval_mode(model), torch.enable_grad():
        loss = F.cross_entropy(model(x), target)
        (grad,) = torch.autograd.grad(loss, x)
    return grad
    # END EXERCISE


def _labels(model: nn.Module, x: torch.Tensor, target: Target, targeted: bool) -> torch.Tensor:
    """``(N,)`` class indices; ``None`` means each image's predicted class (untargeted only)."""
    if target is not None:
        return as_targets(target, len(x))
    if targeted:
        raise ValueError("a targeted attack needs target: the class (or classes) to reach")
    return predict(model, x).argmax(dim=1)


def fgsm(
    model: nn.Module, x: torch.Tensor, target: Target = None, *, eps: float, targeted: bool = False
) -> torch.Tensor:
    """Fast gradient sign method (Goodfellow et al. 2015).

    Untargeted: ``x + eps * sign(grad_x CE(f(x), y))``, a step that *raises* the loss of the
    true class ``y = target``. Targeted: ``x - eps * sign(grad_x CE(f(x), y))`` with ``y``
    the class we want, a step that *lowers* its loss. Then clamp to [0, 1].

    Args:
        model: a classifier returning logits ``(N, n_classes)``.
        x: images ``(N, C, H, W)`` in [0, 1]; not modified.
        target: true labels (untargeted) or the labels to reach (targeted), one int or
            ``N``; ``None`` (untargeted only): each image's predicted class.
        eps: the L-infinity size of the change, in pixel units.

    Returns:
        ``(N, C, H, W)`` adversarial images in [0, 1], detached.

    Example:
        >>> x_adv = fgsm(load_model("digits"), images, labels, eps=0.1)
    """
    # BEGIN EXERCISE 09_adversarial
    x = check_unit_range(x, "x").detach()
    eps = _check_eps(eps)
    direction = -1.0 if targeted else 1.0
    grad = loss_gradient(model, x, _labels(model, x, target, targeted))
    return (x + direction * eps * grad.sign()).clamp(0, 1).detach()
    # END EXERCISE


def pgd(
    model: nn.Module,
    x: torch.Tensor,
    target: Target = None,
    *,
    eps: float,
    alpha: float | None = None,
    steps: int = 10,
    random_start: bool = True,
    targeted: bool = False,
    seed: int = 0,
) -> torch.Tensor:
    """Projected gradient descent in the L-infinity ball (Madry et al. 2018).

    Start at ``x`` (plus uniform noise in ``[-eps, eps]`` if ``random_start``, clamped to
    [0, 1]); then ``steps`` times: an FGSM step of size ``alpha`` from the current image,
    projection of the total change onto ``[-eps, eps]``, clamp to [0, 1].

    Args:
        model, x, target, targeted: as in :func:`fgsm`.
        eps: radius of the L-infinity ball around ``x``.
        alpha: step size; default ``eps / 4``, enough to reach the border in a few steps.
        steps: number of steps.
        random_start: start from a random point in the ball, drawn with ``seed`` (so every
            call with the same seed and shape draws the same noise).

    Returns:
        ``(N, C, H, W)`` adversarial images with ``|x_adv - x| <= eps`` and values in [0, 1].
    """
    # BEGIN EXERCISE 09_adversarial
    x = check_unit_range(x, "x").detach()
    eps = _check_eps(eps)
    alpha = eps / 4 if alpha is None else alpha
    labels = _labels(model, x, target, targeted)
    if eps == 0:  # the ball is a single point
        return x.clone()
    direction = -1.0 if targeted else 1.0
    adv = x.clone()
    if random_start:
        generator = torch.Generator().manual_seed(seed)
        noise = torch.rand(x.shape, generator=generator).to(x) * 2 * eps - eps
        adv = (adv + noise).clamp(0, 1)
    for _ in range(steps):
        adv = adv + direction * alpha * loss_gradient(model, adv, labels).sign()
        adv = (x + (adv - x).clamp(-eps, eps)).clamp(0, 1)
    return adv.detach()
    # END EXERCISE


def fooling_image(
    model: nn.Module, x: torch.Tensor, target: Target, *, lr: float = 0.5, max_steps: int = 200
) -> tuple[torch.Tensor, torch.Tensor]:
    """Change each image just enough that the model predicts ``target``.

    Gradient ascent on the target's score (the logit): ``x + lr * g / ||g||`` per image,
    clamped to [0, 1]; an image stops changing as soon as the model predicts ``target``.

    Args:
        model: a classifier; x: images ``(N, C, H, W)`` in [0, 1]; not modified.
        target: the class to reach, one int or ``N``.
        lr: L2 length of each step; max_steps: give up after this many.

    Returns:
        ``(images, steps)``: the changed images and, per image, the number of steps taken
        (``max_steps`` for an image that was never fooled: check the predictions to tell it
        from one fooled by the very last step).
    """
    # BEGIN EXERCISE 09_adversarial
    adv = check_unit_range(x, "x").detach().clone()
    steps = torch.full((len(adv),), max_steps)
    done = torch.zeros(len(adv), dtype=torch.bool)
    with eval_mode(model):
        for step in range(max_steps + 1):
            # One forward pass per step serves both the check and the gradient.
            leaf = adv.detach().requires_grad_(True)
            with torch.enable_grad():
                scores = model(leaf)
            if step == 0:
                targets = as_targets(target, len(adv), scores.shape[1])
            newly_done = (scores.detach().argmax(dim=1) == targets) & ~done
            steps[newly_done] = step
            done |= newly_done
            if done.all() or step == max_steps:
                break
            (grad,) = torch.autograd.grad(scores.gather(1, targets[:, None]).sum(), leaf)
            moved = normalized_step(adv, grad, lr).clamp(0, 1)
            adv = torch.where(done[:, None, None, None], adv, moved)
    return adv.detach(), steps
    # END EXERCISE


#: ``attack(model, images, labels, eps=eps) -> adversarial images``, like :func:`fgsm`.
Attack = Callable[..., torch.Tensor]


def _batches(data) -> Iterable[tuple[torch.Tensor, torch.Tensor]]:
    if isinstance(data, tuple | list) and len(data) == 2 and isinstance(data[0], torch.Tensor):
        images, labels = data
        return [(images[i : i + 256], labels[i : i + 256]) for i in range(0, len(images), 256)]
    return data


def accuracy_under_attack(
    model: nn.Module, attack: Attack, data, eps_list: Iterable[float]
) -> list[float]:
    """Accuracy on attacked images, one figure per ``eps``.

    Args:
        model: a classifier.
        attack: ``attack(model, images, labels, eps=eps) -> adversarial images``, e.g. ``fgsm``.
        data: ``(images, labels)`` tensors, or an iterable of such batches (a DataLoader).
        eps_list: the sizes to try; ``0`` gives the clean accuracy.

    Returns:
        A list of accuracies in [0, 1], in the order of ``eps_list``.

    Example:
        >>> accuracy_under_attack(model, fgsm, (images, labels), [0, 0.1, 0.2])
    """
    # BEGIN EXERCISE 09_adversarial
    accuracies = []
    for eps in eps_list:
        correct = total = 0
        for images, labels in _batches(data):
            adv = attack(model, images, labels, eps=eps)
            with eval_mode(model), torch.no_grad():
                correct += (model(adv).argmax(dim=1) == labels).sum().item()
            total += len(labels)
        accuracies.append(correct / total)
    return accuracies
    # END EXERCISE


def adversarial_training_step(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    attack: Attack,
    eps: float,
    fraction: float = 0.5,
) -> float:
    """One optimizer step of adversarial training on a batch, part of it attacked.

    The first ``k = int(fraction * N)`` images (rounded down: 3 of 7 for ``fraction=0.5``)
    are replaced by ``attack(model, images[:k], labels[:k], eps=eps)``, made with the model
    in eval mode (no dropout noise in the attack); the other images stay clean. Then, in
    train mode: one forward pass on the mixed batch (attacked images first, each with its
    own label), the cross-entropy averaged over all ``N`` images, ``optimizer.zero_grad()``,
    ``backward()`` and ``optimizer.step()``.

    Unlike the methods that only look at a model, this one changes it, so it takes the
    optimizer after the model; the batch follows, as in :func:`course_utils.train.fit`
    (whose ``step`` argument calls a function like this one for every batch).

    Args:
        model: a classifier returning logits ``(N, n_classes)``. It is left in **train
            mode**, whatever mode it came in: this is a step of a training loop.
        optimizer: an optimizer over the model's parameters.
        images: ``(N, C, H, W)`` in [0, 1]; not modified.
        labels: ``(N,)`` class indices.
        attack: ``attack(model, images, labels, eps=eps) -> images``, e.g. :func:`fgsm`.
        eps: the attack's budget (``0``: a plain training step).
        fraction: the share of the batch that is attacked, between 0 and 1.

    Returns:
        The loss of the step, a Python float (no graph attached).

    Example:
        >>> loss = adversarial_training_step(model, optimizer, images, labels, attack=fgsm, eps=0.2)
    """
    images = check_unit_range(images).detach()
    if not isinstance(labels, torch.Tensor) or labels.shape != (len(images),):
        got = tuple(labels.shape) if isinstance(labels, torch.Tensor) else type(labels).__name__
        raise ValueError(f"labels must be a tensor of {len(images)} class indices, got {got}")
    _check_eps(eps)
    if not 0 <= fraction <= 1:
        raise ValueError(f"fraction is the attacked share of the batch: 0 to 1, got {fraction}")
    # BEGIN EXERCISE 09_adversarial
    k = int(fraction * len(images))
    attacked = images[:0]
    if k > 0:
        with eval_mode(model):
            attacked = attack(model, images[:k], labels[:k], eps=eps).detach()
    model.train()
    with torch.enable_grad():
        loss = F.cross_entropy(model(torch.cat([attacked, images[k:]])), labels)
        optimizer.zero_grad()
        loss.backward()
    optimizer.step()
    return loss.item()
    # END EXERCISE


class _RoundStraightThrough(torch.autograd.Function):
    """Rounding forward, identity backward: the BPDA approximation of a quantizer."""

    @staticmethod
    def forward(ctx, x):
        # BEGIN EXERCISE 09_adversarial
        return torch.round(x)
        # END EXERCISE

    @staticmethod
    def backward(ctx, grad_output):
        # BEGIN EXERCISE 09_adversarial
        return grad_output
        # END EXERCISE


class BitDepth(nn.Module):
    """Reduce images to ``bits`` bits per channel, a classic input-transformation defense.

    Rounding has zero gradient almost everywhere, so an attacker who differentiates through
    it learns nothing: the defense *looks* strong. With ``straight_through=True`` the
    backward pass treats rounding as the identity (BPDA, Athalye et al. 2018), which is
    what an adaptive attacker does. The forward pass is the same either way.

    Example:
        >>> defended = nn.Sequential(BitDepth(1), model)
    """

    def __init__(self, bits: int, straight_through: bool = False):
        super().__init__()
        if not 1 <= bits <= 8:
            raise ValueError(f"bits must be between 1 and 8, got {bits}")
        self.levels = 2**bits - 1
        self.straight_through = straight_through

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scaled = x * self.levels
        rounded = _RoundStraightThrough.apply(scaled) if self.straight_through else scaled.round()
        return rounded / self.levels


def shape_bias(predictions, shape_labels, texture_labels) -> float:
    """Share of shape decisions among the decisions that follow either cue (Geirhos et al.).

    On cue-conflict images (the shape of one class, the texture of another) a prediction
    is a *shape decision* when it names the shape's class and a *texture decision* when it
    names the texture's class; other predictions are ignored.

    Args:
        predictions, shape_labels, texture_labels: ``(N,)`` class indices; the shape and
            texture labels must differ for every image.

    Returns:
        ``shape / (shape + texture)`` in [0, 1].
    """
    # BEGIN EXERCISE 09_adversarial
    predictions, shape_labels, texture_labels = (
        torch.as_tensor(t).reshape(-1) for t in (predictions, shape_labels, texture_labels)
    )
    if not len(predictions) == len(shape_labels) == len(texture_labels):
        raise ValueError("predictions, shape_labels and texture_labels must have the same length")
    if (shape_labels == texture_labels).any():
        raise ValueError("cue-conflict images need a texture from a different class than the shape")
    shape = (predictions == shape_labels).sum().item()
    texture = (predictions == texture_labels).sum().item()
    if shape + texture == 0:
        raise ValueError("no prediction matched the shape or the texture: shape bias is undefined")
    return shape / (shape + texture)
    # END EXERCISE


def patch_positions(
    x: torch.Tensor, size: int, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw a random position for a ``size x size`` patch on every image of ``x``.

    Draws ``tops = torch.randint(0, H - size + 1, (N,), generator=generator)``, then
    ``lefts`` the same way with ``W``, so the patch always lies fully inside the image.

    Args:
        x: images ``(N, C, H, W)``; only the shape is used.
        size: side of the square patch in pixels.
        generator: a ``torch.Generator``; the same seed gives the same positions.

    Returns:
        ``(tops, lefts)``: two ``(N,)`` integer tensors, the top-left corner of each patch.

    Example:
        >>> tops, lefts = patch_positions(images, 16, torch.Generator().manual_seed(0))
    """
    x = check_images(x)
    height, width = x.shape[-2:]
    if not 1 <= size <= min(height, width):
        raise ValueError(f"size must be between 1 and {min(height, width)}, got {size}")
    tops = torch.randint(0, height - size + 1, (len(x),), generator=generator)
    lefts = torch.randint(0, width - size + 1, (len(x),), generator=generator)
    return tops, lefts


def paste_patch(x: torch.Tensor, patch: torch.Tensor, tops, lefts) -> torch.Tensor:
    """Copies of the images with ``patch`` pasted over them (differentiable in ``patch``).

    Args:
        x: images ``(N, C, H, W)``; not modified.
        patch: ``(C, h, w)``, the same patch for every image.
        tops, lefts: the top-left corner of the patch, one int for all images or ``N`` ints.

    Returns:
        ``(N, C, H, W)``: ``x`` with ``patch`` in place of the pixels it covers; gradients
        flow to ``patch`` (and to ``x`` outside the patch).

    Example:
        >>> patched = paste_patch(images, torch.ones(3, 8, 8), 1, 1)  # white top-left squares
    """
    x = check_images(x)
    if not isinstance(patch, torch.Tensor) or patch.ndim != 3 or patch.shape[0] != x.shape[1]:
        got = tuple(patch.shape) if isinstance(patch, torch.Tensor) else type(patch).__name__
        raise ValueError(f"patch must have shape ({x.shape[1]}, h, w) like the images, got {got}")
    height, width = patch.shape[1:]
    corners = []
    for name, values, limit in [
        ("tops", tops, x.shape[2] - height),
        ("lefts", lefts, x.shape[3] - width),
    ]:
        values = torch.as_tensor(values).long().reshape(-1)
        if values.numel() not in (1, len(x)):
            raise ValueError(f"{name} must be one int or {len(x)} of them, got {values.numel()}")
        if (values < 0).any() or (values > limit).any():
            raise ValueError(
                f"{name} must lie in 0..{limit} so that the patch fits inside the images, "
                f"got {sorted(set(values.tolist()))}"
            )
        corners.append(values.expand(len(x)).tolist())
    patched = x.clone()
    for n, (top, left) in enumerate(zip(*corners)):
        patched[n, :, top : top + height, left : left + width] = patch
    return patched


def adversarial_patch(
    model: nn.Module,
    x: torch.Tensor,
    target: Target,
    *,
    size: int = 16,
    steps: int = 40,
    lr: float = 0.05,
    seed: int = 0,
) -> torch.Tensor:
    """Optimize one square patch that makes ``model`` predict ``target`` wherever it is pasted.

    A universal, targeted attack (Brown et al. 2017): the same patch for every image, at a
    fresh random position on every image in every step. Start from uniform noise; each
    step pastes the patch (:func:`paste_patch` at :func:`patch_positions`), takes the
    gradient of the mean cross-entropy for ``target`` with respect to the patch, and moves
    the patch by ``-lr * sign(gradient)``, clamped to [0, 1]. One generator, seeded with
    ``seed``, draws the starting patch (``torch.rand(C, size, size)``) and then the
    positions of every step, in that order.

    Args:
        model: a classifier returning logits; run in eval mode, its mode is restored.
        x: the images to optimize on, ``(N, C, H, W)`` in [0, 1]; not modified. Measure the
            patch on *other* images: a fooling rate on these ones is flattering.
        target: the class to reach, one int or ``N``.
        size: side of the square patch in pixels.
        steps: number of signed gradient steps; lr: size of each step in pixel units.
        seed: the seed of the starting patch and of the positions.

    Returns:
        ``(C, size, size)``: the patch, values in [0, 1], detached.

    Example:
        >>> patch = adversarial_patch(load_model("shapes"), images, 5, size=16, steps=40)
    """
    # BEGIN EXERCISE 09_adversarial
    x = check_unit_range(x, "x").detach()
    if not 1 <= size <= min(x.shape[-2:]):
        raise ValueError(f"size must be between 1 and {min(x.shape[-2:])}, got {size}")
    targets = as_targets(target, len(x))
    generator = torch.Generator().manual_seed(seed)
    patch = torch.rand(x.shape[1], size, size, generator=generator)
    with eval_mode(model), torch.enable_grad():
        for _ in range(steps):
            tops, lefts = patch_positions(x, size, generator)
            leaf = patch.clone().requires_grad_(True)
            loss = F.cross_entropy(model(paste_patch(x, leaf, tops, lefts)), targets)
            (grad,) = torch.autograd.grad(loss, leaf)
            patch = (patch - lr * grad.sign()).clamp(0, 1)
    return patch.detach()
    # END EXERCISE
