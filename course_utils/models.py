"""The course's small CNNs, their shipped weights, and an optional ImageNet model.

Both course models are written out layer by layer, with one ``nn.ReLU`` module per place
it is used, so that every layer has a plain name (``conv1``, ``relu1``, ...) for hooks,
and every visualization method (guided backprop swaps ReLU modules) works on them.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch
from torch import nn

from . import env

# File names in data/, and the architecture each one belongs to.
WEIGHT_FILES = {
    "digits": "digits_cnn.pt",
    "shapes": "shapes_cnn.pt",
    # Trained on shapes whose corner patch always has its class's colour: a biased model
    # that lesson 04 catches looking at the patch instead of the shape.
    "shapes_patch": "shapes_patch_cnn.pt",
    "shapes_texture": "shapes_texture_cnn.pt",
    # Objects of any size anywhere on a 96 px canvas, some images with two objects: the
    # model whose explanations lessons 04, 06 and 07 score against the objects' masks.
    "shapes_anywhere": "shapes_anywhere_cnn.pt",
    # The same network trained on the same kind of images with *shuffled* labels, so all it
    # could learn is to memorize: the data randomization test of lesson 07.
    "shapes_shuffled": "shapes_shuffled_cnn.pt",
}
CHECKSUM_FILE = "SHA256SUMS"


class DigitsCNN(nn.Module):
    """A LeNet-style network for 28x28 grayscale digits.

    Layers: ``conv1 relu1 pool1 conv2 relu2 pool2 flatten fc1 relu3 dropout fc2``.
    Input ``(N, 1, 28, 28)`` in [0, 1]; output ``(N, 10)`` class scores (logits).
    """

    def __init__(self, n_classes: int = 10):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, kernel_size=5, padding=2)  # 28x28
        self.relu1 = nn.ReLU()
        self.pool1 = nn.MaxPool2d(2)  # 14x14
        self.conv2 = nn.Conv2d(16, 32, kernel_size=5, padding=2)
        self.relu2 = nn.ReLU()
        self.pool2 = nn.MaxPool2d(2)  # 7x7
        self.flatten = nn.Flatten()
        self.fc1 = nn.Linear(32 * 7 * 7, 64)
        self.relu3 = nn.ReLU()
        self.dropout = nn.Dropout(0.3)
        self.fc2 = nn.Linear(64, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(x, channels=1, name="DigitsCNN")
        x = self.pool1(self.relu1(self.conv1(x)))
        x = self.pool2(self.relu2(self.conv2(x)))
        x = self.relu3(self.fc1(self.flatten(x)))
        return self.fc2(self.dropout(x))


class ShapesCNN(nn.Module):
    """Four convolution blocks and global average pooling, for 64x64 RGB shapes.

    Layers: ``conv1 relu1 pool1 conv2 relu2 pool2 conv3 relu3 pool3 conv4 relu4 gap flatten fc``.
    ``conv4``/``relu4`` is the last convolutional layer (8x8 positions), the usual choice
    for Grad-CAM. Input ``(N, 3, H, W)`` in [0, 1]; output ``(N, 6)`` class scores (logits).
    """

    def __init__(self, n_classes: int = 6, width: int = 16):
        super().__init__()
        w = width
        self.conv1 = nn.Conv2d(3, w, kernel_size=3, padding=1)  # 64x64
        self.relu1 = nn.ReLU()
        self.pool1 = nn.MaxPool2d(2)  # 32x32
        self.conv2 = nn.Conv2d(w, 2 * w, kernel_size=3, padding=1)
        self.relu2 = nn.ReLU()
        self.pool2 = nn.MaxPool2d(2)  # 16x16
        self.conv3 = nn.Conv2d(2 * w, 4 * w, kernel_size=3, padding=1)
        self.relu3 = nn.ReLU()
        self.pool3 = nn.MaxPool2d(2)  # 8x8
        self.conv4 = nn.Conv2d(4 * w, 4 * w, kernel_size=3, padding=1)
        self.relu4 = nn.ReLU()
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(4 * w, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(x, channels=3, name="ShapesCNN")
        x = self.pool1(self.relu1(self.conv1(x)))
        x = self.pool2(self.relu2(self.conv2(x)))
        x = self.pool3(self.relu3(self.conv3(x)))
        x = self.relu4(self.conv4(x))
        return self.fc(self.flatten(self.gap(x)))


ARCHITECTURES = {
    "digits": DigitsCNN,
    "shapes": ShapesCNN,
    "shapes_patch": ShapesCNN,
    "shapes_texture": ShapesCNN,
    "shapes_anywhere": ShapesCNN,
    "shapes_shuffled": ShapesCNN,
}


def _check_input(x, channels: int, name: str) -> None:
    # A clear message here beats torch's "expected input[1, 28, 28] to have 1 channels" trace.
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} expects a torch.Tensor, got {type(x).__name__}")
    if x.ndim != 4 or x.shape[1] != channels:
        hint = " (add a batch dimension with x.unsqueeze(0))" if x.ndim == 3 else ""
        raise ValueError(
            f"{name} expects a batch of shape (N, {channels}, H, W), got {tuple(x.shape)}{hint}"
        )


def sha256(path: Path) -> str:
    """Hex SHA-256 digest of a file."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def read_checksums(data_dir: Path | None = None) -> dict[str, str]:
    """``{file name: sha256}`` from ``data/SHA256SUMS`` (the format of ``sha256sum``)."""
    path = Path(data_dir or env.DATA_DIR) / CHECKSUM_FILE
    if not path.exists():
        return {}
    pairs = (line.split() for line in path.read_text().splitlines() if line.strip())
    return {name.lstrip("*"): digest for digest, name in pairs}


