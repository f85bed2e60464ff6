"""The course's explanation methods agree with Captum and pytorch-grad-cam.

Both libraries are test-only dependencies: the lessons never import them. Each method is
compared on small random CNNs (one with ``ReLU(inplace=True)``) and on the shipped models;
integrated gradients and occlusion also on a CNN whose ReLUs are ``F.relu`` calls.
"""

import pytest
import torch
from captum.attr import (
    Deconvolution,
    GuidedBackprop,
    IntegratedGradients,
    LayerGradCam,
    Occlusion,
    Saliency,
)
from pytorch_grad_cam import GradCAM as LibraryGradCAM
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
from test_any_model import FunctionalReLUNet
from torch import nn
from zoo import assert_same_state, small_cnn, state

from course_utils import gradcam, guided, models, occlusion, saliency

pytestmark = pytest.mark.filterwarnings("ignore:Setting backward hooks on ReLU:UserWarning")


def random_cnn(inplace: bool, seed: int) -> nn.Module:
    return small_cnn(3, (8, 12, 16), 5, inplace=inplace, downsample=True, seed=seed).eval()


# (model, input, last convolutional layer, its ReLU): the layer a CAM reads.
def cases():
    generator = torch.Generator().manual_seed(0)
    for inplace in (False, True):
        yield (
            f"random-inplace={inplace}",
            random_cnn(inplace, seed=int(inplace)),
            torch.rand(4, 3, 20, 20, generator=generator),
            "6",
        )
    shapes = models.load_model("shapes")
    yield "shapes", shapes, torch.rand(4, 3, 64, 64, generator=generator), "relu4"
    digits = models.load_model("digits")
    yield "digits", digits, torch.rand(4, 1, 28, 28, generator=generator), "relu2"


CASES = list(cases())
IDS = [case[0] for case in CASES]
TARGETS = torch.tensor([0, 1, 2, 3])


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_saliency_equals_captum_saliency_max_over_channels(case):
    _, model, x, _ = case
    ours = saliency.saliency_map(model, x, TARGETS)
    theirs = Saliency(model).attribute(x.clone(), target=TARGETS).amax(dim=1)
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("case", CASES, ids=IDS)
@pytest.mark.parametrize(
    "ours, library",
    [(guided.guided_backprop, GuidedBackprop), (guided.deconvnet, Deconvolution)],
    ids=["guided", "deconvnet"],
)
def test_modified_relu_backprop_equals_captum(case, ours, library):
    _, model, x, _ = case
    expected = library(model).attribute(x.clone(), target=TARGETS)
    torch.testing.assert_close(ours(model, x, TARGETS), expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_grad_cam_equals_pytorch_grad_cam(case):
    _, model, x, layer = case
    with LibraryGradCAM(model, target_layers=[dict(model.named_modules())[layer]]) as cam:
        theirs = cam(x.clone(), targets=[ClassifierOutputTarget(int(t)) for t in TARGETS])
    ours = gradcam.grad_cam(model, x, TARGETS, layer=layer)
    torch.testing.assert_close(ours, torch.from_numpy(theirs), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_grad_cam_before_normalization_equals_captum_layer_grad_cam(case):
    _, model, x, layer = case
    library = LayerGradCam(model, dict(model.named_modules())[layer])
    theirs = library.attribute(x.clone(), target=TARGETS, relu_attributions=True)[:, 0]
    ours = gradcam.grad_cam(model, x, TARGETS, layer=layer, resize=False, normalize=False)
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-5)


def test_cross_checks_leave_the_models_as_they_were():
    _, model, x, layer = CASES[1]
    before = [type(m) for m in model.modules()]
    guided.guided_backprop(model, x, TARGETS)
    gradcam.grad_cam(model, x, TARGETS, layer=layer)
    assert [type(m) for m in model.modules()] == before
    assert not model.training


# Integrated gradients and occlusion need no ReLU modules: they also run on F.relu calls.
with torch.random.fork_rng():
    torch.manual_seed(2)
    FUNCTIONAL = ("functional-relu", FunctionalReLUNet().eval(), torch.rand(4, 3, 32, 32), None)
GRADIENT_FREE_CASES = [*CASES, FUNCTIONAL]
GRADIENT_FREE_IDS = [case[0] for case in GRADIENT_FREE_CASES]
# (window, stride) per image size, chosen so that the windows tile the image exactly: Captum
# stops at the last stride that fits, where ours adds a window at the far edge.
WINDOWS = {20: (6, 2), 28: (8, 4), 32: (8, 4), 64: (16, 12)}


def assert_close_to_scale(ours, theirs, tol=1e-5):
    """Equal up to ``tol`` times the reference's largest value: random CNNs give tiny
    attributions, where a fixed absolute tolerance would accept anything."""
    scale = theirs.abs().max().item()
    assert scale > 0, "the reference is all zeros: comparing with it would prove nothing"
    torch.testing.assert_close(ours, theirs, rtol=tol, atol=tol * scale)


def baselines_for(x, form):
    """The same baseline for both libraries: (ours, Captum's)."""
    if form == "zeros":
        return None, None  # both default to a black image
    if form == "constant":
        return 0.5, 0.5
    per_image = torch.rand(x.shape, generator=torch.Generator().manual_seed(7))
    return per_image, per_image


@pytest.mark.parametrize("case", GRADIENT_FREE_CASES, ids=GRADIENT_FREE_IDS)
@pytest.mark.parametrize("form", ["zeros", "constant", "per-image"])
def test_integrated_gradients_equals_captum_riemann_middle(case, form):
    _, model, x, _ = case
    ours_baseline, their_baseline = baselines_for(x, form)
    before = state(model)
    ours = saliency.integrated_gradients(
        model, x, TARGETS, baseline=ours_baseline, steps=8, batch_size=10
    )
    assert_same_state(before, state(model))
    theirs = IntegratedGradients(model).attribute(
        x.clone(), baselines=their_baseline, target=TARGETS, n_steps=8, method="riemann_middle"
    )
    assert_close_to_scale(ours, theirs)


@pytest.mark.parametrize("case", GRADIENT_FREE_CASES, ids=GRADIENT_FREE_IDS)
@pytest.mark.parametrize("form", ["zeros", "per-image"])  # a constant: test_ig_occlusion.py
def test_occlusion_equals_captum_occlusion(case, form):
    _, model, x, _ = case
    channels, size = x.shape[1], x.shape[2]
    window, stride = WINDOWS[size]
    assert (size - window) % stride == 0
    ours_baseline, their_baseline = baselines_for(x, form)
    before = state(model)
    ours = occlusion.occlusion(
        model, x, TARGETS, window=window, stride=stride,
        baseline=0.0 if ours_baseline is None else ours_baseline, batch_size=50,
    )  # fmt: skip
    assert_same_state(before, state(model))
    theirs = Occlusion(model).attribute(
        x.clone(),
        sliding_window_shapes=(channels, window, window),
        strides=(channels, stride, stride),
        baselines=their_baseline,
        target=TARGETS,
    )
    # Captum gives every channel the same value (the window covers them all).
    assert torch.equal(theirs[:, 0], theirs[:, -1])
    assert_close_to_scale(ours, theirs[:, 0])
