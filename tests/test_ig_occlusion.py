"""Integrated gradients and occlusion: worked out by hand on linear models, completeness on
a trained model, every form of baseline and target, and the model left as found."""

import pytest
import torch
from torch import nn
from zoo import assert_same_state, hook_count, small_cnn, state

from course_utils import models, occlusion, saliency, shapes


def linear_model(channels=2, size=6, seed=0) -> nn.Module:
    """Two classes; the score of class 0 is ``sum(w * x) + b``, a weighted sum of pixels."""
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(channels * size * size, 2)).eval()


def used_model() -> nn.Module:
    """A model in training mode with a Dropout, known .grad on some weights and a frozen
    weight: a method must compute in eval mode and leave all of this alone."""
    model = small_cnn(3, (6, 8), 4, dropout=True, seed=3).train()
    for index, parameter in enumerate(model.parameters()):
        if index == 1:
            parameter.requires_grad_(False)
        if index % 2 == 0:
            parameter.grad = torch.full_like(parameter, 0.25)
    return model


@pytest.fixture(scope="module")
def trained():
    """The shipped shapes model and four new shapes images with their labels."""
    data = shapes.make_shapes(4, seed=1)
    return models.load_model("shapes"), data.images, data.labels


# ---------------------------------------------------------------------------------------
# Integrated gradients
# ---------------------------------------------------------------------------------------


def test_integrated_gradients_of_a_linear_model_is_input_minus_baseline_times_weight():
    model = linear_model()
    x = torch.rand(3, 2, 6, 6)
    baseline = torch.rand(2, 6, 6)
    weights = model[1].weight.detach()[1].view(2, 6, 6)  # class 1's weights
    # The gradient of a linear score is its weights everywhere on the path, for any steps.
    for steps in (1, 5):
        ours = saliency.integrated_gradients(model, x, 1, baseline=baseline, steps=steps)
        torch.testing.assert_close(ours, (x - baseline) * weights)


def test_integrated_gradients_adds_up_to_the_change_of_the_score(trained):
    model, x, y = trained
    with torch.no_grad():
        change = (model(x) - model(torch.zeros_like(x))).gather(1, y[:, None])[:, 0]
    assert change.abs().min() > 0.5, "tiny changes would make any relative gap look large"
    gaps = {}
    for steps in (2, 8, 32):
        attributions = saliency.integrated_gradients(model, x, y, steps=steps)
        gap = saliency.completeness_gap(model, x, y, attributions)
        # The gap by hand: sum of the attributions minus the change of the score.
        torch.testing.assert_close(gap, attributions.sum(dim=(1, 2, 3)) - change)
        gaps[steps] = (gap.abs() / change.abs()).mean().item()
    assert gaps[32] < 0.03, gaps
    assert gaps[32] < gaps[8] < gaps[2], gaps


def test_completeness_gap_uses_the_baseline_and_checks_shapes():
    model = linear_model()
    x, baseline = torch.rand(2, 2, 6, 6), torch.rand(2, 2, 6, 6)
    exact = saliency.integrated_gradients(model, x, 0, baseline=baseline)
    gap = saliency.completeness_gap(model, x, 0, exact, baseline=baseline)
    torch.testing.assert_close(gap, torch.zeros(2), atol=1e-5, rtol=0)
    # Against the default (black) baseline, the gap is minus the score of the real baseline
    # without the bias: sum w (x - b) - (w x - w 0).
    wrong = saliency.completeness_gap(model, x, 0, exact)
    w = model[1].weight.detach()[0]
    torch.testing.assert_close(wrong, -(baseline.flatten(1) @ w), atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="shape of x"):
        saliency.completeness_gap(model, x, 0, exact[:, 0])


