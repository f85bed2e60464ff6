"""The course's offline data, and the small helpers that move images between formats.

Three sources, none of which needs the internet:

* **digits**: scikit-learn's 1,797 handwritten digits (8x8 pixels), enlarged to 28x28 like MNIST.
* **shapes**: procedurally drawn shapes with a ground-truth mask for every image
  (see :mod:`course_utils.shapes`; re-exported here).
* **photos**: real photographs that ship inside scikit-image and scikit-learn.

Image tensors in this course are float32, channels first, with values in [0, 1]:
``(C, H, W)`` for one image and ``(N, C, H, W)`` for a batch.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F

from .shapes import SHAPE_CLASSES, TEXTURES, ShapesData, load_shapes, make_shapes

__all__ = [
    "DIGIT_CLASSES",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "PHOTOS",
    "SHAPE_CLASSES",
    "TEXTURES",
    "ShapesData",
    "imagenet_denormalize",
    "imagenet_normalize",
    "load_digits",
    "load_photo",
    "load_shapes",
    "make_shapes",
    "to_image",
    "to_tensor",
]

DIGIT_CLASSES = tuple(str(d) for d in range(10))

# The statistics torchvision's ImageNet models were trained with (RGB order).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


# ---------------------------------------------------------------------------- digits
@lru_cache(maxsize=1)
def _digits_split() -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    from sklearn.datasets import load_digits as sklearn_digits
    from sklearn.model_selection import train_test_split

    bunch = sklearn_digits()
    images = torch.tensor(bunch.images / 16.0, dtype=torch.float32).unsqueeze(1)  # (N, 1, 8, 8)
    # Like MNIST: the digit fills a 20x20 box centred in a 28x28 frame (room to shift it).
    images = F.interpolate(images, size=(20, 20), mode="bilinear", align_corners=False)
    images = F.pad(images, (4, 4, 4, 4)).clamp(0.0, 1.0)
    labels = torch.tensor(bunch.target, dtype=torch.int64)
    index = np.arange(len(labels))
    # Stratified and seeded: every run of every lesson sees the same 450 test digits.
    train_idx, test_idx = train_test_split(
        index, test_size=0.25, random_state=0, stratify=bunch.target
    )
    train_idx, test_idx = torch.from_numpy(train_idx), torch.from_numpy(test_idx)
    return {
        "train": (images[train_idx], labels[train_idx]),
        "test": (images[test_idx], labels[test_idx]),
    }


def load_digits(split: str = "train") -> tuple[torch.Tensor, torch.Tensor]:
    """Handwritten digits, 28x28 grayscale, with a fixed train/test split.

    Args:
        split: ``"train"`` (1,347 images) or ``"test"`` (450 images).

    Returns:
        ``(images, labels)``: images of shape ``(N, 1, 28, 28)`` in [0, 1] and
        integer labels of shape ``(N,)`` with values 0-9.

    Example:
        >>> images, labels = load_digits("test")
        >>> images.shape, labels[:5]
        (torch.Size([450, 1, 28, 28]), tensor([...]))
    """
    splits = _digits_split()
    if split not in splits:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    images, labels = splits[split]
    # Copies, so that a lesson that edits its images cannot change what the next one loads.
    return images.clone(), labels.clone()


# ---------------------------------------------------------------------------- photos
def _skimage(name: str):
    def load() -> np.ndarray:
        import skimage.data

        return getattr(skimage.data, name)()

    return load


def _sklearn(filename: str):
    def load() -> np.ndarray:
        from sklearn.datasets import load_sample_image

        return load_sample_image(filename)

    return load


# Every one of these files ships inside the installed packages: nothing is downloaded.
_PHOTO_LOADERS = {
    "astronaut": _skimage("astronaut"),
    "chelsea": _skimage("chelsea"),  # a cat
    "coffee": _skimage("coffee"),
    "rocket": _skimage("rocket"),
    "hubble": _skimage("hubble_deep_field"),
    "camera": _skimage("camera"),  # grayscale
    "brick": _skimage("brick"),  # grayscale texture
    "grass": _skimage("grass"),  # grayscale texture
    "gravel": _skimage("gravel"),  # grayscale texture
    "china": _sklearn("china.jpg"),
    "flower": _sklearn("flower.jpg"),
}
PHOTOS = tuple(_PHOTO_LOADERS)


def load_photo(name: str, size: int | None = 224) -> torch.Tensor:
    """A real photograph bundled with scikit-image or scikit-learn.

    The photo is cropped to a centred square and resized to ``size`` x ``size``;
    grayscale photos are repeated into three channels so every photo has the same format.

    Args:
        name: one of :data:`PHOTOS` (e.g. ``"chelsea"``, the cat).
        size: side length in pixels of the returned square, or ``None`` to keep
            the original size and aspect ratio.

    Returns:
        RGB image tensor of shape ``(3, size, size)`` with values in [0, 1].

    Example:
        >>> cat = load_photo("chelsea", size=128)
        >>> cat.shape
        torch.Size([3, 128, 128])
    """
    if name not in _PHOTO_LOADERS:
        raise ValueError(f"unknown photo {name!r}. Available photos: {', '.join(PHOTOS)}")
    image = to_tensor(_PHOTO_LOADERS[name]())
    if image.shape[0] == 1:
        image = image.repeat(3, 1, 1)
    if size is None:
        return image
    if not isinstance(size, int) or size < 8:
        raise ValueError(f"size must be an integer of at least 8 pixels, got {size!r}")
    height, width = image.shape[1:]
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    square = image[:, top : top + side, left : left + side]
    resized = F.interpolate(
        square.unsqueeze(0), size=(size, size), mode="bilinear", antialias=True, align_corners=False
    )
    return resized.squeeze(0).clamp(0.0, 1.0)


# ---------------------------------------------------------------------------- tensor helpers
def to_tensor(image) -> torch.Tensor:
    """Convert an image array as matplotlib and scikit-image use it to a course tensor.

    Args:
        image: array of shape ``(H, W)`` or ``(H, W, C)``, either ``uint8`` in [0, 255]
            or float in [0, 1]. A fourth (alpha) channel is dropped.

    Returns:
        float32 tensor of shape ``(C, H, W)`` in [0, 1] (``C`` is 1 for grayscale).
    """
    array = np.asarray(image)
    if array.ndim not in (2, 3):
        raise ValueError(f"expected an image of shape (H, W) or (H, W, C), got shape {array.shape}")
    if array.ndim == 2:
        array = array[:, :, None]
    if array.shape[2] == 4:
        array = array[:, :, :3]
    if array.shape[2] not in (1, 3):
        raise ValueError(f"expected 1, 3 or 4 channels in the last axis, got shape {array.shape}")
    if array.dtype == np.uint8:
        array = array / 255.0
    elif array.dtype == bool:
        array = array.astype(np.float32)
    else:
        array = array.astype(np.float32)
        low, high = float(array.min()), float(array.max())
        if low < -1e-3 or high > 1 + 1e-3:
            raise ValueError(
                f"float images must have values in [0, 1], got [{low:.3g}, {high:.3g}]; "
                "divide uint8-style values by 255 first"
            )
    return torch.tensor(array, dtype=torch.float32).permute(2, 0, 1).contiguous()


def to_image(tensor: torch.Tensor) -> np.ndarray:
    """Convert a course tensor back to an array that ``plt.imshow`` can show.

    Args:
        tensor: image of shape ``(C, H, W)`` (or ``(1, C, H, W)``, a batch of one) with
            ``C`` 1 or 3 and values in [0, 1]. Values slightly outside are clipped.

    Returns:
        numpy array of shape ``(H, W)`` for grayscale or ``(H, W, 3)`` for colour.
    """
    if not isinstance(tensor, torch.Tensor):
        raise TypeError(f"expected a torch.Tensor, got {type(tensor).__name__}")
    t = tensor.detach().cpu()
    if t.ndim == 4 and t.shape[0] == 1:
        t = t[0]
    if t.ndim != 3 or t.shape[0] not in (1, 3):
        raise ValueError(
            f"expected an image of shape (C, H, W) with C = 1 or 3, got {tuple(tensor.shape)}"
        )
    array = t.float().clamp(0.0, 1.0).permute(1, 2, 0).numpy()
    return array[:, :, 0] if array.shape[2] == 1 else array


def _channel_stats(x: torch.Tensor, mean, std) -> tuple[torch.Tensor, torch.Tensor]:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"expected a torch.Tensor, got {type(x).__name__}")
    if x.ndim not in (3, 4) or x.shape[-3] != 3:
        raise ValueError(
            f"expected RGB images of shape (3, H, W) or (N, 3, H, W), got {tuple(x.shape)}"
        )
    view = (3, 1, 1)
    mean_t = torch.tensor(mean, dtype=x.dtype, device=x.device).view(view)
    std_t = torch.tensor(std, dtype=x.dtype, device=x.device).view(view)
    return mean_t, std_t


def imagenet_normalize(x: torch.Tensor) -> torch.Tensor:
    """Standardize RGB images in [0, 1] with the ImageNet channel statistics.

    This is the input format torchvision's pretrained models expect: for each channel,
    ``(x - mean) / std``.

    Args:
        x: images of shape ``(3, H, W)`` or ``(N, 3, H, W)`` with values in [0, 1].

    Returns:
        tensor of the same shape, roughly zero-mean and unit-variance per channel.
    """
    mean, std = _channel_stats(x, IMAGENET_MEAN, IMAGENET_STD)
    low, high = float(x.min()), float(x.max())
    if low < -1e-3 or high > 1 + 1e-3:
        raise ValueError(
            f"imagenet_normalize expects values in [0, 1], got [{low:.3g}, {high:.3g}]: "
            "is the input already normalized?"
        )
    return (x - mean) / std


def imagenet_denormalize(x: torch.Tensor) -> torch.Tensor:
    """Undo :func:`imagenet_normalize`: ``x * std + mean`` per channel.

    Args:
        x: normalized images of shape ``(3, H, W)`` or ``(N, 3, H, W)``.

    Returns:
        tensor of the same shape; values in [0, 1] for images that came from [0, 1]
        (clamp before display if the images were changed in between).
    """
    mean, std = _channel_stats(x, IMAGENET_MEAN, IMAGENET_STD)
    return x * std + mean
