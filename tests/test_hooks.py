"""Tests of course_utils.hooks on a tiny CNN built here (not the course models)."""

import pytest
import torch
from torch import nn
from zoo import hook_count

from course_utils.hooks import (
    Recording,
    UnknownLayerError,
    collect_activations,
    get_layer,
    hook_recorder,
    layer_names,
    record_activations,
    record_gradients,
)


class TinyCNN(nn.Module):
    """(N, 1, 8, 8) -> (N, 5) logits."""

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4, 3, padding=1)
        self.relu1 = nn.ReLU(inplace=inplace)
        self.pool1 = nn.MaxPool2d(2)
        self.drop = nn.Dropout(0.5)  # makes train and eval mode give different results
        self.conv2 = nn.Conv2d(4, 6, 3, padding=1)
        self.relu2 = nn.ReLU(inplace=inplace)
        self.pool2 = nn.MaxPool2d(2)
        self.fc = nn.Linear(6 * 2 * 2, 5)

    def forward(self, x):
        x = self.drop(self.pool1(self.relu1(self.conv1(x))))
        x = self.pool2(self.relu2(self.conv2(x)))
        return self.fc(x.flatten(1))


NAMES = ["conv1", "relu1", "pool1", "drop", "conv2", "relu2", "pool2", "fc"]


@pytest.fixture
def model():
    torch.manual_seed(0)
    return TinyCNN().eval()


@pytest.fixture
def x():
    torch.manual_seed(1)
    return torch.randn(3, 1, 8, 8)


def test_layer_names_and_get_layer(model):
    assert layer_names(model) == NAMES
    assert get_layer(model, "conv2") is model.conv2
    nested = nn.Sequential(nn.Sequential(nn.Conv2d(1, 2, 3)), nn.ReLU())
    assert layer_names(nested) == ["0", "0.0", "1"]
    assert get_layer(nested, "0.0") is nested[0][0]


@pytest.mark.parametrize("recorder", [record_activations, record_gradients, hook_recorder])
def test_unknown_layer_lists_valid_names_and_registers_nothing(model, recorder):
    with pytest.raises(UnknownLayerError) as info:
        with recorder(model, ["conv1", "conv9"]):  # conv1 is valid: it must not get a hook
            pass
    message = str(info.value)
    assert "TinyCNN" in message and "'conv9'" in message
    for name in NAMES:
        assert name in message
    assert isinstance(info.value, ValueError)
    assert hook_count(model) == 0


def test_unknown_layer_suggests_close_match(model):
    with pytest.raises(UnknownLayerError, match="did you mean 'conv1'"):
        get_layer(model, "cnv1")
    with pytest.raises(UnknownLayerError) as info:
        get_layer(model, "")  # the model itself is not a layer
    assert "did you mean" not in str(info.value)


def test_type_errors(model):
    with pytest.raises(TypeError, match="nn.Module"):
        with record_activations("not a model", "conv1"):
            pass
    with pytest.raises(TypeError, match="str or a list of str"):
        with record_activations(model, 3):
            pass
    with pytest.raises(TypeError, match="str or a list of str"):
        with record_gradients(model, ["conv1", 2]):
            pass
    with pytest.raises(TypeError, match="nn.Module"):
        layer_names(lambda x: x)
    with pytest.raises(TypeError, match="single layer name"):
        collect_activations(model, ["conv1"], torch.zeros(2, 1, 8, 8))
    with pytest.raises(TypeError, match="torch.Tensor"):
        collect_activations(model, "conv1", [[0.0]])
    assert hook_count(model) == 0


def test_activations_equal_manual_forward(model, x):
    with record_activations(model, ["conv1", "pool1", "conv2"]) as acts:
        assert acts == {}
        model(x)
    a1 = model.conv1(x)
    p1 = model.pool1(torch.relu(a1))
    a2 = model.conv2(p1)  # eval mode: dropout does nothing
    torch.testing.assert_close(acts["conv1"], a1)
    torch.testing.assert_close(acts["pool1"], p1)
    torch.testing.assert_close(acts["conv2"], a2)
    assert not acts["conv2"].requires_grad
    assert set(acts) == {"conv1", "pool1", "conv2"}


