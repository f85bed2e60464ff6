"""course_utils.models: architectures, checksummed loading, predict, the ImageNet loader."""

import shutil

import pytest
import torch

from course_utils import env, hooks, models


@pytest.fixture
def data_copy(tmp_path):
    """A private copy of the shipped weights that a test may damage."""
    from course_utils import env

    for name in [*models.WEIGHT_FILES.values(), models.CHECKSUM_FILE]:
        shutil.copy(env.DATA_DIR / name, tmp_path / name)
    return tmp_path


@pytest.mark.parametrize(
    "name, shape, n_classes", [("digits", (2, 1, 28, 28), 10), ("shapes", (2, 3, 64, 64), 6)]
)
def test_load_model_gives_eval_model_with_named_relu_modules(name, shape, n_classes):
    model = models.load_model(name)
    assert not model.training
    assert model(torch.rand(shape)).shape == (2, n_classes)
    names = hooks.layer_names(model)
    assert "conv1" in names and "relu1" in names
    relus = [m for m in model.modules() if isinstance(m, torch.nn.ReLU)]
    assert len(relus) == len({id(m) for m in relus}) >= 3, "one ReLU module per place"
    assert all(not r.inplace for r in relus)


def test_weight_files_are_small():
    from course_utils import env

    for filename in models.WEIGHT_FILES.values():
        assert (env.DATA_DIR / filename).stat().st_size <= 2 * 1024 * 1024


def test_corrupted_weights_give_a_clear_error(data_copy):
    path = data_copy / models.WEIGHT_FILES["digits"]
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(
        models.WeightsError, match="corrupted or was changed.*course_utils.train digits"
    ):
        models.load_model("digits", data_dir=data_copy)


def test_missing_weights_and_missing_checksum(data_copy):
    (data_copy / models.WEIGHT_FILES["shapes"]).unlink()
    with pytest.raises(models.WeightsError, match="missing"):
        models.load_model("shapes", data_dir=data_copy)
    (data_copy / models.CHECKSUM_FILE).write_text("")
    with pytest.raises(models.WeightsError, match="no checksum"):
        models.load_model("digits", data_dir=data_copy)


def test_weights_of_the_wrong_architecture(data_copy):
    torch.save(models.ShapesCNN().state_dict(), data_copy / models.WEIGHT_FILES["digits"])
    models.write_checksum(models.WEIGHT_FILES["digits"], data_copy)
    with pytest.raises(models.WeightsError, match="does not fit DigitsCNN"):
        models.load_model("digits", data_dir=data_copy)


def test_unknown_model_name():
    with pytest.raises(ValueError, match="Available models: digits, shapes"):
        models.load_model("mnist")


@pytest.mark.parametrize(
    "bad, message",
    [
        (torch.rand(1, 28, 28), "unsqueeze"),
        (torch.rand(2, 3, 28, 28), r"\(N, 1, H, W\)"),
    ],
)
def test_models_explain_wrong_input_shapes(bad, message):
    with pytest.raises(ValueError, match=message):
        models.DigitsCNN()(bad)


def test_models_reject_non_tensors():
    with pytest.raises(TypeError, match="torch.Tensor"):
        models.ShapesCNN()([[0.0]])


def test_predict_batches_and_restores_mode():
    torch.manual_seed(0)
    model = models.DigitsCNN().train()
    x = torch.rand(10, 1, 28, 28)
    model.conv1.eval()  # a frozen part keeps its own mode
    scores = models.predict(model, x, batch_size=3)
    assert model.training, "predict must restore training mode"
    assert not model.conv1.training, "predict must restore each submodule's own mode"
    model.eval()
    with torch.no_grad():
        torch.testing.assert_close(scores, model(x))
    assert not scores.requires_grad


def test_checksum_file_round_trip(tmp_path):
    (tmp_path / "a.bin").write_bytes(b"abc")
    digest = models.write_checksum("a.bin", tmp_path)
    assert digest == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert models.read_checksums(tmp_path) == {"a.bin": digest}
    assert (tmp_path / "SHA256SUMS").read_text() == f"{digest}  a.bin\n"


def test_imagenet_loader_offline_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # an empty cache
    assert not models.imagenet_weights_available("resnet18")
    with pytest.raises(models.PretrainedWeightsUnavailable, match=r"load_model\('shapes'\)"):
        models.load_imagenet_model("resnet18")
    with pytest.raises(ValueError, match="unknown torchvision model"):
        models.load_imagenet_model("resnet9000")


def test_imagenet_loader_uses_cached_weights(tmp_path, monkeypatch):
    # Real loading code on a stand-in checkpoint: random weights saved where torch hub keeps them.
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    from torchvision.models import get_model

    path = env.cached_imagenet_weights("resnet18")
    path.parent.mkdir(parents=True)
    torch.manual_seed(0)
    reference = get_model("resnet18", weights=None)
    torch.save(reference.state_dict(), path)
    assert models.imagenet_weights_available("resnet18")
    model = models.load_imagenet_model("resnet18")
    assert not model.training and len(model.categories) == 1000
    torch.testing.assert_close(model.fc.weight, reference.fc.weight)


def test_imagenet_download_failure_is_explained(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))

    def no_network(*args, **kwargs):
        raise OSError("network unreachable")

    import torchvision.models._api as torchvision_api

    monkeypatch.setattr(torchvision_api, "load_state_dict_from_url", no_network)
    with pytest.raises(models.PretrainedWeightsUnavailable, match="download .* failed"):
        models.load_imagenet_model("resnet18", allow_download=True)