def write_checksum(filename: str, data_dir: Path | None = None) -> str:
    """Record the current SHA-256 of ``data/filename`` in ``data/SHA256SUMS``."""
    data_dir = Path(data_dir or env.DATA_DIR)
    sums = read_checksums(data_dir)
    sums[filename] = sha256(data_dir / filename)
    lines = [f"{digest}  {name}\n" for name, digest in sorted(sums.items())]
    (data_dir / CHECKSUM_FILE).write_text("".join(lines))
    return sums[filename]


class WeightsError(RuntimeError):
    """Raised when shipped weights are missing, corrupted or do not fit the model."""


def load_model(name: str, data_dir: Path | None = None) -> nn.Module:
    """Load one of the course's trained CNNs, checking the file's SHA-256 first.

    Args:
        name: ``"digits"`` (:class:`DigitsCNN`), ``"shapes"`` (:class:`ShapesCNN`) or
            ``"shapes_patch"`` (a :class:`ShapesCNN` trained on images with a class-coloured
            corner patch, see :func:`course_utils.shapes.make_shapes`) or ``"shapes_texture"``
            (trained on shapes filled with their class's own texture), ``"shapes_anywhere"``
            (objects of any size anywhere on 96 px images, see
            :func:`course_utils.shapes.load_anywhere`) or ``"shapes_shuffled"`` (the same
            images with shuffled labels: a model that could only memorize).
        data_dir: folder with the weight files; defaults to the repository's ``data/``.

    Returns:
        the model on the CPU, in eval mode.

    Example:
        >>> model = load_model("digits")
        >>> model(torch.zeros(1, 1, 28, 28)).shape
        torch.Size([1, 10])
    """
    if name not in ARCHITECTURES:
        raise ValueError(f"unknown model {name!r}. Available models: {', '.join(ARCHITECTURES)}")
    data_dir = Path(data_dir or env.DATA_DIR)
    path = data_dir / WEIGHT_FILES[name]
    retrain = f"python -m course_utils.train {name}"
    if not path.exists():
        raise WeightsError(
            f"weights file {path} is missing. Restore it from git or run `{retrain}`."
        )
    expected = read_checksums(data_dir).get(path.name)
    if expected is None:
        raise WeightsError(f"{data_dir / CHECKSUM_FILE} has no checksum for {path.name}.")
    actual = sha256(path)
    if actual != expected:
        raise WeightsError(
            f"{path} is corrupted or was changed: its SHA-256 is {actual[:12]}..., "
            f"but {CHECKSUM_FILE} expects {expected[:12]}.... "
            f"Restore it with `git checkout -- {path.name}` (in data/) or retrain with `{retrain}`."
        )
    model = ARCHITECTURES[name]()
    state = torch.load(path, map_location="cpu", weights_only=True)
    try:
        model.load_state_dict(state)
    except RuntimeError as error:
        raise WeightsError(f"{path} does not fit {type(model).__name__}: {error}") from None
    return model.eval()


