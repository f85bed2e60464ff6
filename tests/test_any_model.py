"""Every method of course_utils works on any CNN, and leaves it exactly as it found it.

The lessons use the course's own small CNNs; students then point the same methods at
other networks. Five kinds of model, built offline with random weights, go through every
method here: torchvision's ResNet-18 (its ReLU modules run twice per block), VGG-11 with
batch norm, MobileNetV3-small (Hardswish, squeeze-excitation), a CNN whose ReLUs are
``F.relu`` calls inside ``forward`` (no ``nn.ReLU`` module), and a model used in training
mode with one BatchNorm frozen in eval mode and a Dropout (so a method that forgets eval
mode gets a random answer, and one that calls ``model.train()`` afterwards unfreezes the
BatchNorm). For every model and every method this file proves that:

1. the result is the reference library's (Captum, pytorch-grad-cam, torchattacks), run on
   an eval-mode copy of the model, or, where no library has the method, what a few lines
   of plain autograd written out below compute;
2. every submodule comes back in its own train/eval mode;
3. no hook is left on any module (nor a global one), and the model holds the very same
   module objects as before (guided backprop swaps ReLU modules and must put them back);
4. the weights and buffers are unchanged, and so are each weight's ``.grad`` (the same
   tensor with the same values, or still ``None``) and ``requires_grad``;
5. the input ``x`` is unchanged bit for bit, with its ``requires_grad`` and ``.grad``;
6. mistakes get clear errors: an unknown layer name lists the valid names, an image
   without a batch dimension suggests ``unsqueeze(0)``, a module that runs twice in one
   pass (the ReLU of a ResNet block) names its block instead, guided backprop on ``F.relu``
   asks for ``nn.ReLU``; ``target=None`` means the predicted class; and an in-place
   operation after a layer (``ReLU(inplace=True)``, ResNet's ``out += identity``) does not
   change what is recorded for that layer.
"""

from __future__ import annotations

import copy
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial

import pytest
import torch
import torch.nn.functional as F
import torchvision
from captum.attr import Deconvolution, GuidedBackprop, LayerGradCam, Saliency
from pytorch_grad_cam import GradCAM as LibraryGradCAM
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
from torch import nn
from zoo import assert_same_state, reference_library, state

from course_utils import (
    adversarial,
    attribution,
    dream,
    gradcam,
    guided,
    hooks,
    occlusion,
    saliency,
    style,
)

torchattacks = reference_library("torchattacks")

pytestmark = [
    pytest.mark.filterwarnings("ignore:Setting backward hooks on ReLU:UserWarning"),
    pytest.mark.filterwarnings("ignore:Input Tensor 0 did not already require:UserWarning"),
]

# ---------------------------------------------------------------------------------------
# Helpers: the state of a model, the checks that it is unchanged, plain-autograd references.
# ---------------------------------------------------------------------------------------


def snapshot_input(x: torch.Tensor) -> tuple:
    grad = x.grad
    return (
        x.detach().clone(),
        x._version,
        x.requires_grad,
        grad,
        None if grad is None else grad.clone(),
    )


def assert_same_input(x: torch.Tensor, snapshot: tuple) -> None:
    values, version, requires_grad, grad, grad_values = snapshot
    # Bit for bit: compare the raw 32-bit patterns, not the float values.
    assert torch.equal(x.detach().view(torch.int32), values.view(torch.int32)), "x was changed"
    assert x._version == version, "x was modified in place (and changed back)"
    assert x.requires_grad == requires_grad, "x.requires_grad changed"
    assert x.grad is grad, "x.grad was replaced"
    if grad is not None:
        assert torch.equal(x.grad, grad_values), "x.grad was changed"


@contextmanager
def unchanged(case: Case, x: torch.Tensor | None = None):
    """The block leaves ``case.model`` (and ``x``, by default ``case.x``) as it found them;
    the weights and buffers still equal those of the untouched reference copy."""
    x = case.x if x is None else x
    before, x_before = state(case.model), snapshot_input(x)
    yield
    assert_same_state(before, state(case.model))
    assert_same_input(x, x_before)
    # Values too, against the untouched copy (VGG's two big matrices are left to the
    # version counter above: comparing 120 million numbers after every call is slow).
    for (name, ours), (_, reference) in zip(
        case.model.state_dict().items(), case.ref.state_dict().items(), strict=True
    ):
        if ours.numel() <= 1_000_000:
            assert torch.equal(ours, reference), f"{name} no longer holds its original values"


@contextmanager
def eval_by_hand(model: nn.Module):
    """Eval mode for a block of the test's own forward passes, every flag restored after."""
    modes = {m: m.training for m in model.modules()}
    model.eval()
    try:
        yield
    finally:
        for m, mode in modes.items():
            m.training = mode


