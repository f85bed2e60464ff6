"""Tests of the explanation methods in course_utils (attribution, saliency, guided, gradcam).

Library cross-checks live in test_crosscheck_libraries.py; these test the course's own
promises: clear errors, models left as they were, and the definitions on hand-made cases.
"""

import pytest
import torch
from torch import nn
from zoo import hook_count, small_cnn

from course_utils import attribution, gradcam, guided, hooks, saliency


def tiny_cnn(inplace: bool = False) -> nn.Module:
    return small_cnn(3, (6, 8), 4, inplace=inplace)


@pytest.fixture
def x():
    return torch.rand(3, 3, 12, 12, generator=torch.Generator().manual_seed(1))


def test_input_gradient_is_the_gradient_of_each_images_own_score(x):
    model = tiny_cnn().eval()
    target = torch.tensor([0, 3, 1])
    grad = attribution.input_gradient(model, x, target)
    for i in range(len(x)):
        one = x[i : i + 1].clone().requires_grad_(True)
        model(one)[0, target[i]].backward()
        torch.testing.assert_close(grad[i], one.grad[0])


def test_input_gradient_of_a_channel_is_the_gradient_of_its_total_activation(x):
    model = tiny_cnn().eval()
    grad = attribution.input_gradient(model, x, 5, layer="2")
    leaf = x.clone().requires_grad_(True)
    model[2](model[1](model[0](leaf)))[:, 5].sum().backward()
    torch.testing.assert_close(grad, leaf.grad)


def test_explanations_leave_the_model_input_and_hooks_as_they_were(x):
    model = tiny_cnn(inplace=True).train()
    before = x.clone()
    saliency.saliency_map(model, x, 1)
    guided.guided_backprop(model, x, 1)
    gradcam.grad_cam(model, x, 1, layer="3")
    assert model.training, "the model's training mode must be restored"
    assert torch.equal(x, before), "the input must not be modified"
    assert all(isinstance(model[i], nn.ReLU) for i in (1, 3)), "ReLU modules must be put back"
    assert hook_count(model) == 0


def test_relu_swap_is_undone_when_the_forward_pass_fails():
    model = tiny_cnn()
    with pytest.raises(RuntimeError):
        guided.guided_backprop(model, torch.rand(1, 5, 8, 8), 0)  # 5 channels: conv1 fails
    assert all(type(model[i]) is nn.ReLU for i in (1, 3))


def test_backward_rules_on_every_sign_combination():
    x = torch.tensor([-1.0, -1.0, 0.0, 0.0, 2.0, 2.0])
    g = torch.tensor([-3.0, 3.0, -3.0, 3.0, -3.0, 3.0])
    assert guided.plain_relu_backward(x, g).tolist() == [0, 0, 0, 0, -3, 3]
    assert guided.deconvnet_relu_backward(x, g).tolist() == [0, 3, 0, 3, 0, 3]
    assert guided.guided_relu_backward(x, g).tolist() == [0, 0, 0, 0, 0, 3]


def test_a_channel_target_inside_the_swapped_relus(x):
    model = tiny_cnn()
    with guided.relu_backward_rule(model, "guided"):
        assert [n for n, m in model.named_modules() if isinstance(m, guided.ReLUWithRule)] == [
            "1",
            "3",
        ]
    leaf = x.clone().requires_grad_(True)
    with guided.relu_backward_rule(model, "guided"):
        model[1](model[0](leaf))[:, 2].sum().backward()
    torch.testing.assert_close(guided.guided_backprop(model, x, 2, layer="1"), leaf.grad)


def test_plain_rule_gives_the_true_gradient(x):
    model = tiny_cnn()
    with guided.relu_backward_rule(model, "plain"):
        swapped = attribution.input_gradient(model, x, 2)
    torch.testing.assert_close(swapped, attribution.input_gradient(model, x, 2))


def test_saliency_is_the_channel_max_of_the_absolute_gradient(x):
    model = tiny_cnn()
    grad = attribution.input_gradient(model, x, 2)
    maps = saliency.saliency_map(model, x, 2)
    assert maps.shape == (3, 12, 12) and (maps >= 0).all()
    torch.testing.assert_close(maps, grad.abs().amax(dim=1))