@pytest.mark.parametrize(
    "method",
    [
        lambda model, x, baseline: saliency.integrated_gradients(
            model, x, 0, baseline=baseline, steps=4
        ),
        lambda model, x, baseline: occlusion.occlusion(
            model, x, 0, baseline=baseline, window=3, stride=2
        ),
    ],
    ids=["integrated_gradients", "occlusion"],
)
def test_every_form_of_baseline_means_the_same_images(method):
    model = small_cnn(3, (4,), 3, seed=1).eval()
    x = torch.rand(2, 3, 8, 8)
    black = method(model, x, None)
    assert black.abs().max() > 0
    for same in (0.0, 0, torch.zeros(3, 8, 8), torch.zeros(2, 3, 8, 8)):
        torch.testing.assert_close(method(model, x, same), black, rtol=0, atol=0)
    grey = method(model, x, 0.3)
    torch.testing.assert_close(method(model, x, torch.full((3, 8, 8), 0.3)), grey, rtol=0, atol=0)
    assert not torch.allclose(grey, black)
    # One baseline per image: each image is explained against its own.
    own = torch.rand(2, 3, 8, 8)
    both = method(model, x, own)
    for i in range(2):
        torch.testing.assert_close(both[i : i + 1], method(model, x[i : i + 1], own[i]))
    # The image itself as baseline: nothing changed, nothing to attribute.
    assert method(model, x, x).abs().max() == 0


@pytest.mark.parametrize(
    "method",
    [
        lambda model, x, baseline: saliency.integrated_gradients(model, x, 0, baseline=baseline),
        lambda model, x, baseline: occlusion.occlusion(model, x, 0, baseline=baseline),
    ],
    ids=["integrated_gradients", "occlusion"],
)
def test_bad_baselines_get_clear_errors(method):
    model, x = small_cnn(3, (4,), 3).eval(), torch.rand(2, 3, 16, 16)
    for shape in [(3, 16, 15), (1, 3, 16, 16), (3, 3, 16, 16), (16, 16)]:
        with pytest.raises(ValueError, match=r"baseline must have shape \(C, H, W\)"):
            method(model, x, torch.zeros(shape))
    with pytest.raises(TypeError, match="baseline must be None, a number or a tensor"):
        method(model, x, "black")


def test_integrated_gradients_checks_steps_and_images():
    model, x = small_cnn(3, (4,), 3).eval(), torch.rand(2, 3, 8, 8)
    for steps in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="steps must be a positive integer"):
            saliency.integrated_gradients(model, x, 0, steps=steps)
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        saliency.integrated_gradients(model, x, 0, batch_size=0)
    with pytest.raises(ValueError, match=r"unsqueeze\(0\)"):
        saliency.integrated_gradients(model, x[0], 0)


# ---------------------------------------------------------------------------------------
# Occlusion
# ---------------------------------------------------------------------------------------


def test_window_starts_end_at_the_far_edge():
    assert occlusion.window_starts(10, 4, 4) == [0, 4, 6]
    assert occlusion.window_starts(20, 4, 4) == [0, 4, 8, 12, 16]
    assert occlusion.window_starts(7, 7, 3) == [0]
    assert occlusion.window_starts(6, 3, 2) == [0, 2, 3]


def test_occlusion_of_a_linear_model_worked_out_by_hand():
    model = linear_model(channels=2, size=6)
    weights = model[1].weight.detach()[0].view(2, 6, 6)
    x, baseline = torch.rand(1, 2, 6, 6), torch.rand(2, 6, 6)
    # Window 3, stride 2 on 6 pixels: starts 0 and 2 fit; 4 does not, so the last window
    # starts at 6 - 3 = 3. Hiding a window lowers the score by sum(w * (x - b)) there.
    starts = [0, 2, 3]
    total, count = torch.zeros(6, 6), torch.zeros(6, 6)
    for top in starts:
        for left in starts:
            window = (slice(None), slice(top, top + 3), slice(left, left + 3))
            drop = (weights[window] * (x[0][window] - baseline[window])).sum()
            total[window[1:]] += drop
            count[window[1:]] += 1
    ours = occlusion.occlusion(model, x, 0, window=3, stride=2, baseline=baseline)
    assert ours.shape == (1, 6, 6)
    torch.testing.assert_close(ours[0], total / count)
    assert count.min() == 1 and count.max() == 4  # every pixel covered, some by 4 windows


