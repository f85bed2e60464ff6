"""Tests of course_utils.env."""

import importlib
import os
import random
import sys
import types

import numpy as np
import pytest
import torch

from course_utils import env


@pytest.fixture
def reload_env(monkeypatch):
    """Reload env after the test changed its inputs, and again afterwards to undo it."""
    yield lambda: importlib.reload(env)
    monkeypatch.undo()
    importlib.reload(env)


def test_get_device_cpu_and_auto():
    assert env.get_device("cpu") == torch.device("cpu")
    assert env.get_device("CPU") == torch.device("cpu")
    assert env.get_device().type in {"cuda", "mps", "cpu"}


def test_get_device_auto_falls_back_to_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(env, "_mps_available", lambda: False)
    assert env.get_device("auto") == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert env.get_device("auto") == torch.device("cuda")


def test_get_device_errors(monkeypatch):
    with pytest.raises(ValueError, match="'tpu'.*auto, cpu, cuda, mps"):
        env.get_device("tpu")
    with pytest.raises(ValueError, match="expected one of"):
        env.get_device(0)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(RuntimeError, match="'cuda'.*not available"):
        env.get_device("cuda")


def test_seed_everything_repeats_all_generators():
    def draws():
        return random.random(), np.random.rand(3), torch.rand(3), torch.randn(2, 2)

    assert env.seed_everything(123) is None
    first = draws()
    env.seed_everything(123)
    second = draws()
    assert first[0] == second[0]
    np.testing.assert_array_equal(first[1], second[1])
    assert torch.equal(first[2], second[2]) and torch.equal(first[3], second[3])
    env.seed_everything(124)
    assert not torch.equal(torch.rand(3), first[2])


def test_paths_and_data_dir_override(monkeypatch, tmp_path, reload_env):
    assert (env.REPO_ROOT / "course_utils" / "env.py").is_file()
    monkeypatch.delenv("COURSE_DATA_DIR", raising=False)
    assert reload_env().DATA_DIR == env.REPO_ROOT / "data"
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    assert reload_env().DATA_DIR == tmp_path


def test_is_colab_follows_sys_modules(monkeypatch, reload_env):
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    assert reload_env().IS_COLAB is False
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    assert reload_env().IS_COLAB is True


def test_describe_and_print_environment(capsys):
    info = env.describe_environment()
    for key in ("python", "torch", "torchvision", "device", "is_colab", "num_threads"):
        assert key in info
    assert info["torch"] == torch.__version__
    assert info["num_threads"] == torch.get_num_threads()
    assert info["imagenet_weights"] in (True, False, None)
    env.print_environment()
    out = capsys.readouterr().out
    for key in info:
        assert key in out


def test_set_threads_reads_the_environment_variable(monkeypatch):
    before = torch.get_num_threads()
    try:
        monkeypatch.setenv("COURSE_NUM_THREADS", "1")
        assert env.set_threads() == 1 and torch.get_num_threads() == 1
        monkeypatch.delenv("COURSE_NUM_THREADS")
        # Half the cores, 1 to 4 (the figures behind this are in set_threads' docstring).
        for cores, threads in [(1, 1), (2, 1), (4, 2), (6, 3), (16, 4), (None, 1)]:
            monkeypatch.setattr(os, "cpu_count", lambda cores=cores: cores)
            assert env.set_threads() == threads, f"{cores} cores"
        assert env.set_threads(2) == 2 and torch.get_num_threads() == 2
        with pytest.raises(ValueError, match="at least 1"):
            env.set_threads(0)
    finally:
        torch.set_num_threads(before)
