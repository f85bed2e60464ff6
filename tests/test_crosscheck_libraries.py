"""The course's explanation methods agree with Captum and pytorch-grad-cam.

Both libraries are test-only dependencies: the lessons never import them. Each method is
compared on small random CNNs (one with ``ReLU(inplace=True)``) and on the shipped models.
"""

import pytest
import torch
from captum.attr import Deconvolution, GuidedBackprop, LayerGradCam, Saliency
from pytorch_grad_cam import GradCAM as LibraryGradCAM
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
from torch import nn
from zoo import small_cnn

from course_utils import gradcam, guided, models, saliency

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
