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


def test_paste_patch_replaces_only_the_covered_pixels_and_passes_gradients(batch):
    x, _ = batch
    before = x.clone()
    patch = torch.full((1, 2, 2), 7.0, requires_grad=True)
    patched = adversarial.paste_patch(x, patch, torch.tensor([0, 1, 2, 0, 2]), 1)
    assert torch.equal(x, before)
    inside = torch.zeros_like(x, dtype=torch.bool)
    for n, top in enumerate([0, 1, 2, 0, 2]):
        inside[n, :, top : top + 2, 1:3] = True
    assert (patched[inside] == 7).all() and torch.equal(patched[~inside], x[~inside])
    (grad,) = torch.autograd.grad(patched.sum(), patch)
    assert (grad == len(x)).all()  # every image contributes once per patch pixel
    with pytest.raises(ValueError, match=r"lie in 0\.\.2"):
        adversarial.paste_patch(x, patch.detach(), 3, 0)
    with pytest.raises(ValueError, match="one int or 5"):
        adversarial.paste_patch(x, patch.detach(), [0, 1], 0)
    with pytest.raises(ValueError, match=r"shape \(1, h, w\)"):
        adversarial.paste_patch(x, torch.ones(3, 2, 2), 0, 0)


def test_patch_positions_are_seeded_and_keep_the_patch_inside(batch):
    x, _ = batch
    tops, lefts = adversarial.patch_positions(x, 3, torch.Generator().manual_seed(4))
    assert tops.shape == lefts.shape == (5,)
    assert tops.min() >= 0 and tops.max() <= 1 and lefts.min() >= 0 and lefts.max() <= 1
    again = adversarial.patch_positions(x, 3, torch.Generator().manual_seed(4))
    assert torch.equal(tops, again[0]) and torch.equal(lefts, again[1])
    with pytest.raises(ValueError, match="between 1 and 4"):
        adversarial.patch_positions(x, 5, torch.Generator())


def test_adversarial_patch_follows_the_sign_of_the_gradient_and_leaves_the_model_alone(batch):
    x, _ = batch
    # Class 1 scores the sum of the pixels: its loss falls as every patch pixel brightens.
    model = nn.Sequential(nn.Flatten(), nn.Dropout(0.5), nn.Linear(16, 2)).train()
    with torch.no_grad():
        model[2].weight.copy_(torch.stack([torch.zeros(16), torch.ones(16)]))
        model[2].bias.zero_()
    start = torch.rand(1, 2, 2, generator=torch.Generator().manual_seed(3))
    for target, steps, expected in [(1, 4, start + 0.4), (0, 2, start - 0.2), (1, 30, 1.0)]:
        patch = adversarial.adversarial_patch(model, x, target, size=2, steps=steps, lr=0.1, seed=3)
        torch.testing.assert_close(patch, torch.as_tensor(expected).expand(1, 2, 2).clamp(0, 1))
    assert model.training and all(p.grad is None for p in model.parameters())
    with pytest.raises(ValueError, match="between 1 and 4"):
        adversarial.adversarial_patch(model, x, 1, size=6)
    with pytest.raises(ValueError, match=r"must lie in \[0, 1\]"):
        adversarial.adversarial_patch(model, x * 3, 1, size=2)


def test_adversarial_patch_is_seeded_and_fools_the_shapes_model_on_other_images():
    model = models.load_model("shapes")
    train_x = data.make_shapes(16, seed=90).images  # the patch is optimized on these
    test = data.make_shapes(120, seed=91)  # and measured on these
    test_x, test_y = test.images, test.labels
    patch = adversarial.adversarial_patch(model, train_x, 5, size=16, steps=20, lr=0.05)
    again = adversarial.adversarial_patch(model, train_x, 5, size=16, steps=20, lr=0.05)
    assert patch.shape == (3, 16, 16) and torch.equal(patch, again)
    assert patch.min() >= 0 and patch.max() <= 1
    tops, lefts = adversarial.patch_positions(test_x, 16, torch.Generator().manual_seed(1))
    noise = torch.rand(3, 16, 16, generator=torch.Generator().manual_seed(2))
    keep = test_y != 5
    rates = [
        (models.predict(model, adversarial.paste_patch(test_x, p, tops, lefts)).argmax(1) == 5)[
            keep
        ]
        .float()
        .mean()
        for p in (patch, noise)
    ]
    assert rates[0] > 0.5 and rates[0] > rates[1] + 0.3, rates