def assert_agrees(ours: torch.Tensor, theirs: torch.Tensor, tol: float = 1e-5) -> None:
    """Equal up to ``tol`` relative to the reference's largest value (random models give
    tiny gradients, where a fixed absolute tolerance would accept anything)."""
    theirs = torch.as_tensor(theirs).detach()
    scale = theirs.abs().max().item()
    assert scale > 0, "the reference is all zeros: comparing with it would prove nothing"
    assert ours.shape == theirs.shape, f"shape {tuple(ours.shape)} != {tuple(theirs.shape)}"
    torch.testing.assert_close(ours.detach(), theirs, rtol=tol, atol=tol * scale)


def assert_same_images(ours: torch.Tensor, theirs: torch.Tensor) -> None:
    torch.testing.assert_close(ours, theirs.detach(), atol=1e-6, rtol=0)


def plain(x: torch.Tensor) -> torch.Tensor:
    return x.detach().clone()


def leaf(x: torch.Tensor) -> torch.Tensor:
    return x.detach().clone().requires_grad_(True)


def run_keeping(model: nn.Module, x: torch.Tensor, layer: str):
    """``model(x)`` and the output of ``layer``, kept away from in-place ops after it: the
    rest of the network gets a copy. Plain PyTorch, no course code."""
    kept = []

    def hook(module, inputs, output):
        kept.append(output)
        return output.clone()

    handle = dict(model.named_modules())[layer].register_forward_hook(hook)
    try:
        output = model(x)
    finally:
        handle.remove()
    (activation,) = kept
    return output, activation


@torch.no_grad()
def layer_output_by_hand(model: nn.Module, x: torch.Tensor, layer: str) -> torch.Tensor:
    """The output of ``layer``: its input is caught in a forward pass of ``model`` and the
    layer is run on it once more, alone, so nothing after it can have touched the result."""
    module = dict(model.named_modules())[layer]
    caught = []
    handle = module.register_forward_pre_hook(lambda m, inputs: caught.append(inputs[0].clone()))
    try:
        model(x)
    finally:
        handle.remove()
    return module(caught[0])


def pick_by_hand(scores: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return scores.gather(1, target.view(-1, 1)).sum()


def normalized(gradient: torch.Tensor) -> torch.Tensor:
    return gradient / gradient.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1, 1)


def ascent_by_hand(objective, x: torch.Tensor, lr: float) -> torch.Tensor:
    """One DeepDream step without jitter: ``x + lr * g / mean|g|``, clamped to [0, 1]."""
    x_leaf = leaf(x)
    (gradient,) = torch.autograd.grad(objective(x_leaf), x_leaf)
    return (x + lr * gradient / gradient.abs().mean(dim=(1, 2, 3), keepdim=True)).clamp(0, 1)


def library_grad_cam(case: Case) -> torch.Tensor:
    """pytorch-grad-cam's maps of ``case.cam_layer`` for ``case.target``."""

    def compute():
        module = dict(case.ref.named_modules())[case.cam_layer]
        targets = [ClassifierOutputTarget(int(t)) for t in case.target]
        with LibraryGradCAM(case.ref, target_layers=[module]) as cam:
            # It calls backward(): the input must require grad (the copy's weights do not).
            return torch.from_numpy(cam(leaf(case.x), targets=targets))

    return case.cached("pytorch_grad_cam", compute)


def library_guided_backprop(case: Case) -> torch.Tensor:
    """Captum's guided backprop of ``case.target``."""
    return case.cached(
        "captum_guided",
        lambda: GuidedBackprop(case.ref).attribute(plain(case.x), target=case.target),
    )


def library_fgsm(case: Case, eps: float) -> torch.Tensor:
    """torchattacks' FGSM of ``x`` with the labels ``case.target``."""
    return case.cached(
        f"fgsm{eps}", lambda: torchattacks.FGSM(case.ref, eps=eps)(plain(case.x), case.target)
    )


class ChannelTotals(nn.Module):
    """``(N, K)``: the total activation of every channel of one layer, as a model output,
    so a library can explain a channel the way it explains a class."""

    def __init__(self, model: nn.Module, layer: str):
        super().__init__()
        self.model, self.layer = model, layer

    def forward(self, x):
        return run_keeping(self.model, x, self.layer)[1].flatten(2).sum(dim=2)


# ---------------------------------------------------------------------------------------
# The five models.
# ---------------------------------------------------------------------------------------


