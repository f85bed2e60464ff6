"""Checks used by the notebooks' visible and hidden tests, with friendly messages.

Student code runs in the same process as the tests: ``np.allclose = lambda *a, **k: True``
would make every comparison pass. So this module keeps the functions it finds at import,
compares with those, and refuses to grade once one was replaced (:class:`TamperingError`).
For the same reason it only accepts the exact types it knows: a subclass of ``float`` or
``torch.Tensor`` could redefine ``==``, ``<`` or ``abs`` to agree with anything.

Example:
    >>> assert_shape(out, (1, 10))
    >>> assert_close(out, expected, atol=1e-5)
    >>> assert_float(accuracy(model, images, labels), name="accuracy(...)")
"""

import builtins
import math
import sys
from contextlib import contextmanager, redirect_stderr

import numpy as np
import torch


class TamperingError(AssertionError):
    """A library function that grading relies on was replaced, or a value's type could lie."""


# Every function whose replacement could fool a check, captured at import time.
_OWNERS = {"numpy": np, "numpy.testing": np.testing, "torch": torch,
           "torch.testing": torch.testing, "builtins": builtins, "math": math}  # fmt: skip
_WATCHED = """numpy.allclose numpy.isclose numpy.array_equal numpy.testing.assert_allclose
    numpy.asarray numpy.abs numpy.isnan numpy.all numpy.isfinite torch.allclose torch.equal
    torch.testing.assert_close builtins.abs builtins.isinstance builtins.len builtins.float
    builtins.round builtins.any builtins.type builtins.issubclass math.isclose""".split()


def _current(label: str):  # "numpy.testing.assert_allclose" -> the object it names now
    owner, attr = label.rsplit(".", 1)
    return getattr(_OWNERS[owner], attr)


_ORIGINALS = {label: _current(label) for label in _WATCHED}
_isclose, _asarray, _abs, _isnan = np.isclose, np.asarray, np.abs, np.isnan


def check_untampered() -> None:
    """Raise :class:`TamperingError` if a watched library function was replaced."""
    replaced = [label for label in _WATCHED if _current(label) is not _ORIGINALS[label]]
    if replaced:
        raise TamperingError(
            "; ".join(f"{label} was replaced" for label in replaced) + "; grading cannot be "
            "trusted. Remove the code that reassigns it and restart the kernel."
        )


# The types a value may have; the numbers in lists, tuples and object arrays are checked too.
_NUMPY_SCALARS = [t for t in set(np.sctypeDict.values()) if issubclass(t, np.number | np.bool_)]
_PLAIN = [bool, int, float, list, tuple, np.ndarray, torch.Tensor, torch.nn.Parameter]
_PLAIN += _NUMPY_SCALARS
# Subclasses of these are refused with TamperingError: each could override what we call.
_BASES = {"float": float, "int": int, "list": list, "tuple": tuple, "numpy.ndarray": np.ndarray,
          "NumPy number": np.number, "torch.Tensor": torch.Tensor}  # fmt: skip


def _label(cls: type) -> str:  # "float", "numpy.ndarray", "torch.Tensor", "LyingFloat"
    module = cls.__module__
    return f"{module}.{cls.__name__}" if module in ("numpy", "torch") else cls.__name__


def _a(label: str) -> str:
    return ("an " if label[0].lower() in "aeiou" else "a ") + label


def _none(name: str) -> AssertionError:
    return AssertionError(f"{name} is None; did the function forget to `return` it?")


def _check_type(x, name: str) -> None:
    """Raise TamperingError if ``x`` (or a number inside it) has a subclass of a plain type."""
    cls = type(x)
    if any(cls is plain for plain in _PLAIN):
        if cls is list or cls is tuple or (cls is np.ndarray and x.dtype == object):
            for item in x.ravel() if cls is np.ndarray else x:
                _check_type(item, name)
        return
    for label, base in _BASES.items():
        if issubclass(cls, base):
            raise TamperingError(
                f"{name} returned {_a(cls.__name__)}, a subclass of {label}; "
                f"return a plain {label}."
            )


def _is_tensor(x) -> bool:  # exactly a tensor: a subclass could redefine every method
    return type(x) is torch.Tensor or type(x) is torch.nn.Parameter


def _to_array(x, name: str) -> np.ndarray:
    if x is None:
        raise _none(name)
    _check_type(x, name)
    if _is_tensor(x):
        # torch.Tensor.detach, not x.detach: a tensor's own attributes can replace its methods.
        x = torch.Tensor.detach(x).cpu().double()
    if any(type(x) is plain for plain in _PLAIN):  # not str, bytes, dict, ...
        try:
            return _asarray(x, dtype=np.float64)
        except (TypeError, ValueError):
            pass
    raise AssertionError(f"{name} should be a tensor, array or number, got {type(x).__name__}.")


def assert_tensor(x, name: str = "result", *, dtype=None) -> None:
    """Check that ``x`` is a ``torch.Tensor`` (or ``nn.Parameter``), optionally of ``dtype``.

    Example:
        >>> assert_tensor(normalize(image, mean, std), name="normalize(...)")
    """
    check_untampered()
    if x is None:
        raise _none(name)
    _check_type(x, name)
    if not _is_tensor(x):
        how = {np.ndarray: "torch.as_tensor(...)", list: "torch.tensor(...)",
               tuple: "torch.tensor(...)"}.get(type(x))  # fmt: skip
        raise AssertionError(
            f"{name} returned {_a(_label(type(x)))}, but a torch.Tensor is asked for"
            + (f": convert it with {how}." if how else ".")
        )
    if dtype is not None and x.dtype != dtype:
        raise AssertionError(f"{name} has dtype {x.dtype}, but {dtype} is asked for.")