def test_occlusion_with_a_constant_baseline_and_non_square_images():
    model = nn.Sequential(nn.Flatten(), nn.Linear(1 * 4 * 5, 3)).eval()
    weights = model[1].weight.detach()[2].view(4, 5)
    x = torch.rand(2, 1, 4, 5)
    # Window 4 = the full height: one row of windows, starting at columns 0 and 1.
    ours = occlusion.occlusion(model, x, 2, window=4, stride=3, baseline=0.5)
    drops = [
        (weights[:, c : c + 4] * (x[:, 0, :, c : c + 4] - 0.5)).sum(dim=(1, 2)) for c in (0, 1)
    ]
    both = (drops[0] + drops[1]) / 2  # columns 1 to 3 lie in both windows
    columns = torch.stack([drops[0], both, both, both, drops[1]], dim=1)  # (2, 5)
    torch.testing.assert_close(ours, columns[:, None, :].expand(2, 4, 5))


def test_occlusion_checks_window_stride_and_batch_size():
    model, x = small_cnn(3, (4,), 3).eval(), torch.rand(2, 3, 10, 12)
    for window in (0, -3, 2.0, None):
        with pytest.raises(ValueError, match="window must be a positive integer"):
            occlusion.occlusion(model, x, 0, window=window)
    with pytest.raises(ValueError, match="window must fit in the image: at most 10, got 11"):
        occlusion.occlusion(model, x, 0, window=11)
    for stride in (0, 1.5):
        with pytest.raises(ValueError, match="stride must be a positive integer"):
            occlusion.occlusion(model, x, 0, window=4, stride=stride)
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        occlusion.occlusion(model, x, 0, window=4, batch_size=0)
    with pytest.raises(ValueError, match=r"unsqueeze\(0\)"):
        occlusion.occlusion(model, x[0], 0, window=4)


# ---------------------------------------------------------------------------------------
# Both: target=None, batch sizes, the model and the input left as found
# ---------------------------------------------------------------------------------------

METHODS = {
    "integrated_gradients": lambda model, x, target, batch_size: saliency.integrated_gradients(
        model, x, target, steps=5, batch_size=batch_size
    ),
    # Windows of a quarter of the image side, side by side (and one more at the far edge
    # where the side is not a multiple): few forward passes, some pixels in two windows.
    "occlusion": lambda model, x, target, batch_size: occlusion.occlusion(
        model, x, target, window=x.shape[-1] // 4, stride=x.shape[-1] // 4, batch_size=batch_size
    ),
}


@pytest.mark.parametrize("name", METHODS)
def test_target_none_is_the_predicted_class(name, trained):
    model, x, _ = trained
    predicted = models.predict(model, x).argmax(dim=1)
    assert len(set(predicted.tolist())) > 1, "one class for all would not test per-image targets"
    implicit = METHODS[name](model, x, None, 64)
    torch.testing.assert_close(implicit, METHODS[name](model, x, predicted, 64), rtol=0, atol=0)
    other = (predicted + 1) % 6
    assert not torch.allclose(implicit, METHODS[name](model, x, other, 64))


@pytest.mark.parametrize("name", METHODS)
def test_the_batch_size_does_not_change_the_result(name):
    model, x = small_cnn(3, (6, 8), 4, seed=5).eval(), torch.rand(3, 3, 14, 14)
    target = torch.tensor([0, 3, 1])
    reference = METHODS[name](model, x, target, 1)
    assert reference.abs().max() > 0
    for batch_size in (4, 7, 1000):
        torch.testing.assert_close(METHODS[name](model, x, target, batch_size), reference)


@pytest.mark.parametrize("name", METHODS)
def test_the_model_and_input_are_left_as_found(name):
    model = used_model()
    reference = small_cnn(3, (6, 8), 4, dropout=True, seed=3).eval()
    x = torch.rand(2, 3, 12, 12).requires_grad_(True)
    x_before = x.detach().clone()
    before = state(model)
    first = METHODS[name](model, x, [1, 2], 5)
    assert_same_state(before, state(model))
    assert hook_count(model) == 0
    assert torch.equal(x.detach(), x_before) and x.grad is None and x.requires_grad
    assert not first.requires_grad
    # Computed in eval mode: the dropout is off, so the answer is that of an eval-mode copy
    # (and the same every time).
    torch.testing.assert_close(first, METHODS[name](reference, x_before, [1, 2], 5))
