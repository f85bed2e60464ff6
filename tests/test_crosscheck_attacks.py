"""FGSM and PGD agree with torchattacks (a test-only reference, see requirements-nodeps.txt).

PGD is compared without its random start, since the two draw different noise. Inputs are
images in [0, 1], the range both implementations clamp to.
"""

import pytest
import torch
from torch import nn
from zoo import reference_library

from course_utils import adversarial, data, models

torchattacks = reference_library("torchattacks")


def random_classifier(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(1, 6, 5),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(6, 10, 3),
        nn.Tanh(),
        nn.Flatten(),
        nn.LazyLinear(32),
        nn.ReLU(),
        nn.Linear(32, 10),
    )


def cases():
    generator = torch.Generator().manual_seed(0)
    for seed in (0, 1):
        model = random_classifier(seed)
        x = torch.rand(6, 1, 16, 16, generator=generator)
        model(x)  # materialize the lazy layer
        yield f"random-{seed}", model.eval(), x, torch.randint(0, 10, (6,), generator=generator)
    images, labels = data.load_digits("test")
    yield "digits", models.load_model("digits"), images[:32], labels[:32]


CASES = list(cases())
IDS = [case[0] for case in CASES]


@pytest.mark.parametrize("case", CASES, ids=IDS)
@pytest.mark.parametrize("eps", [0.03, 0.2])
def test_fgsm_equals_torchattacks(case, eps):
    _, model, x, y = case
    theirs = torchattacks.FGSM(model, eps=eps)(x, y)
    torch.testing.assert_close(adversarial.fgsm(model, x, y, eps=eps), theirs, atol=1e-6, rtol=0)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_targeted_fgsm_equals_torchattacks(case):
    _, model, x, y = case
    target = (y + 3) % 10
    attack = torchattacks.FGSM(model, eps=0.1)
    attack.set_mode_targeted_by_label(quiet=True)
    ours = adversarial.fgsm(model, x, target, eps=0.1, targeted=True)
    torch.testing.assert_close(ours, attack(x, target), atol=1e-6, rtol=0)


@pytest.mark.parametrize("case", CASES, ids=IDS)
@pytest.mark.parametrize("targeted", [False, True])
def test_pgd_without_random_start_equals_torchattacks(case, targeted):
    _, model, x, y = case
    labels = (y + 3) % 10 if targeted else y
    attack = torchattacks.PGD(model, eps=0.1, alpha=0.02, steps=7, random_start=False)
    if targeted:
        attack.set_mode_targeted_by_label(quiet=True)
    ours = adversarial.pgd(
        model, x, labels, eps=0.1, alpha=0.02, steps=7, random_start=False, targeted=targeted
    )
    torch.testing.assert_close(ours, attack(x, labels), atol=1e-6, rtol=0)


def test_pgd_with_random_start_respects_eps_and_range_like_torchattacks():
    _, model, x, y = CASES[-1]
    ours = adversarial.pgd(model, x, y, eps=0.1, alpha=0.02, steps=5, seed=3)
    theirs = torchattacks.PGD(model, eps=0.1, alpha=0.02, steps=5)(x, y)
    for adv in (ours, theirs):
        assert (adv - x).abs().max() <= 0.1 + 1e-6
        assert adv.min() >= 0 and adv.max() <= 1
    # Different noise, same strength: both fool the model on most of these images.
    for adv in (ours, theirs):
        assert (model(adv).argmax(dim=1) != y).float().mean() > 0.5