def dropout_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Dropout(0.5), nn.Linear(16, 3)).eval()


def test_adversarial_training_step_attacks_the_first_part_in_eval_mode_then_trains(batch):
    x, y = batch
    seen = []

    def spy(model, images, labels, eps):
        seen.append((model.training, images.clone(), labels.clone(), eps))
        return adversarial.fgsm(model, images, labels, eps=eps)

    model, by_hand = dropout_model(), dropout_model()
    for p in [*model.parameters(), *by_hand.parameters()]:
        p.grad = torch.ones_like(p)  # a stale gradient must not leak into the step
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    torch.manual_seed(1)
    loss = adversarial.adversarial_training_step(
        model, optimizer, x, y, attack=spy, eps=0.1, fraction=0.5
    )
    assert len(seen) == 1 and seen[0][0] is False and seen[0][3] == 0.1
    assert torch.equal(seen[0][1], x[:2]) and torch.equal(seen[0][2], y[:2])  # int(2.5) = 2
    assert model.training and type(loss) is float

    mixed = torch.cat([adversarial.fgsm(by_hand, x[:2], y[:2], eps=0.1), x[2:]])
    torch.manual_seed(1)  # the same dropout mask
    expected = F.cross_entropy(by_hand.train()(mixed), y)
    by_hand.zero_grad()
    expected.backward()
    torch.optim.SGD(by_hand.parameters(), lr=0.5).step()
    assert loss == pytest.approx(expected.item())
    for a, b in zip(model.parameters(), by_hand.parameters()):
        torch.testing.assert_close(a, b)


def test_adversarial_training_step_with_eps_0_is_a_plain_step(batch):
    x, y = batch
    model, plain = dropout_model(), dropout_model()
    torch.manual_seed(2)
    adversarial.adversarial_training_step(
        model, torch.optim.SGD(model.parameters(), lr=0.5), x, y, attack=adversarial.fgsm, eps=0.0
    )
    torch.manual_seed(2)
    F.cross_entropy(plain.train()(x), y).backward()
    torch.optim.SGD(plain.parameters(), lr=0.5).step()
    for a, b in zip(model.parameters(), plain.parameters()):
        torch.testing.assert_close(a, b)


def test_adversarial_training_step_explains_bad_input(batch):
    x, y = batch
    model = dropout_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    step = adversarial.adversarial_training_step
    with pytest.raises(ValueError, match="fraction"):
        step(model, optimizer, x, y, attack=adversarial.fgsm, eps=0.1, fraction=1.5)
    with pytest.raises(ValueError, match="5 class indices"):
        step(model, optimizer, x, y[:3], attack=adversarial.fgsm, eps=0.1)
    with pytest.raises(ValueError, match="eps"):
        step(model, optimizer, x, y, attack=adversarial.fgsm, eps=-0.1)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        step(model, optimizer, x * 3, y, attack=adversarial.fgsm, eps=0.1)


def test_fit_with_the_step_trains_exactly_like_perturb_with_half_fgsm():
    # Lesson 09 moved from perturb=half_fgsm to step=adversarial_training_step: same numbers.
    x, y = data.load_digits("test")
    x, y = x[:75], y[:75]  # batches of 32, 32 and 11: the odd last one rounds down

    def half_fgsm(model, inputs, labels):
        half = len(inputs) // 2
        attacked = adversarial.fgsm(model, inputs[:half], labels[:half], eps=0.2)
        return torch.cat([attacked, inputs[half:]])

    def step(model, optimizer, inputs, labels):
        return adversarial.adversarial_training_step(
            model, optimizer, inputs, labels, attack=adversarial.fgsm, eps=0.2
        )

    trained = []
    for how in [{"perturb": half_fgsm}, {"step": step}]:
        model = models.load_model("digits")
        torch.manual_seed(0)
        train.fit(model, x, y, epochs=2, batch_size=32, lr=1e-3, progress=False, **how)
        trained.append(model)
    for a, b in zip(trained[0].parameters(), trained[1].parameters()):
        torch.testing.assert_close(a, b, atol=0, rtol=0)
