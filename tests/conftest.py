"""Shared test set-up: a headless plotting backend, a fixed number of threads, and a
summary of the time each test file took (the test groups of the README)."""

import os
from collections import defaultdict

import matplotlib
import torch

matplotlib.use("Agg")
# Two threads match the target laptop and keep timings comparable between runs.
torch.set_num_threads(2)
# The notebook tests run one kernel per core; each kernel's setup cell calls env.set_threads(),
# which reads this. Two 2-thread kernels on 2 cores ran up to 5x slower than one.
os.environ.setdefault("COURSE_NUM_THREADS", "1")
# The same for the thread pools of NumPy, SciPy and scikit-learn (OpenBLAS, OpenMP), which
# kernels size when they start: their spinning threads slowed the other kernel 5x in CI.
for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(variable, "1")

_seconds_per_file: defaultdict[str, float] = defaultdict(float)


def pytest_runtest_logreport(report):
    _seconds_per_file[report.nodeid.split("::")[0]] += report.duration


def pytest_terminal_summary(terminalreporter):
    if not _seconds_per_file:
        return
    terminalreporter.section("time per test file")
    for path, seconds in sorted(_seconds_per_file.items(), key=lambda item: -item[1]):
        terminalreporter.write_line(f"{seconds:8.1f} s  {path}")