def test_latest_forward_pass_wins(model, x):
    with record_activations(model, "fc") as acts:
        model(x)
        model(x[:1] * 2)
    torch.testing.assert_close(acts["fc"], model(x[:1] * 2))


def test_hooks_removed_after_exit_and_after_exception(model, x):
    with record_activations(model, NAMES) as acts, record_gradients(model, NAMES):
        assert hook_count(model) == 2 * len(NAMES)
        model(x)
    assert hook_count(model) == 0

    with pytest.raises(KeyError, match="boom"):
        with record_activations(model, "conv1"), record_gradients(model, "conv2"):
            model(x)
            raise KeyError("boom")
    assert hook_count(model) == 0

    # Forward passes after the block are no longer recorded.
    acts_before = acts["conv1"].clone()
    model(x * 3)
    torch.testing.assert_close(acts["conv1"], acts_before)


def test_gradient_hooks_removed_before_a_late_backward(model, x):
    with record_gradients(model, "conv1") as grads:
        out = model(x)
    out.sum().backward()  # after the block: must not be recorded
    assert grads == {}


def test_gradients_equal_autograd(model, x):
    with record_gradients(model, ["conv1", "conv2"]) as grads:
        model(x)[:, 2].sum().backward()
    a1 = model.conv1(x)
    a2 = model.conv2(model.pool1(torch.relu(a1)))
    score = model.fc(model.pool2(torch.relu(a2)).flatten(1))[:, 2].sum()
    g1, g2 = torch.autograd.grad(score, [a1, a2])
    torch.testing.assert_close(grads["conv1"], g1)
    torch.testing.assert_close(grads["conv2"], g2)
    assert grads["conv2"].shape == (3, 6, 4, 4)


def test_inplace_relu_does_not_clobber_records(x):
    torch.manual_seed(0)
    model = TinyCNN(inplace=True).eval()
    with record_activations(model, "conv1") as acts, record_gradients(model, "conv1") as grads:
        model(x)[:, 0].sum().backward()
    a1 = model.conv1(x)
    assert (a1 < 0).any()  # otherwise this test could not notice the clobbering
    torch.testing.assert_close(acts["conv1"], a1)
    score = model.fc(model.pool2(torch.relu(model.conv2(model.pool1(torch.relu(a1))))).flatten(1))
    (g1,) = torch.autograd.grad(score[:, 0].sum(), a1)
    torch.testing.assert_close(grads["conv1"], g1)


def test_nested_on_the_same_layer_in_both_orders(model, x):
    x = x.clone().requires_grad_(True)
    with record_activations(model, "conv2") as acts, record_gradients(model, "conv2") as grads:
        model(x)[:, 1].sum().backward()
    with record_gradients(model, "conv2") as grads2, record_activations(model, "conv2") as acts2:
        model(x)[:, 1].sum().backward()
    torch.testing.assert_close(acts["conv2"], acts2["conv2"])
    torch.testing.assert_close(grads["conv2"], grads2["conv2"])
    assert acts["conv2"].shape == grads["conv2"].shape
    assert hook_count(model) == 0


def test_gradients_without_grad_give_a_clear_error(model, x):
    with pytest.raises(RuntimeError, match="no_grad"):
        with torch.no_grad(), record_gradients(model, "conv1"):
            model(x)
    assert hook_count(model) == 0


def test_collect_activations_matches_full_forward_and_restores_mode(x):
    torch.manual_seed(0)
    model = TinyCNN().train()
    model.conv1.eval()  # a submodule in its own mode must get it back too
    images = torch.randn(10, 1, 8, 8)
    feats = collect_activations(model, "conv2", images, batch_size=3)  # 4 uneven batches

    assert model.training and model.drop.training and not model.conv1.training
    model.eval()
    with torch.no_grad():
        expected = model.conv2(model.pool1(torch.relu(model.conv1(images))))
    assert feats.shape == (10, 6, 4, 4)
    torch.testing.assert_close(feats, expected)
    assert not feats.requires_grad
    assert hook_count(model) == 0


def test_collect_activations_bad_input(model):
    with pytest.raises(UnknownLayerError):
        collect_activations(model, "conv7", torch.zeros(2, 1, 8, 8))
    with pytest.raises(ValueError, match="non-empty"):
        collect_activations(model, "conv1", torch.zeros(0, 1, 8, 8))
    with pytest.raises(ValueError, match="batch_size"):
        collect_activations(model, "conv1", torch.zeros(2, 1, 8, 8), batch_size=0)


