"""A short smoke run of the training code (the full recipes run by hand, not in tests)."""

import pytest
import torch

from course_utils import models, train


@pytest.mark.parametrize("name", ["digits", "shapes"])
def test_training_smoke_run_writes_loadable_checksummed_weights(name, tmp_path):
    model, test_accuracy = train.train(name, epochs=1, limit=96, out_dir=tmp_path, progress=False)
    assert 0.0 <= test_accuracy <= 1.0
    assert (tmp_path / models.WEIGHT_FILES[name]).exists()
    loaded = models.load_model(name, data_dir=tmp_path)
    for a, b in zip(model.state_dict().values(), loaded.state_dict().values()):
        torch.testing.assert_close(a, b)


def test_training_is_reproducible_for_a_seed(tmp_path):
    a, _ = train.train("digits", epochs=1, limit=64, seed=3, out_dir=tmp_path / "a", progress=False)
    b, _ = train.train("digits", epochs=1, limit=64, seed=3, out_dir=tmp_path / "b", progress=False)
    c, _ = train.train("digits", epochs=1, limit=64, seed=4, out_dir=tmp_path / "c", progress=False)
    torch.testing.assert_close(a.fc2.weight, b.fc2.weight)
    assert not torch.allclose(a.fc2.weight, c.fc2.weight)


def test_random_shift_moves_content_without_wrapping():
    image = torch.zeros(1, 1, 8, 8)
    image[0, 0, 3, 3] = 1.0
    shifted = train.random_shift(image.repeat(50, 1, 1, 1), 2, torch.Generator().manual_seed(0))
    assert shifted.shape == (50, 1, 8, 8)
    positions = {tuple(p) for p in (shifted[:, 0] == 1).nonzero()[:, 1:].tolist()}
    assert len(positions) > 5 and all(1 <= r <= 5 and 1 <= c <= 5 for r, c in positions)
    assert torch.equal(train.random_shift(image, 0, torch.Generator()), image)


def test_unknown_model_name():
    with pytest.raises(ValueError, match="Trainable models: digits, shapes, shapes_patch"):
        train.train("cifar")


def test_fit_calls_a_custom_step_per_batch_in_train_mode_and_keeps_the_schedule():
    generator = torch.Generator().manual_seed(0)
    x, y = torch.rand(10, 1, 4, 4, generator=generator), torch.arange(10) % 3
    calls = []

    def step(model, optimizer, inputs, labels):
        calls.append(
            (model.training, inputs.shape, labels.tolist(), optimizer.param_groups[0]["lr"])
        )
        loss = torch.nn.functional.cross_entropy(model(inputs), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss.item()

    def model():
        torch.manual_seed(0)
        return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 3))

    custom, built_in = model(), model()
    train.fit(custom, x, y, epochs=2, batch_size=4, max_shift=1, step=step, progress=False)
    train.fit(built_in, x, y, epochs=2, batch_size=4, max_shift=1, progress=False)
    assert [c[1][0] for c in calls] == [4, 4, 2, 4, 4, 2] and all(c[0] for c in calls)
    assert sorted(sum((c[2] for c in calls[:3]), [])) == sorted(y.tolist())  # every image once
    learning_rates = [c[3] for c in calls]
    assert learning_rates[0] < max(learning_rates) > learning_rates[-1]  # one cycle, per batch
    assert not custom.training
    for a, b in zip(custom.parameters(), built_in.parameters()):
        torch.testing.assert_close(a, b)  # the same step as the built-in one: the same weights
