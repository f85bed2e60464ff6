"""Tests of course_utils.adversarial: definitions, promises (eps, range), clear errors.
The exact agreement with torchattacks is in test_crosscheck_attacks.py."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_utils import adversarial, data, models, train


def linear_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(16, 3)).eval()


@pytest.fixture
def batch():
    generator = torch.Generator().manual_seed(0)
    return torch.rand(5, 1, 4, 4, generator=generator), torch.tensor([0, 1, 2, 0, 1])


def test_fgsm_steps_along_the_sign_of_the_loss_gradient(batch):
    x, y = batch
    model = linear_model()
    leaf = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(F.cross_entropy(model(leaf), y), leaf)
    ours = adversarial.fgsm(model, x, y, eps=0.1)
    torch.testing.assert_close(ours, (x + 0.1 * grad.sign()).clamp(0, 1))
    targeted = adversarial.fgsm(model, x, y, eps=0.1, targeted=True)
    torch.testing.assert_close(targeted, (x - 0.1 * grad.sign()).clamp(0, 1))
    loss = F.cross_entropy(model(x), y, reduction="none")
    assert (F.cross_entropy(model(ours), y, reduction="none") > loss).all()
    assert (F.cross_entropy(model(targeted), y, reduction="none") < loss).all()


def test_attacks_keep_eps_and_the_valid_range(batch):
    x, y = batch
    model = linear_model()
    for adv in (
        adversarial.fgsm(model, x, y, eps=0.3),
        adversarial.pgd(model, x, y, eps=0.3, steps=5),
        adversarial.pgd(model, x, y, eps=0.3, steps=5, random_start=False, targeted=True),
    ):
        assert (adv - x).abs().max() <= 0.3 + 1e-6
        assert adv.min() >= 0 and adv.max() <= 1
    torch.testing.assert_close(adversarial.fgsm(model, x, y, eps=0.0), x)


def test_pgd_is_seeded_and_stronger_than_fgsm_on_the_digits():
    model = models.load_model("digits")
    x, y = data.load_digits("test")
    x, y = x[:64], y[:64]
    a = adversarial.pgd(model, x, y, eps=0.1, seed=1)
    torch.testing.assert_close(a, adversarial.pgd(model, x, y, eps=0.1, seed=1))
    assert not torch.equal(a, adversarial.pgd(model, x, y, eps=0.1, seed=2))
    with torch.no_grad():
        fgsm_correct = (model(adversarial.fgsm(model, x, y, eps=0.1)).argmax(1) == y).sum()
        pgd_correct = (model(a).argmax(1) == y).sum()
    assert pgd_correct < fgsm_correct


def test_attacks_explain_bad_input(batch):
    x, y = batch
    model = linear_model()
    with pytest.raises(ValueError, match=r"must lie in \[0, 1\].*normalize inside the model"):
        adversarial.fgsm(model, x * 2 - 1, y, eps=0.1)
    with pytest.raises(ValueError, match="0 <= eps <= 1"):
        adversarial.pgd(model, x, y, eps=8)
    with pytest.raises(ValueError, match="add a batch dimension"):
        adversarial.fgsm(model, x[0], y, eps=0.1)


def test_fooling_image_reaches_the_target_and_then_stops():
    model = models.load_model("digits").train()
    x, y = data.load_digits("test")
    x, y = x[:8], y[:8]
    target = (y + 1) % 10
    fooled, steps = adversarial.fooling_image(model, x, target, lr=0.5, max_steps=100)
    assert model.training
    with torch.no_grad():
        assert (model.eval()(fooled).argmax(1) == target).all()
    assert (steps > 0).all() and (steps < 100).all()
    # Nothing to do for an image the model already assigns to the target.
    same, none = adversarial.fooling_image(model, x, y)
    assert torch.equal(same, x) and (none == 0).all()


def test_accuracy_under_attack_takes_tensors_or_batches_and_falls_with_eps():
    model = models.load_model("digits")
    x, y = data.load_digits("test")
    x, y = x[:100], y[:100]
    curve = adversarial.accuracy_under_attack(model, adversarial.fgsm, (x, y), [0, 0.05, 0.1])
    assert curve[0] == pytest.approx((model(x).argmax(1) == y).float().mean().item())
    assert curve[0] >= curve[1] >= curve[2]
    batches = [(x[:50], y[:50]), (x[50:], y[50:])]
    assert adversarial.accuracy_under_attack(model, adversarial.fgsm, batches, [0.05]) == [curve[1]]


def test_bit_depth_rounds_and_only_the_straight_through_version_passes_gradients():
    x = torch.tensor([[[[0.1, 0.4, 0.6, 0.95]]]], requires_grad=True)
    for straight_through, expected_grad in ((False, 0.0), (True, 1.0)):
        out = adversarial.BitDepth(1, straight_through)(x)
        assert out.tolist() == [[[[0.0, 0.0, 1.0, 1.0]]]]
        (grad,) = torch.autograd.grad(out.sum(), x)
        assert (grad == expected_grad).all()
    assert adversarial.BitDepth(2)(torch.tensor([0.3])).item() == pytest.approx(1 / 3)
    with pytest.raises(ValueError, match="between 1 and 8"):
        adversarial.BitDepth(0)


def test_shape_bias_counts_only_decisions_that_follow_a_cue():
    shape = torch.tensor([0, 1, 2, 3, 4])
    texture = torch.tensor([1, 2, 3, 4, 0])
    # two shape decisions, one texture decision, two that follow neither
    predictions = torch.tensor([0, 1, 3, 0, 2])
    assert adversarial.shape_bias(predictions, shape, texture) == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="different class"):
        adversarial.shape_bias(predictions, shape, shape)
    with pytest.raises(ValueError, match="undefined"):
        adversarial.shape_bias(torch.full((5,), 5), shape, texture)


def test_fit_applies_perturb_to_every_batch(batch):
    x, y = batch
    seen = []

    def perturb(model, inputs, labels):
        assert not model.training, "attacks run in eval mode"
        seen.append(len(inputs))
        return adversarial.fgsm(model, inputs, labels, eps=0.1)

    model = nn.Sequential(nn.Flatten(), nn.Dropout(0.1), nn.Linear(16, 3))
    train.fit(model, x, y, epochs=2, batch_size=2, perturb=perturb, progress=False)
    assert seen == [2, 2, 1, 2, 2, 1]