def test_record_activations_attached_keeps_the_graph():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU())
    x = torch.rand(1, 1, 5, 5, requires_grad=True)
    with record_activations(model, "0", attached=True) as acts:
        model(x)
    acts["0"].sum().backward()
    assert x.grad is not None and acts["0"].requires_grad
    with record_activations(model, "0") as acts:
        model(x)
    assert not acts["0"].requires_grad


# --- hook_recorder: both halves in one block -----------------------------------------------


def _manual(model, x, target):
    """conv1, pool1, conv2 outputs of TinyCNN (eval mode) and their gradients for logit `target`."""
    a1 = model.conv1(x)
    p1 = model.pool1(torch.relu(a1))
    a2 = model.conv2(p1)
    score = model.fc(model.pool2(torch.relu(a2)).flatten(1))[:, target].sum()
    return [a1, p1, a2], torch.autograd.grad(score, [a1, p1, a2])


@pytest.mark.parametrize("inplace", [False, True])
def test_hook_recorder_equals_autograd_for_several_layers(x, inplace):
    torch.manual_seed(0)
    model = TinyCNN(inplace=inplace).eval()
    with hook_recorder(model, ["conv1", "pool1", "conv2"]) as recording:
        assert isinstance(recording, Recording) and recording == ({}, {})
        model(x)[:, 2].sum().backward()
    acts, grads = recording  # unpacks like a tuple
    outputs, expected = _manual(model, x, 2)
    assert (outputs[0] < 0).any()  # else an in-place ReLU could not clobber anything
    for name, output, grad in zip(["conv1", "pool1", "conv2"], outputs, expected):
        torch.testing.assert_close(acts[name], output)
        torch.testing.assert_close(grads[name], grad)
        assert not acts[name].requires_grad and not grads[name].requires_grad
    assert set(acts) == set(grads) == {"conv1", "pool1", "conv2"}
    assert hook_count(model) == 0


def test_hook_recorder_leaves_output_and_input_gradient_unchanged(model, x):
    x1 = x.clone().requires_grad_(True)
    x2 = x.clone().requires_grad_(True)
    with hook_recorder(model, NAMES):
        out = model(x1)
        out[:, 0].sum().backward()
    expected = model(x2)
    expected[:, 0].sum().backward()
    torch.testing.assert_close(out, expected)
    assert out.requires_grad
    torch.testing.assert_close(x1.grad, x2.grad)


def test_hook_recorder_without_grad_records_no_gradient(model, x):
    with hook_recorder(model, "conv2") as (acts, grads):
        with torch.no_grad():
            out = model(x)
        assert grads == {} and acts["conv2"].shape == (3, 6, 4, 4)
        assert not out.requires_grad
        model(x)[:, 1].sum().backward()  # the same block, with gradients now
    assert grads["conv2"].shape == (3, 6, 4, 4)
    assert hook_count(model) == 0


def test_hook_recorder_latest_pass_wins(model, x):
    with hook_recorder(model, "conv2") as (acts, grads):
        model(x)[:, 0].sum().backward()
        model(x[:2] * 2)[:, 4].sum().backward()
    outputs, expected = _manual(model, x[:2] * 2, 4)
    torch.testing.assert_close(acts["conv2"], outputs[2])
    torch.testing.assert_close(grads["conv2"], expected[2])


def test_hook_recorder_removes_every_hook_after_exit_and_after_exception(model, x):
    with hook_recorder(model, ["conv1", "conv2"]) as (acts, grads):
        assert hook_count(model) == 2
        late = model(x)  # backpropagated only after the block
    assert hook_count(model) == 0
    late.sum().backward()
    assert grads == {}, "a tensor hook outlived the block"
    before = acts["conv1"].clone()
    model(x * 3)
    torch.testing.assert_close(acts["conv1"], before)

    with pytest.raises(KeyError, match="boom"):
        with hook_recorder(model, ["conv1", "fc"]) as (acts, grads):
            late = model(x)
            raise KeyError("boom")
    assert hook_count(model) == 0
    late.sum().backward()
    assert grads == {}