class FunctionalReLUNet(nn.Module):
    """ReLUs written as ``F.relu`` calls inside ``forward`` (two in place): no ``nn.ReLU``."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.conv2 = nn.Conv2d(8, 16, 3, padding=1)
        self.conv3 = nn.Conv2d(16, 16, 3, padding=1)
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x), inplace=True), 2)
        x = F.max_pool2d(F.relu(self.conv2(x), inplace=True), 2)
        x = F.relu(self.conv3(x))
        return self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))


class FineTuningNet(nn.Module):
    """Used in training mode with ``bn`` frozen in eval mode, as in fine-tuning; the
    Dropout makes every forward pass in training mode random."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.relu1 = nn.ReLU(inplace=True)
        self.bn = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 16, 3, padding=1)
        self.relu2 = nn.ReLU(inplace=True)
        self.pool = nn.MaxPool2d(2)
        self.conv3 = nn.Conv2d(16, 16, 3, padding=1)
        self.relu3 = nn.ReLU()
        self.gap = nn.AdaptiveAvgPool2d(2)
        self.flatten = nn.Flatten()
        self.dropout = nn.Dropout(0.5)
        self.fc = nn.Linear(64, 10)

    def forward(self, x):
        x = self.bn(self.relu1(self.conv1(x)))
        x = self.pool(self.relu2(self.conv2(x)))
        x = self.relu3(self.conv3(x))
        return self.fc(self.dropout(self.flatten(self.gap(x))))


@dataclass
class Case:
    name: str
    model: nn.Module  # what the methods get, in its own train/eval modes
    ref: nn.Module  # a frozen deep copy in eval mode: what the references run on
    x: torch.Tensor  # (2, 3, size, size) in [0, 1]
    target: torch.Tensor  # two class indices
    cam_layer: str  # a convolutional layer that runs once: for the CAMs
    layers: list[str]  # layers whose output an in-place operation rewrites afterwards
    channel: int  # a channel of feature_layer
    relu_modules: bool  # its ReLUs are nn.ReLU modules (guided backprop works)
    cache: dict = field(default_factory=dict)

    @property
    def feature_layer(self) -> str:
        return self.layers[-1]

    def cached(self, key: str, compute):
        """A reference computed once per model: ``compute()``, kept under ``key``."""
        if key not in self.cache:
            self.cache[key] = compute()
        return self.cache[key]

    def predicted(self) -> torch.Tensor:
        """The classes the eval-mode copy predicts for ``x``."""
        with torch.no_grad():
            return self.cached("predicted", lambda: self.ref(plain(self.x)).argmax(dim=1))

    def output_of(self, layer: str) -> torch.Tensor:
        """The output of ``layer`` for ``x``, by hand (see :func:`layer_output_by_hand`)."""
        return self.cached(layer, lambda: layer_output_by_hand(self.ref, plain(self.x), layer))


# name: (constructor, input size, CAM layer, layers rewritten in place, nn.ReLU modules).
# Sizes: the CAM layer gets 2x2 positions or more, and VGG keeps 32 pixels (its five
# poolings) in DeepDream's smaller octave.
SPECS = {
    "resnet18": (
        lambda: torchvision.models.resnet18(weights=None, num_classes=10),
        48, "layer4.1", ["bn1", "layer2.0.bn2"], True,
    ),
    "vgg11_bn": (
        lambda: torchvision.models.vgg11_bn(weights=None, num_classes=10),
        40, "features.27", ["features.1", "features.12"], True,
    ),
    "mobilenet_v3_small": (
        lambda: torchvision.models.mobilenet_v3_small(weights=None, num_classes=10),
        48, "features.12", ["features.0.1", "features.2.block.0.1"], True,
    ),
    "functional_relu": (FunctionalReLUNet, 32, "conv3", ["conv1", "conv2"], False),
    "train_mode_frozen_bn": (FineTuningNet, 32, "relu3", ["conv1", "conv2"], True),
}  # fmt: skip
KINDS = list(SPECS)