@torch.no_grad()
def predict(model: nn.Module, images: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """Class scores for many images, in batches, in eval mode, without gradients.

    Args:
        model: a classifier.
        images: ``(N, C, H, W)`` input batch.
        batch_size: images per forward pass (bounds the memory used).

    Returns:
        ``(N, n_classes)`` logits on the CPU. The train/eval mode of every submodule is
        restored as it was.
    """
    modes = {module: module.training for module in model.modules()}  # each its own
    model.eval()
    try:
        device = next(model.parameters()).device
        outputs = [
            model(images[i : i + batch_size].to(device)).cpu()
            for i in range(0, len(images), batch_size)
        ]
    finally:
        for module, mode in modes.items():
            module.training = mode
    return torch.cat(outputs)


# ---------------------------------------------------------------------------- ImageNet
class PretrainedWeightsUnavailable(RuntimeError):
    """Raised when pretrained ImageNet weights are neither cached nor downloadable."""


def _imagenet_weights(name: str):
    from torchvision.models import get_model_weights

    env.cached_imagenet_weights(name)  # checks the name
    return get_model_weights(name).DEFAULT


imagenet_weights_available = env.imagenet_weights_available


def load_imagenet_model(name: str = "resnet18", allow_download: bool | None = None) -> nn.Module:
    """A torchvision model with pretrained ImageNet weights, if they can be had.

    Args:
        name: a torchvision model name, e.g. ``"resnet18"`` or ``"vgg16"``.
        allow_download: fetch missing weights from the internet. ``None`` (default) allows it
            only in Google Colab; the offline default never downloads.

    Returns:
        the model in eval mode. Its inputs are :func:`course_utils.data.imagenet_normalize`-d
        RGB images; ``model.categories`` lists the 1,000 class names.

    Raises:
        PretrainedWeightsUnavailable: weights not cached and downloading not allowed or
            failed. The message names the offline alternative.
    """
    from torchvision.models import get_model

    weights = _imagenet_weights(name)
    path = env.cached_imagenet_weights(name)
    if allow_download is None:
        allow_download = env.IS_COLAB
    if path.exists():
        model = get_model(name, weights=None)
        model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    elif allow_download:
        try:
            model = get_model(name, weights=weights)
        except Exception as error:  # any network failure ends in the same advice
            raise PretrainedWeightsUnavailable(
                f"the download of the ImageNet weights of {name} failed "
                f"({type(error).__name__}: {error}). "
                "Use the offline course model instead: load_model('shapes')."
            ) from None
    else:
        raise PretrainedWeightsUnavailable(
            f"the pretrained ImageNet weights of {name} are not in the torch hub cache ({path}) "
            "and downloading is off (the offline default; Colab downloads them). Use the "
            "course's own model, load_model('shapes'), or pass allow_download=True where "
            "there is internet."
        )
    model.categories = list(weights.meta["categories"])
    return model.eval()


def imagenet_model_or_none(name: str = "resnet18") -> nn.Module | None:
    """:func:`load_imagenet_model`, or None after printing one sentence that says what failed.

    The notebooks' optional ImageNet sections start with it, so that a machine without the
    weights (the offline default), or a download that fails, skips the section with a reason.
    """
    try:
        return load_imagenet_model(name)
    except PretrainedWeightsUnavailable as error:
        print(f"Skipping this section: {error}")
        return None