def assert_float(x, name: str = "result") -> None:
    """Check that ``x`` is a Python ``float`` (``numpy.float64`` is one too).

    Example:
        >>> assert_float(accuracy(model, images, labels), name="accuracy(...)")
    """
    check_untampered()
    if x is None:
        raise _none(name)
    _check_type(x, name)
    cls = type(x)
    if cls is float or cls is np.float64:
        return
    got = f"{name} returned {_a(_label(cls))}"
    if _is_tensor(x) and x.ndim == 0:
        raise AssertionError(f"{got} with 0 dimensions; call .item() on it to get a float.")
    if _is_tensor(x):
        got += f" of shape {tuple(x.shape)}"
    elif cls is int or cls is bool:
        raise AssertionError(f"{got} ({x}), but it must be a float, e.g. `correct / total`.")
    elif any(cls is t for t in _NUMPY_SCALARS):
        raise AssertionError(f"{got}, but a Python float is asked for: use float(...).")
    raise AssertionError(f"{got}, but a single Python float is asked for.")


def _first(mask: np.ndarray) -> tuple[int, tuple]:
    """Flat position and index of the first True (or largest) entry, e.g. (0, 2, 5, 7)."""
    pos = int(mask.ravel().argmax())
    return pos, tuple(int(i) for i in np.unravel_index(pos, mask.shape))


def assert_shape(x, shape, name: str = "result") -> None:
    """Check the shape of ``x`` (tensor, array, list); ``None`` in ``shape`` matches any size."""
    check_untampered()
    actual, shape = tuple(_to_array(x, name).shape), tuple(shape)
    same_ndim = len(actual) == len(shape)
    if not same_ndim or any(s not in (None, a) for s, a in zip(shape, actual, strict=True)):
        wanted = "(" + ", ".join("?" if s is None else str(s) for s in shape) + ")"
        raise AssertionError(f"{name} has shape {actual} but {wanted} was expected.")


def assert_in_range(x, low: float, high: float, name: str = "result") -> None:
    """Check that every value of ``x`` lies in ``[low, high]`` (NaN never does)."""
    check_untampered()
    a = _to_array(x, name)
    bad = ~((a >= low) & (a <= high))  # written this way so that NaN counts as bad
    if bad.any():
        pos, index = _first(bad)
        raise AssertionError(
            f"{name} should lie in [{low}, {high}] but has the value {a.ravel()[pos]:.4g} "
            f"at index {index} ({int(bad.sum())} of {a.size} values are outside)."
        )


def assert_close(actual, expected, *, atol=1e-6, rtol=1e-5, name: str = "result") -> None:
    """Check that ``actual`` matches ``expected`` within ``atol + rtol * |expected|``.

    ``actual`` and ``expected`` may be tensors, arrays, numbers or nested lists. NaN only
    matches NaN. Raises AssertionError saying the wrong shape or the largest error and where.
    """
    check_untampered()
    a, e = _to_array(actual, name), _to_array(expected, "expected")
    if a.shape != e.shape:
        raise AssertionError(f"{name} has shape {a.shape} but {e.shape} was expected.")
    nan_mismatch = _isnan(a) != _isnan(e)
    if nan_mismatch.any():
        pos, index = _first(nan_mismatch)
        raise AssertionError(
            f"{name} has the value {a.ravel()[pos]:.4g} at index {index} "
            f"but {e.ravel()[pos]:.4g} was expected there."
        )
    close = _isclose(a, e, rtol=rtol, atol=atol, equal_nan=True)
    if not close.all():
        with np.errstate(invalid="ignore"):  # inf - inf where both are inf (and close)
            err = np.where(close, 0.0, _abs(a - e))
        pos, index = _first(err)
        raise AssertionError(
            f"{name} differs from the expected values: max abs error {err.ravel()[pos]:.3g} "
            f"at index {index} (got {a.ravel()[pos]:.4g}, expected "
            f"{e.ravel()[pos]:.4g}; {int((~close).sum())} of {a.size} values differ)."
        )


@contextmanager
def stderr_to_stdout():
    """Show what the block writes to stderr (a tqdm progress bar, a warning) on stdout instead.

    nbgrader gives no points to a test cell that writes anything to stderr, so test cells
    call the student's functions inside this block, e.g.
    ``with stderr_to_stdout(): result = accuracy(model, images, labels)``.
    """
    with redirect_stderr(sys.stdout):
        yield


@contextmanager
def forbid(module, *names: str):
    """Make ``module.name`` raise inside the block: an exercise must be solved, not delegated.

    Hidden tests use it when ``course_utils`` holds the reference solution of an exercise,
    e.g. ``with forbid(course_utils.embeddings, "pca"): result = pca(X, 2)``.
    """
    saved = {name: getattr(module, name) for name in names}

    def blocked(name):
        def call(*args, **kwargs):
            raise AssertionError(
                f"this exercise asks you to write the code yourself, not to call "
                f"{module.__name__}.{name}."
            )

        return call

    try:
        for name in names:
            setattr(module, name, blocked(name))
        yield
    finally:
        for name, value in saved.items():
            setattr(module, name, value)
