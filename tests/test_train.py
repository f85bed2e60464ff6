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