@torch.no_grad()
def calibrate_batch_norm(model: nn.Module, images: torch.Tensor) -> None:
    """Running statistics measured on ``images``. With the defaults (mean 0, variance 1)
    MobileNet's random outputs shrink to 1e-10, too small for any comparison to mean much."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # a plain average over the batches: here, the one batch
    model.train()
    model(images)
    for norm in norms:
        norm.momentum = 0.1


def build(kind: str, seed: int) -> Case:
    constructor, size, cam_layer, layers, relu_modules = SPECS[kind]
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = constructor()
    generator = torch.Generator().manual_seed(seed)
    calibrate_batch_norm(model, torch.rand(16, 3, size, size, generator=generator))
    model.eval()
    if kind == "train_mode_frozen_bn":
        model.train()
        model.bn.eval()
    ref = copy.deepcopy(model).eval().requires_grad_(False)
    # Known gradients on the weights, None on some (and on the big ones, to save memory);
    # every third weight frozen. A method must leave all of it alone.
    for index, parameter in enumerate(model.parameters()):
        if index % 3 == 2:
            parameter.requires_grad_(False)
        if index % 2 == 0 and parameter.numel() <= 1_000_000:
            parameter.grad = torch.randn(parameter.shape, generator=generator)
    x = torch.rand(2, 3, size, size, generator=generator)
    if kind in ("resnet18", "functional_relu"):
        # An input that requires grad and carries a .grad of its own, which must survive.
        x.requires_grad_(True)
        x.grad = torch.randn(x.shape, generator=generator)
    return Case(kind, model, ref, x, torch.tensor([3, 8]), cam_layer, layers, 5, relu_modules)


@pytest.fixture(scope="module", params=KINDS)
def case(request) -> Case:
    return build(request.param, seed=KINDS.index(request.param))


# ---------------------------------------------------------------------------------------
# Each method on each model: the reference's answer, the model and input left as found.
# ---------------------------------------------------------------------------------------


def expect_relu_error(case: Case, call) -> None:
    """Guided backprop and deconvnet on F.relu: a clear error, the model left as found."""
    with unchanged(case), pytest.raises(ValueError, match=r"nn\.ReLU"):
        call()


def check_saliency_map(case):
    with unchanged(case):
        ours = saliency.saliency_map(case.model, case.x, case.target)
    theirs = Saliency(case.ref).attribute(plain(case.x), target=case.target, abs=True)
    assert_agrees(ours, theirs.amax(dim=1))


def check_smoothgrad(case):
    n_samples, noise_level, seed = 2, 0.2, 5
    with unchanged(case):
        ours = saliency.smoothgrad(
            case.model, case.x, case.target,
            n_samples=n_samples, noise_level=noise_level, seed=seed, batch_size=3,
        )  # fmt: skip
    # The documented noise: one seeded draw per sample, sigma scaled by each image's range.
    x = plain(case.x)
    generator = torch.Generator().manual_seed(seed)
    noise = torch.cat([torch.randn(x.shape, generator=generator) for _ in range(n_samples)])
    sigma = noise_level * (x.amax(dim=(1, 2, 3)) - x.amin(dim=(1, 2, 3)))
    noisy = x.repeat(n_samples, 1, 1, 1) + noise * sigma.repeat(n_samples).view(-1, 1, 1, 1)
    maps = Saliency(case.ref).attribute(noisy, target=case.target.repeat(n_samples), abs=True)
    assert_agrees(ours, maps.amax(dim=1).view(n_samples, *ours.shape).mean(dim=0))


def check_guided_backprop(case):
    call = partial(guided.guided_backprop, case.model, case.x, case.target)
    if not case.relu_modules:
        return expect_relu_error(case, call)
    with unchanged(case):
        ours = call()
    assert_agrees(ours, library_guided_backprop(case))


def check_guided_backprop_of_a_channel(case):
    layer, channel = case.feature_layer, case.channel
    call = partial(guided.guided_backprop, case.model, case.x, channel, layer=layer)
    if not case.relu_modules:
        return expect_relu_error(case, call)
    with unchanged(case):
        ours = call()
    library = GuidedBackprop(ChannelTotals(case.ref, layer))
    assert_agrees(ours, library.attribute(plain(case.x), target=channel))


def check_deconvnet(case):
    call = partial(guided.deconvnet, case.model, case.x, case.target)
    if not case.relu_modules:
        return expect_relu_error(case, call)
    with unchanged(case):
        ours = call()
    assert_agrees(ours, Deconvolution(case.ref).attribute(plain(case.x), target=case.target))


def check_input_gradient(case):
    with unchanged(case):
        ours = attribution.input_gradient(case.model, case.x, case.target)
    x = leaf(case.x)
    (theirs,) = torch.autograd.grad(pick_by_hand(case.ref(x), case.target), x)
    assert_agrees(ours, theirs)


def check_input_gradient_of_a_channel(case):
    layer, channel = case.feature_layer, case.channel
    with unchanged(case):
        ours = attribution.input_gradient(case.model, case.x, channel, layer=layer)
    x = leaf(case.x)
    _, activation = run_keeping(case.ref, x, layer)
    (theirs,) = torch.autograd.grad(activation[:, channel].sum(), x)
    assert_agrees(ours, theirs)


def check_integrated_gradients(case):
    steps = 3
    with unchanged(case):
        ours = saliency.integrated_gradients(
            case.model, case.x, case.target, baseline=0.2, steps=steps, batch_size=4
        )
    # By hand: the gradient at the midpoints of the path from a grey image to x, averaged.
    x = plain(case.x)
    baseline = torch.full_like(x, 0.2)
    total = torch.zeros_like(x)
    for k in range(steps):
        point = leaf(baseline + (k + 0.5) / steps * (x - baseline))
        (gradient,) = torch.autograd.grad(pick_by_hand(case.ref(point), case.target), point)
        total += gradient
    assert_agrees(ours, (x - baseline) * total / steps)


def check_occlusion(case):
    size = case.x.shape[-1]
    window = size // 3
    with unchanged(case):
        ours = occlusion.occlusion(
            case.model, case.x, case.target, window=window, stride=window, baseline=0.5,
            batch_size=5,
        )  # fmt: skip
    # By hand: hide each window in turn (a last one touching the far edge), average the drops.
    x = plain(case.x)
    starts = sorted({*range(0, size - window + 1, window), size - window})
    total, count = torch.zeros(len(x), size, size), torch.zeros(size, size)
    with torch.no_grad():
        original = case.ref(x).gather(1, case.target[:, None])[:, 0]
        for top in starts:
            for left in starts:
                hidden = x.clone()
                hidden[:, :, top : top + window, left : left + window] = 0.5
                drop = original - case.ref(hidden).gather(1, case.target[:, None])[:, 0]
                total[:, top : top + window, left : left + window] += drop[:, None, None]
                count[top : top + window, left : left + window] += 1
    assert_agrees(ours, total / count)


def check_grad_cam_raw(case):
    with unchanged(case):
        ours = gradcam.grad_cam(
            case.model, case.x, case.target, layer=case.cam_layer, resize=False, normalize=False
        )
        cam = gradcam.GradCAM(case.model, case.cam_layer)
        ours_signed = cam(case.x, case.target, relu=False, resize=False, normalize=False)
    library = LayerGradCam(case.ref, dict(case.ref.named_modules())[case.cam_layer])
    theirs = library.attribute(plain(case.x), target=case.target, relu_attributions=False)[:, 0]
    assert (theirs < 0).any() and (theirs > 0).any(), "a one-signed map would not test the ReLU"
    assert_agrees(ours_signed, theirs)
    assert_agrees(ours, theirs.clamp(min=0))  # what the library's relu_attributions=True does


def check_grad_cam(case):
    with unchanged(case):
        ours = gradcam.grad_cam(case.model, case.x, case.target, layer=case.cam_layer)
    assert_agrees(ours, library_grad_cam(case))


def check_guided_grad_cam(case):
    call = partial(gradcam.guided_grad_cam, case.model, case.x, case.target, layer=case.cam_layer)
    if not case.relu_modules:
        return expect_relu_error(case, call)
    with unchanged(case):
        ours = call()
    assert_agrees(ours, library_guided_backprop(case) * library_grad_cam(case)[:, None])


def check_fgsm(case):
    with unchanged(case):
        ours = adversarial.fgsm(case.model, case.x, case.target, eps=0.03)
    assert_same_images(ours, library_fgsm(case, 0.03))


def check_pgd(case):
    options = dict(eps=0.05, alpha=0.02, steps=2)
    with unchanged(case):
        ours = adversarial.pgd(case.model, case.x, case.target, random_start=False, **options)
    attack = torchattacks.PGD(case.ref, random_start=False, **options)
    assert_same_images(ours, attack(plain(case.x), case.target))


def check_loss_gradient(case):
    with unchanged(case):
        ours = adversarial.loss_gradient(case.model, case.x, case.target)
    x = leaf(case.x)
    (theirs,) = torch.autograd.grad(F.cross_entropy(case.ref(x), case.target), x)
    assert_agrees(ours, theirs)


def check_accuracy_under_attack(case):
    with unchanged(case):
        ours = adversarial.accuracy_under_attack(
            case.model, adversarial.fgsm, (case.x, case.target), [0.0, 0.03]
        )
    with torch.no_grad():
        attacked = case.ref(library_fgsm(case, 0.03)).argmax(dim=1)
    assert ours == [
        (found == case.target).float().mean().item() for found in (case.predicted(), attacked)
    ]


def check_fooling_image(case):
    goal = (case.predicted() + 1) % 10  # a class no image is predicted as
    with unchanged(case):
        images, steps = adversarial.fooling_image(case.model, case.x, goal, lr=0.5, max_steps=1)
    x = leaf(case.x)
    (gradient,) = torch.autograd.grad(pick_by_hand(case.ref(x), goal), x)
    assert_agrees(images, (plain(case.x) + 0.5 * normalized(gradient)).clamp(0, 1))
    assert steps.tolist() == [1, 1]


def check_dream_step(case):
    lr, l2 = 0.7, 0.1
    with unchanged(case):
        ours = dream.dream_step(case.model, case.x, case.target, lr=lr, l2=l2)
    x = leaf(case.x)
    objective = pick_by_hand(case.ref(x), case.target) - l2 * (x**2).sum()
    (gradient,) = torch.autograd.grad(objective, x)
    assert_agrees(ours, plain(case.x) + lr * normalized(gradient))


def check_class_visualization(case):
    shape, lr, l2, seed = tuple(case.x.shape[1:]), 0.5, 0.01, 3
    with unchanged(case):
        ours = dream.class_visualization(
            case.model, case.target, shape=shape, steps=2, lr=lr, l2=l2, seed=seed
        )
    generator = torch.Generator().manual_seed(seed)
    x = (0.01 * torch.randn(2, *shape, generator=generator)).clamp(0, 1)
    for _ in range(2):
        x_leaf = leaf(x)
        objective = pick_by_hand(case.ref(x_leaf), case.target) - l2 * (x_leaf**2).sum()
        (gradient,) = torch.autograd.grad(objective, x_leaf)
        x = (x + lr * normalized(gradient)).clamp(0, 1)
    assert_agrees(ours, x)


def check_dream_to_target(case):
    shape, seed = tuple(case.x.shape[1:]), 4
    with unchanged(case):
        ours, losses = dream.dream_to_target(
            case.model, case.target, shape=shape, steps=2, lr=0.05, seed=seed
        )
    x = torch.rand(2, *shape, generator=torch.Generator().manual_seed(seed)).requires_grad_(True)
    optimizer = torch.optim.Adam([x], lr=0.05)
    wanted = F.one_hot(case.target, 10).float()
    expected_losses = []
    for _ in range(2):
        loss = ((case.ref(x).softmax(dim=1) - wanted) ** 2).sum(dim=1).mean()
        optimizer.zero_grad()
        loss.backward()  # the reference's weights are frozen: only x gets a gradient
        optimizer.step()
        with torch.no_grad():
            x.clamp_(0, 1)
        expected_losses.append(loss.item())
    assert_agrees(ours, x)
    assert losses == pytest.approx(expected_losses, rel=1e-5)


def check_deepdream(case):
    layer, lr, scale = case.feature_layer, 0.05, 1.25
    with unchanged(case):
        ours = dream.deepdream(
            case.model, case.x, layer=layer, steps=1, lr=lr, n_octaves=2, scale=scale,
            jitter_px=0,
        )  # fmt: skip
    # The octaves by hand: the photo at 1/scale of its size, then at full size, each time
    # plus the detail dreamed so far; one ascent step on the mean squared activation.
    photo = plain(case.x)
    height, width = photo.shape[-2:]
    sizes = [(round(height / scale), round(width / scale)), (height, width)]

    def resize(images, size):
        return F.interpolate(images, size=size, mode="bilinear", align_corners=False)

    def objective(images):
        return (run_keeping(case.ref, images, layer)[1] ** 2).mean()

    detail = torch.zeros(2, 3, *sizes[0])
    for size in sizes:
        base = resize(photo, size)
        x = ascent_by_hand(objective, (base + resize(detail, size)).clamp(0, 1), lr)
        detail = x - base
    assert_agrees(ours, x)


def check_channel_visualization(case):
    layer, channel, shape, seed = case.feature_layer, case.channel, tuple(case.x.shape[1:]), 2
    with unchanged(case):
        ours = dream.channel_visualization(
            case.model, [channel], layer=layer, shape=shape, steps=1, lr=0.05, jitter_px=0,
            blur_sigma=0.0, seed=seed,
        )  # fmt: skip
    generator = torch.Generator().manual_seed(seed)
    x = (0.5 + 0.05 * torch.randn(1, *shape, generator=generator)).clamp(0, 1)
    x = ascent_by_hand(
        lambda images: run_keeping(case.ref, images, layer)[1][:, channel].mean(), x, 0.05
    )
    assert_agrees(ours, x)


def check_layer_objective(case):
    for layer in case.layers:
        expected = case.output_of(layer)
        assert (expected < 0).any(), f"{layer}: no negative outputs, the check would prove nothing"
        with unchanged(case):
            value = dream.layer_objective(case.model, layer)(case.x)
        assert_agrees(value, (expected**2).mean())
    layer, channel = case.feature_layer, case.channel
    with unchanged(case):
        value = dream.layer_objective(case.model, layer, channel)(case.x)
    assert_agrees(value, case.output_of(layer)[:, channel].mean())


def check_style_extract(case):
    expected = [case.output_of(layer) for layer in case.layers]
    with unchanged(case):
        ours = style.extract(case.model, case.x, case.layers)
    for layer, mine, theirs in zip(case.layers, ours, expected, strict=True):
        assert (theirs < 0).any(), f"{layer}: no negative outputs, the check would prove nothing"
        assert_agrees(mine, theirs)


def check_record_activations(case):
    expected = [case.output_of(layer) for layer in case.layers]
    for attached in (False, True):
        with unchanged(case), eval_by_hand(case.model):
            with hooks.record_activations(case.model, case.layers, attached=attached) as acts:
                case.model(plain(case.x))
        for layer, theirs in zip(case.layers, expected, strict=True):
            assert_agrees(acts[layer], theirs)


def check_record_gradients(case):
    layer = case.feature_layer
    x = leaf(case.x)
    with unchanged(case, x=x), eval_by_hand(case.model):
        with hooks.record_gradients(case.model, layer) as grads:
            # autograd.grad, not backward(): the test must not touch the weights' .grad.
            torch.autograd.grad(pick_by_hand(case.model(x), case.target), x)
    x = leaf(case.x)
    output, activation = run_keeping(case.ref, x, layer)
    (theirs,) = torch.autograd.grad(pick_by_hand(output, case.target), activation)
    assert_agrees(grads[layer], theirs)


def check_collect_activations(case):
    with unchanged(case):
        ours = hooks.collect_activations(case.model, case.feature_layer, case.x, batch_size=1)
    assert_agrees(ours, case.output_of(case.feature_layer))


CHECKS = {name.removeprefix("check_"): f for name, f in globals().items() if name[:6] == "check_"}


@pytest.mark.parametrize("method", CHECKS)
def test_method_agrees_with_its_reference_and_leaves_the_model_as_found(case, method):
    CHECKS[method](case)


# ---------------------------------------------------------------------------------------
# target=None is the predicted class.
# ---------------------------------------------------------------------------------------

TARGETED = {
    "saliency_map": lambda c, t: saliency.saliency_map(c.model, c.x, t),
    "smoothgrad": lambda c, t: saliency.smoothgrad(c.model, c.x, t, n_samples=2, seed=1),
    "guided_backprop": lambda c, t: guided.guided_backprop(c.model, c.x, t),
    "deconvnet": lambda c, t: guided.deconvnet(c.model, c.x, t),
    "input_gradient": lambda c, t: attribution.input_gradient(c.model, c.x, t),
    "grad_cam": lambda c, t: gradcam.grad_cam(c.model, c.x, t, layer=c.cam_layer),
    "guided_grad_cam": lambda c, t: gradcam.guided_grad_cam(c.model, c.x, t, layer=c.cam_layer),
    "fgsm": lambda c, t: adversarial.fgsm(c.model, c.x, t, eps=0.03),
    "pgd": lambda c, t: adversarial.pgd(c.model, c.x, t, eps=0.03, steps=2, seed=2),
    "integrated_gradients": lambda c, t: saliency.integrated_gradients(c.model, c.x, t, steps=2),
    "occlusion": lambda c, t: occlusion.occlusion(
        c.model, c.x, t, window=c.x.shape[-1] // 2, stride=c.x.shape[-1] // 2
    ),
}
NEEDS_RELU_MODULES = {"guided_backprop", "deconvnet", "guided_grad_cam"}


@pytest.mark.parametrize("method", TARGETED)
def test_target_none_is_the_predicted_class(case, method):
    call = TARGETED[method]
    if method in NEEDS_RELU_MODULES and not case.relu_modules:
        return expect_relu_error(case, lambda: call(case, None))
    with unchanged(case):
        implicit = call(case, None)
        explicit = call(case, case.predicted())
    assert torch.equal(implicit, explicit)


def test_target_none_of_a_layer_is_its_most_active_channel(case):
    layer = case.feature_layer
    with unchanged(case):
        implicit = attribution.input_gradient(case.model, case.x, None, layer=layer)
    totals = case.output_of(layer).flatten(2).sum(dim=2)
    with unchanged(case):
        explicit = attribution.input_gradient(case.model, case.x, totals.argmax(dim=1), layer=layer)
    assert torch.equal(implicit, explicit)


# ---------------------------------------------------------------------------------------
# Clear errors.
# ---------------------------------------------------------------------------------------

# Every method that takes a layer name, called with ``layer``.
LAYERED = {
    "input_gradient": lambda c, layer: attribution.input_gradient(c.model, c.x, 0, layer=layer),
    "guided_backprop": lambda c, layer: guided.guided_backprop(c.model, c.x, 0, layer=layer),
    "deconvnet": lambda c, layer: guided.deconvnet(c.model, c.x, 0, layer=layer),
    "grad_cam": lambda c, layer: gradcam.grad_cam(c.model, c.x, 0, layer=layer),
    "GradCAM": lambda c, layer: gradcam.GradCAM(c.model, layer)(c.x, 0),
    "guided_grad_cam": lambda c, layer: gradcam.guided_grad_cam(c.model, c.x, 0, layer=layer),
    "deepdream": lambda c, layer: dream.deepdream(
        c.model, c.x, layer=layer, steps=1, n_octaves=1, jitter_px=0
    ),
    "channel_visualization": lambda c, layer: dream.channel_visualization(
        c.model, 0, layer=layer, shape=tuple(c.x.shape[1:]), steps=1
    ),
    "layer_objective": lambda c, layer: dream.layer_objective(c.model, layer)(c.x),
    "style_extract": lambda c, layer: style.extract(c.model, c.x, [layer]),
    "record_activations": lambda c, layer: hooks.record_activations(c.model, layer).__enter__(),
    "record_gradients": lambda c, layer: hooks.record_gradients(c.model, layer).__enter__(),
    "collect_activations": lambda c, layer: hooks.collect_activations(c.model, layer, c.x),
}


@pytest.mark.parametrize("method", LAYERED)
def test_an_unknown_layer_name_lists_the_valid_ones(case, method):
    if method in NEEDS_RELU_MODULES and not case.relu_modules:
        return expect_relu_error(case, lambda: LAYERED[method](case, "no_such_layer"))
    with unchanged(case), pytest.raises(hooks.UnknownLayerError) as error:
        LAYERED[method](case, "no_such_layer")
    assert "'no_such_layer'" in str(error.value)
    assert ", ".join(hooks.layer_names(case.model)) in str(error.value)


# Every method that takes images, called with ``x``.
WITH_IMAGES = {
    "saliency_map": lambda c, x: saliency.saliency_map(c.model, x, 0),
    "smoothgrad": lambda c, x: saliency.smoothgrad(c.model, x, 0, n_samples=2),
    "guided_backprop": lambda c, x: guided.guided_backprop(c.model, x, 0),
    "deconvnet": lambda c, x: guided.deconvnet(c.model, x, 0),
    "input_gradient": lambda c, x: attribution.input_gradient(c.model, x, 0),
    "input_gradient_of_a_layer": lambda c, x: attribution.input_gradient(
        c.model, x, 0, layer=c.feature_layer
    ),
    "grad_cam": lambda c, x: gradcam.grad_cam(c.model, x, 0, layer=c.cam_layer),
    "GradCAM": lambda c, x: gradcam.GradCAM(c.model, c.cam_layer)(x, 0),
    "guided_grad_cam": lambda c, x: gradcam.guided_grad_cam(c.model, x, 0, layer=c.cam_layer),
    "fgsm": lambda c, x: adversarial.fgsm(c.model, x, 0, eps=0.03),
    "pgd": lambda c, x: adversarial.pgd(c.model, x, 0, eps=0.03, steps=1),
    "fooling_image": lambda c, x: adversarial.fooling_image(c.model, x, 0, max_steps=1),
    "loss_gradient": lambda c, x: adversarial.loss_gradient(c.model, x, torch.tensor([0])),
    "accuracy_under_attack": lambda c, x: adversarial.accuracy_under_attack(
        c.model, adversarial.fgsm, (x, torch.tensor([0])), [0.03]
    ),
    "dream_step": lambda c, x: dream.dream_step(c.model, x, 0),
    "deepdream": lambda c, x: dream.deepdream(
        c.model, x, layer=c.feature_layer, steps=1, n_octaves=1
    ),
    "layer_objective": lambda c, x: dream.layer_objective(c.model, c.feature_layer)(x),
    "style_extract": lambda c, x: style.extract(c.model, x, c.layers),
    "integrated_gradients": lambda c, x: saliency.integrated_gradients(c.model, x, 0, steps=2),
    "occlusion": lambda c, x: occlusion.occlusion(c.model, x, 0),
}


@pytest.mark.parametrize("method", WITH_IMAGES)
def test_an_image_without_batch_dimension_suggests_unsqueeze(case, method):
    image = plain(case.x[0])  # (3, H, W)
    if method in NEEDS_RELU_MODULES and not case.relu_modules:
        return expect_relu_error(case, lambda: WITH_IMAGES[method](case, image))
    with unchanged(case, x=image), pytest.raises(ValueError, match=r"unsqueeze\(0\)"):
        WITH_IMAGES[method](case, image)


# ResNet's BasicBlock calls its one nn.ReLU module twice in forward(): "layer4.1.relu" has
# no single output. Every method that reads a layer must say so and point to the block.
RUN_TWICE = {
    name: LAYERED[name]
    for name in (
        "input_gradient", "guided_backprop", "deconvnet", "grad_cam", "GradCAM",
        "deepdream", "channel_visualization", "layer_objective", "style_extract",
    )
}  # fmt: skip


@pytest.mark.parametrize("case", ["resnet18"], indirect=True)
@pytest.mark.parametrize("method", RUN_TWICE)
def test_a_module_run_twice_is_refused_and_its_block_suggested(case, method):
    with unchanged(case), pytest.raises(ValueError) as error:
        RUN_TWICE[method](case, "layer4.1.relu")
    message = str(error.value)
    assert "'layer4.1.relu'" in message and "'layer4.1'" in message, message
    if method == "grad_cam":  # the block itself runs once: Grad-CAM works there
        with unchanged(case):
            maps = gradcam.grad_cam(case.model, case.x, 0, layer="layer4.1")
        assert maps.shape == (2, 48, 48) and 0 <= maps.min() <= maps.max() <= 1
