"""Tests of course_utils.grading, including attempts to cheat by patching library functions."""

import builtins
import math
import re
import sys

import numpy as np
import pytest
import torch

from course_utils import grading
from course_utils.grading import (
    TamperingError,
    assert_close,
    assert_float,
    assert_in_range,
    assert_shape,
    assert_tensor,
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


# --- values whose type could lie ------------------------------------------------------------


class LyingFloat(float):
    """Equal to, close to and smaller than anything."""

    def __sub__(self, other):
        return 0.0

    def __rsub__(self, other):
        return 0.0

    def __abs__(self):
        return 0.0

    def __lt__(self, other):
        return True

    def __gt__(self, other):
        return True

    def __eq__(self, other):
        return True

    __hash__ = float.__hash__


class LyingTensor(torch.Tensor):
    """Turns into the expected values by any route: ==, allclose, __array__, torch functions."""

    def __eq__(self, other):
        return True

    def allclose(self, *args, **kwargs):
        return True

    def __array__(self, dtype=None, copy=None):
        return np.ones(3)

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        return True  # torch.equal(lying, expected), torch.allclose(...)


class LyingArray(np.ndarray):
    def __eq__(self, other):
        return np.ones(self.shape, dtype=bool)


def test_lying_objects_fool_plain_python_comparisons():
    # What the tests below protect against: bare comparisons in a test cell accept these.
    lying = LyingFloat(0.1)
    assert abs(lying - 0.9) < 1e-9 and lying == 0.9
    zeros = torch.zeros(3).as_subclass(LyingTensor)
    assert zeros == torch.ones(3) and zeros.allclose(torch.ones(3))
    assert torch.equal(zeros, torch.ones(3)) and np.array_equal(np.asarray(zeros), np.ones(3))


def test_a_float_subclass_is_refused_everywhere():
    message = "accuracy(...) returned a LyingFloat, a subclass of float; return a plain float."
    lying = LyingFloat(0.1)
    for check in (
        lambda: assert_float(lying, name="accuracy(...)"),
        lambda: assert_close(lying, 0.9, name="accuracy(...)"),
        lambda: assert_close(lying, 0.1, name="accuracy(...)"),  # even when it tells the truth
        lambda: assert_in_range(lying, 0, 1, name="accuracy(...)"),
        lambda: assert_shape(lying, (), name="accuracy(...)"),
    ):
        with pytest.raises(TamperingError, match=re.escape(message)):
            check()


def test_a_tensor_subclass_is_refused_whatever_it_overrides():
    lying = torch.zeros(3).as_subclass(LyingTensor)
    message = "normalize(...) returned a LyingTensor, a subclass of torch.Tensor; return a plain"
    with pytest.raises(TamperingError, match=re.escape(message)):
        assert_close(lying, torch.ones(3), name="normalize(...)")
    with pytest.raises(TamperingError, match="LyingTensor"):
        assert_tensor(lying)
    with pytest.raises(TamperingError, match="LyingTensor"):
        assert_shape(lying, (3,))
    with pytest.raises(TamperingError, match="LyingTensor"):
        assert_float(torch.tensor(0.5).as_subclass(LyingTensor))

    class LyingParameter(torch.nn.Parameter):
        pass

    with pytest.raises(TamperingError, match="subclass of torch.Tensor"):
        assert_close(LyingParameter(torch.ones(3)), torch.ones(3))


def test_an_ndarray_subclass_and_lying_items_of_a_list_are_refused():
    with pytest.raises(TamperingError, match="a LyingArray, a subclass of numpy.ndarray"):
        assert_close(np.zeros(3).view(LyingArray), np.zeros(3))
    with pytest.raises(TamperingError, match="LyingFloat"):
        assert_close([0.5, LyingFloat(0.2)], [0.5, 0.2])
    with pytest.raises(TamperingError, match="LyingTensor"):
        assert_close([[torch.tensor(1.0).as_subclass(LyingTensor)]], [[1.0]])
    with pytest.raises(TamperingError, match="LyingFloat"):
        assert_close(np.array([LyingFloat(0.2)], dtype=object), [0.2])

    class LyingFloat64(np.float64):
        pass

    with pytest.raises(TamperingError, match="LyingFloat64, a subclass of float"):
        assert_float(LyingFloat64(0.5))


def test_objects_numpy_would_convert_are_refused():
    class Convertible:  # __array__ could look up the expected value in the caller's frame
        def __array__(self, dtype=None, copy=None):
            return np.ones(3)

    with pytest.raises(AssertionError, match="tensor, array or number, got Convertible"):
        assert_close(Convertible(), np.ones(3))


def test_a_tensors_own_attributes_cannot_replace_its_methods():
    tensor = torch.zeros(3)
    tensor.detach = lambda: torch.ones(3)  # tensors accept attributes like any object
    with pytest.raises(AssertionError, match="max abs error 1"):
        assert_close(tensor, torch.ones(3))


def test_plain_types_are_accepted():
    parameter = torch.nn.Parameter(torch.ones(2, 3))
    assert_tensor(parameter)
    assert_close(parameter, np.ones((2, 3)))
    assert_shape(parameter, (2, 3))
    assert_tensor(torch.zeros(2, dtype=torch.int64), dtype=torch.int64)
    assert_float(0.5)
    assert_float(np.float64(0.5))  # a float subclass, but NumPy's own
    assert_close(np.float64(0.5), 0.5)
    assert_close(np.float32(0.5), 0.5)
    assert_close(np.int64(3), 3)
    assert_close(True, 1)
    assert_close([True, False], np.array([1, 0]))
    assert_close(np.array([True, False]), [1, 0])
    assert_close((1, 2.0, np.int32(3)), torch.tensor([1, 2, 3]))
    assert_close([torch.tensor(1.0), np.float64(2.0)], [1.0, 2.0])
    assert_in_range(np.array([0.5], dtype=object), 0, 1)


def test_assert_tensor_says_how_to_convert():
    with pytest.raises(AssertionError) as info:
        assert_tensor(np.zeros((3, 4)), name="normalize(...)")
    assert str(info.value) == (
        "normalize(...) returned a numpy.ndarray, but a torch.Tensor is asked for: convert it "
        "with torch.as_tensor(...)."
    )
    assert not isinstance(info.value, TamperingError)
    with pytest.raises(
        AssertionError,
        match=re.escape(
            "returned a list, but a torch.Tensor is asked for: convert it with torch.tensor"
        ),
    ):
        assert_tensor([[1, 0], [0, 1]], name="confusion_matrix(...)")
    with pytest.raises(AssertionError, match="returned a tuple, but a torch.Tensor"):
        assert_tensor((1, 2))
    with pytest.raises(
        AssertionError, match=r"returned a float, but a torch.Tensor is asked for\.$"
    ):
        assert_tensor(0.5)
    with pytest.raises(AssertionError, match=re.escape("f(x) is None; did the function forget")):
        assert_tensor(None, name="f(x)")
    with pytest.raises(AssertionError, match="has dtype torch.float32, but torch.int64 is asked"):
        assert_tensor(torch.zeros(2), dtype=torch.int64)


def test_assert_float_says_what_to_change():
    def message(value):
        with pytest.raises(AssertionError) as info:
            assert_float(value, name="accuracy(...)")
        assert not isinstance(info.value, TamperingError)
        return str(info.value)

    assert message(torch.tensor(0.75)) == (
        "accuracy(...) returned a torch.Tensor with 0 dimensions; call .item() on it to get a "
        "float."
    )
    assert message(torch.nn.Parameter(torch.tensor(0.75))).endswith(
        "call .item() on it to get a float."
    )
    assert message(torch.zeros(3)) == (
        "accuracy(...) returned a torch.Tensor of shape (3,), but a single Python float is "
        "asked for."
    )
    assert (
        message(1)
        == "accuracy(...) returned an int (1), but it must be a float, e.g. `correct / total`."
    )
    assert message(True).startswith("accuracy(...) returned a bool (True), but it must be a float")
    assert message(np.float32(0.5)) == (
        "accuracy(...) returned a numpy.float32, but a Python float is asked for: use float(...)."
    )
    assert message(np.array(0.5)).startswith("accuracy(...) returned a numpy.ndarray, but")
    assert message([0.5]).startswith("accuracy(...) returned a list, but")
    assert message(None) == "accuracy(...) is None; did the function forget to `return` it?"


def test_the_type_checks_refuse_to_run_when_builtins_are_replaced(monkeypatch):
    monkeypatch.setattr(builtins, "any", always_true)
    with pytest.raises(TamperingError, match="builtins.any was replaced"):
        assert_float(0.5)
    with pytest.raises(TamperingError, match="builtins.any was replaced"):
        assert_tensor(torch.zeros(1))
    monkeypatch.undo()
    # Replacing builtins.type itself would break pytest: pretend it was replaced at import.
    for label in ("builtins.type", "builtins.issubclass"):
        monkeypatch.setitem(grading._ORIGINALS, label, object)
        with pytest.raises(TamperingError, match=f"{label} was replaced"):
            assert_close(0.5, 0.5)
        monkeypatch.undo()


def test_stderr_to_stdout_moves_progress_bars(capsys):
    from tqdm import tqdm

    with grading.stderr_to_stdout():
        for _ in tqdm(range(3), desc="batches"):
            pass
        print("a warning", file=sys.stderr)
    out, err = capsys.readouterr()
    assert err == ""
    assert "batches" in out and "a warning" in out
    print("after", file=sys.stderr)
    assert capsys.readouterr().err == "after\n", "stderr must be restored after the block"
