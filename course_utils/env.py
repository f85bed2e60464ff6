"""Where the course runs: paths, the compute device, seeding and a short environment report.

Example:
    >>> from course_utils.env import get_device, seed_everything
    >>> seed_everything(0)
    >>> device = get_device()          # cuda, then mps, then cpu
"""

import os
import platform
import random
import sys
from importlib import resources
from pathlib import Path

import numpy as np
import torch

# Also loads torch._dynamo, which wraps some torch functions (torch.manual_seed) when it is first
# imported. Imported here, in the setup cell, that happens before the grader notes what the
# functions are; a later first import (an optimizer, the ImageNet loader) would look like a
# replaced torch.manual_seed.
import torchvision

IS_COLAB: bool = "google.colab" in sys.modules

# The repository is the folder that contains the course_utils package.
REPO_ROOT: Path = Path(__file__).resolve().parent.parent


def _find_data_dir() -> Path:
    """COURSE_DATA_DIR if set; else data/ of the repository; else the weights installed with
    the package (a student edition, or pip install on Colab, puts them in course_utils/weights)."""
    if os.environ.get("COURSE_DATA_DIR"):
        return Path(os.environ["COURSE_DATA_DIR"]).expanduser()
    if (REPO_ROOT / "data" / "SHA256SUMS").is_file():
        return REPO_ROOT / "data"
    return Path(str(resources.files("course_utils") / "weights"))


DATA_DIR: Path = _find_data_dir()

_DEVICE_NAMES = ("auto", "cpu", "cuda", "mps")


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return mps is not None and mps.is_available()


def get_device(prefer: str = "auto") -> torch.device:
    """Pick the device to compute on.

    Args:
        prefer: ``"auto"`` picks cuda, then mps (Apple GPUs), then cpu.
            ``"cpu"``, ``"cuda"`` or ``"mps"`` force that device.

    Returns:
        A ``torch.device``.

    Raises:
        ValueError: ``prefer`` is not one of ``"auto"``, ``"cpu"``, ``"cuda"``, ``"mps"``.
        RuntimeError: the forced device is not available on this machine.

    Example:
        >>> get_device("cpu")
        device(type='cpu')
    """
    if not isinstance(prefer, str) or prefer.lower() not in _DEVICE_NAMES:
        raise ValueError(f"Unknown device {prefer!r}; expected one of {', '.join(_DEVICE_NAMES)}.")
    prefer = prefer.lower()
    available = {"cuda": torch.cuda.is_available(), "mps": _mps_available(), "cpu": True}
    if prefer == "auto":
        name = next(name for name in ("cuda", "mps", "cpu") if available[name])
        return torch.device(name)
    if not available[prefer]:
        raise RuntimeError(
            f"Device {prefer!r} was requested but is not available on this machine. "
            "Use get_device('auto') to fall back to what is available."
        )
    return torch.device(prefer)


def set_threads(n: int | None = None) -> int:
    """Choose how many CPU threads PyTorch uses, and return that number.

    Args:
        n: the number of threads. By default the ``COURSE_NUM_THREADS`` environment variable,
            else half the CPU cores, at least 1 and at most 4. Measured on a 2-core machine
            (``tools/benchmark_lessons.py --threads 1 2 [--busy 1]``): on an idle machine a
            second thread saved at most a fifth of a lesson's time (lesson 08: 45 s -> 37 s;
            lesson 04: 36 s either way), but next to one busy process (another notebook,
            a browser) two threads made lesson 08 more than six times slower (42 s -> over
            270 s), because they wait on each other. One thread per two cores keeps the
            gain and avoids the trap.
    """
    if n is None:
        n = int(os.environ.get("COURSE_NUM_THREADS") or max(1, min(4, (os.cpu_count() or 2) // 2)))
    if n < 1:
        raise ValueError(f"the number of threads must be at least 1, got {n}")
    torch.set_num_threads(n)
    return n


def seed_everything(seed: int = 0) -> None:
    """Seed Python's ``random``, NumPy and PyTorch (CPU and all GPUs) so runs repeat.

    Args:
        seed: Any non-negative integer.

    Example:
        >>> seed_everything(0); a = torch.rand(3)
        >>> seed_everything(0); b = torch.rand(3)
        >>> torch.equal(a, b)
        True
    """
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device


def cached_imagenet_weights(name: str = "resnet18") -> Path:
    """Where torchvision keeps the pretrained ImageNet weights of model ``name``."""
    from torchvision.models import get_model_weights, list_models

    if name not in list_models():
        raise ValueError(f"unknown torchvision model {name!r}; e.g. resnet18, vgg16, alexnet")
    url = get_model_weights(name).DEFAULT.url
    return Path(torch.hub.get_dir()) / "checkpoints" / Path(url).name


def imagenet_weights_available(name: str = "resnet18") -> bool:
    """True when torchvision's pretrained weights for ``name`` are in the local torch hub cache."""
    return cached_imagenet_weights(name).exists()


def describe_environment() -> dict:
    """Collect the facts that matter when something behaves differently on another machine.

    Returns:
        A dict with keys ``python``, ``platform``, ``torch``, ``torchvision``, ``numpy``,
        ``device``, ``is_colab``, ``num_threads``, ``data_dir`` and ``imagenet_weights``
        (True/False, or None when it could not be checked).
    """
    try:
        imagenet = imagenet_weights_available()
    except Exception:  # an unusual torch hub setup must not break this report
        imagenet = None
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "numpy": np.__version__,
        "device": str(get_device()),
        "is_colab": IS_COLAB,
        "num_threads": torch.get_num_threads(),
        "data_dir": str(DATA_DIR),
        "imagenet_weights": imagenet,
    }


def print_environment() -> None:
    """Print :func:`describe_environment` as an aligned table."""
    info = describe_environment()
    width = max(len(key) for key in info)
    for key, value in info.items():
        if key == "imagenet_weights":
            value = {True: "cached", False: "not cached", None: "unknown"}[value]
        print(f"{key:<{width}} : {value}")