def test_smoothgrad_is_seeded_and_zero_noise_gives_saliency(x):
    model = tiny_cnn()
    a = saliency.smoothgrad(model, x, 1, n_samples=4, noise_level=0.2, seed=3)
    b = saliency.smoothgrad(model, x, 1, n_samples=4, noise_level=0.2, seed=3)
    c = saliency.smoothgrad(model, x, 1, n_samples=4, noise_level=0.2, seed=4)
    torch.testing.assert_close(a, b)
    assert not torch.allclose(a, c)
    flat = saliency.smoothgrad(model, x, 1, n_samples=2, noise_level=0.0)
    torch.testing.assert_close(flat, saliency.saliency_map(model, x, 1))
    with pytest.raises(ValueError, match="n_samples"):
        saliency.smoothgrad(model, x, 1, n_samples=0)


def test_grad_cam_by_hand_on_a_two_channel_layer():
    # Layer output A = x itself (identity), score = 2*mean(A_0) - mean(A_1):
    # weights = (2, -1) / (h*w), map = relu(2 A_0 - A_1) / (h*w), then normalized.
    class Linear2(nn.Module):
        def __init__(self):
            super().__init__()
            self.features = nn.Identity()
            self.pool = nn.AdaptiveAvgPool2d(1)

        def forward(self, x):
            pooled = self.pool(self.features(x)).flatten(1)
            return torch.stack([2 * pooled[:, 0] - pooled[:, 1], pooled[:, 1]], dim=1)

    x = torch.rand(2, 2, 4, 4, generator=torch.Generator().manual_seed(0))
    raw = gradcam.grad_cam(Linear2(), x, 0, layer="features", resize=False, normalize=False)
    torch.testing.assert_close(raw, (2 * x[:, 0] - x[:, 1]).clamp(min=0) / 16)
    maps = gradcam.grad_cam(Linear2(), x, 0, layer="features")
    assert maps.shape == (2, 4, 4) and maps.amax(dim=(1, 2)).tolist() == [1.0, 1.0]


def test_normalize_maps_turns_a_flat_map_into_zeros():
    maps = torch.stack([torch.full((3, 3), 5.0), torch.arange(9.0).view(3, 3)])
    out = gradcam.normalize_maps(maps)
    assert out[0].eq(0).all()
    torch.testing.assert_close(out[1], torch.arange(9.0).view(3, 3) / 8)


def test_guided_grad_cam_is_the_product(x):
    model = tiny_cnn()
    expected = (
        guided.guided_backprop(model, x, 1) * gradcam.grad_cam(model, x, 1, layer="3")[:, None]
    )
    torch.testing.assert_close(gradcam.guided_grad_cam(model, x, 1, layer="3"), expected)


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda m, x: saliency.saliency_map(m, x[0], 0), ValueError, r"\(N, C, H, W\).*unsqueeze"),
        (lambda m, x: saliency.saliency_map(m, x.numpy(), 0), TypeError, "torch.Tensor"),
        (lambda m, x: saliency.saliency_map(m, x, 7), ValueError, r"0\.\.3"),
        (lambda m, x: saliency.saliency_map(m, x, [0, 1]), ValueError, "3 of them"),
        (
            lambda m, x: gradcam.grad_cam(m, x, 0, layer="conv9"),
            hooks.UnknownLayerError,
            "Valid layer",
        ),
        (lambda m, x: gradcam.grad_cam(m, x, 0, layer="6"), ValueError, "convolutional layer"),
        (lambda m, x: guided.relu_backward_rule(m, "magic").__enter__(), ValueError, "guided"),
        (lambda m, x: guided.guided_backprop(nn.Conv2d(3, 2, 1), x, 0), ValueError, "nn.ReLU"),
    ],
)
def test_bad_input_gets_a_clear_error(x, call, error, message):
    with pytest.raises(error, match=message):
        call(tiny_cnn(), x)


def test_a_frozen_submodule_stays_frozen_in_a_training_model(x):
    """A model in training mode with one part frozen in eval mode (a common fine-tuning
    set-up) comes back with exactly that mix, from every method that switches to eval."""
    model = tiny_cnn().train()
    model[1].eval()  # "frozen"
    before = {name: m.training for name, m in model.named_modules()}
    saliency.saliency_map(model, x, 1)
    saliency.smoothgrad(model, x, 1, n_samples=2)
    guided.guided_backprop(model, x, 1)
    gradcam.grad_cam(model, x, 1, layer="3")
    with attribution.eval_mode(model):
        assert not any(m.training for m in model.modules())
    assert {name: m.training for name, m in model.named_modules()} == before
