"""Shared test set-up: a headless plotting backend and a quiet, fixed number of threads."""

import matplotlib
import torch

matplotlib.use("Agg")
# Two threads match the target laptop and keep timings comparable between runs.
torch.set_num_threads(2)
