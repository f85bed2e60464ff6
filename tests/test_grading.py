"""Tests of course_utils.grading, including attempts to cheat by patching library functions."""

import builtins
import math
import re

import numpy as np
import pytest
import torch

from course_utils import grading
from course_utils.grading import (
    TamperingError,
    assert_close,
    assert_in_range,
    assert_shape,
    check_untampered,
)


def always_true(*args, **kwargs):
    return True


def test_assert_close_accepts_equal_values_in_any_container():
    x = torch.rand(2, 3, dtype=torch.float64)
    assert_close(x, x.numpy().copy())
    assert_close(x.tolist(), x)
    assert_close(x + 1e-7, x)  # inside atol
    assert_close(3, 3.0)
    assert_close(torch.tensor(1000.0), 1000.009, atol=0, rtol=1e-5)  # inside rtol
    assert_close(x.requires_grad_(True) * 1, x.detach())  # tensors that require grad are fine


def test_assert_close_reports_max_error_and_its_index():
    expected = torch.zeros(1, 3, 8, 8)
    actual = expected.clone()
    actual[0, 2, 5, 7] = 0.31
    actual[0, 0, 0, 0] = 0.1
    with pytest.raises(AssertionError) as info:
        assert_close(actual, expected, name="saliency")
    message = str(info.value)
    assert not isinstance(info.value, TamperingError)
    assert message.startswith("saliency differs from the expected values")
    assert "max abs error 0.31 at index (0, 2, 5, 7)" in message
    assert "2 of 192 values differ" in message
    with pytest.raises(AssertionError, match="max abs error 0.001"):
        assert_close(1.001, 1.0, atol=1e-4, rtol=0)


def test_assert_close_checks_shape_first():
    message = "result has shape (3, 28, 28) but (1, 28, 28) was expected."
    with pytest.raises(AssertionError, match=re.escape(message)):
        assert_close(torch.zeros(3, 28, 28), np.zeros((1, 28, 28)))
    with pytest.raises(AssertionError, match="shape"):
        assert_close(torch.zeros(4), torch.zeros(4, 1))  # would broadcast


def test_assert_close_nan_and_none_and_junk():
    nan = float("nan")
    with pytest.raises(AssertionError, match=r"value nan at index \(1,\)"):
        assert_close([1.0, nan], [1.0, 2.0])
    with pytest.raises(AssertionError, match="nan was expected"):
        assert_close([1.0, 2.0], [1.0, nan])
    assert_close([1.0, nan], np.array([1.0, nan]))  # NaN where NaN is expected is fine
    with pytest.raises(AssertionError, match="None.*return"):
        assert_close(None, 1.0)
    with pytest.raises(AssertionError, match="tensor, array or number"):
        assert_close("0.5", 0.5)
    with pytest.raises(AssertionError, match="max abs error inf"):
        assert_close([float("inf")], [0.0])
    assert_close([float("inf")], [float("inf")])


def test_assert_shape_and_assert_in_range():
    assert_shape(torch.zeros(2, 10), (2, 10))
    assert_shape(np.zeros((5, 10)), (None, 10))
    assert_shape([[1, 2, 3]], [1, 3])
    with pytest.raises(AssertionError, match=re.escape("logits has shape (2, 10) but (?, 5) was")):
        assert_shape(torch.zeros(2, 10), (None, 5), name="logits")
    with pytest.raises(AssertionError, match=re.escape("has shape (10,) but (1, 10) was")):
        assert_shape(torch.zeros(10), (1, 10))
    with pytest.raises(AssertionError, match="None"):
        assert_shape(None, (1,))

    assert_in_range(torch.tensor([0.0, 0.5, 1.0]), 0, 1)
    with pytest.raises(AssertionError, match=r"value -0.2 at index \(0, 1\) \(1 of 4"):
        assert_in_range([[0.5, -0.2], [0.1, 0.3]], 0, 1, name="image")
    with pytest.raises(AssertionError, match="nan"):
        assert_in_range([0.5, float("nan")], 0, 1)


@pytest.mark.parametrize(
    ("owner", "attr", "label"),
    [
        (np, "allclose", "numpy.allclose"),
        (np, "isclose", "numpy.isclose"),
        (np.testing, "assert_allclose", "numpy.testing.assert_allclose"),
        (torch, "allclose", "torch.allclose"),
        (torch, "equal", "torch.equal"),
        (torch.testing, "assert_close", "torch.testing.assert_close"),
        (math, "isclose", "math.isclose"),
    ],
)
def test_patching_a_library_function_is_detected(monkeypatch, owner, attr, label):
    check_untampered()
    monkeypatch.setattr(owner, attr, always_true)
    with pytest.raises(TamperingError, match=re.escape(f"{label} was replaced")):
        check_untampered()
    with pytest.raises(TamperingError):
        assert_close(torch.zeros(3), torch.ones(3))  # wrong answer
    with pytest.raises(TamperingError):
        assert_close(torch.ones(3), torch.ones(3))  # even a right one is not trusted
    with pytest.raises(TamperingError):
        assert_shape(torch.ones(3), (3,))
    monkeypatch.undo()
    check_untampered()
    assert_close(torch.ones(3), torch.ones(3))


def test_patching_builtins_is_detected_and_all_names_listed(monkeypatch):
    original_abs, original_len = builtins.abs, builtins.len
    monkeypatch.setattr(builtins, "abs", lambda x: original_abs(x))  # still works for pytest
    monkeypatch.setattr(builtins, "len", lambda x: original_len(x))
    monkeypatch.setattr(np, "allclose", always_true)
    with pytest.raises(TamperingError) as info:
        check_untampered()
    message = str(info.value)
    for label in ("builtins.abs", "builtins.len", "numpy.allclose"):
        assert f"{label} was replaced" in message
    assert isinstance(info.value, AssertionError)


def test_comparison_uses_the_captured_functions(monkeypatch):
    # Even if the tampering check itself were skipped, later patches cannot make a
    # wrong answer pass, because the comparison uses the functions captured at import.
    monkeypatch.setattr(grading, "check_untampered", lambda: None)
    monkeypatch.setattr(np, "isclose", lambda a, b, **kwargs: np.ones(np.shape(a), dtype=bool))
    monkeypatch.setattr(np, "allclose", always_true)
    monkeypatch.setattr(np, "isnan", lambda a: np.zeros(np.shape(a), dtype=bool))
    with pytest.raises(AssertionError, match="max abs error 1"):
        assert_close(torch.zeros(3), torch.ones(3))
    with pytest.raises(AssertionError, match=r"value nan at index \(0,\) but 1 was expected"):
        assert_close([float("nan")], [1.0])


def test_forbid_blocks_a_reference_function_and_restores_it():
    import types

    module = types.ModuleType("reference")
    module.solve = lambda x: x + 1

    def delegating_answer(x):
        return module.solve(x)

    with pytest.raises(
        AssertionError, match="write the code yourself, not to call reference.solve"
    ):
        with grading.forbid(module, "solve"):
            delegating_answer(1)
    assert module.solve(1) == 2, "the reference must be restored after the block"
