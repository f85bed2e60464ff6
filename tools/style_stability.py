"""Lesson 10's style transfer, long runs at the explorer's settings: does the loss ever rise?

The lesson's explorer lets a student pick a photo, a painting, a style weight, a content
layer, a TV weight and up to 300 L-BFGS steps. This script runs such settings (64 pixels,
the lesson's instrument: random VGG for content, filter banks for style) and prints, for
each, the loss at a few steps and the largest ratio loss[t+1] / loss[t] (above 1: the loss
went up). It reports, it does not judge.

Usage:
    python tools/style_stability.py            # the explorer's extremes (about 10 runs)
    python tools/style_stability.py --all      # every value of every control, one at a time
    python tools/style_stability.py --steps 100 --size 96
"""

from __future__ import annotations

import argparse
import time

import torch

from course_utils import artwork, data, env, style

PHOTOS = ["chelsea", "astronaut", "coffee", "rocket"]
PAINTINGS = {"brush strokes": artwork.brush_strokes, "mosaic": artwork.mosaic}
WEIGHTS = [10 ** (k / 2) for k in range(4, 15)]  # the explorer's slider: 1e2 ... 1e7
LAYERS = ["relu1_2", "relu2_1", "relu3_1", "relu4_1"]
TV_WEIGHTS = [0.0, 0.02, 1.0, 3.0, 10.0]
DEFAULT = dict(photo="chelsea", painting="brush strokes", palette="starry", weight=1e5,
               layer="relu3_1", tv=0.02)  # fmt: skip


def settings(everything: bool) -> list[dict]:
    if everything:
        changes = [("photo", PHOTOS), ("weight", WEIGHTS), ("layer", LAYERS), ("tv", TV_WEIGHTS)]
        changes.append(("painting+palette", [(p, c) for p in PAINTINGS for c in artwork.PALETTES]))
    else:
        changes = [("weight", [1e2, 1e7]), ("layer", ["relu1_2", "relu4_1"]), ("tv", [0.0, 10.0]),
                   ("photo", ["astronaut"]), ("painting+palette", [("mosaic", "sea")])]  # fmt: skip
    runs = [dict(DEFAULT)]
    for key, values in changes:
        for value in values:
            run = dict(DEFAULT)
            if key == "painting+palette":
                run["painting"], run["palette"] = value
            else:
                run[key] = value
            if run not in runs:
                runs.append(run)
    return runs


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--all", action="store_true", help="every value of every control")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--size", type=int, default=64)
    args = parser.parse_args(argv)
    env.seed_everything(0)
    network = style.two_networks(style.random_vgg(), style.random_filter_banks())
    style_layers = [f"style.scale{k}" for k in range(4)]
    print(f"{args.steps} L-BFGS steps at {args.size} px; worst = max loss[t+1] / loss[t]")
    for run in settings(args.all):
        photo = data.load_photo(run["photo"], args.size)
        painting = PAINTINGS[run["painting"]](args.size, run["palette"])
        with torch.no_grad():
            features = style.extract(network, painting[None], style_layers)
            grams = [style.gram_matrix(f) for f in features]
        weights = [run["weight"] / float((g**2).sum()) for g in grams]
        start = time.perf_counter()
        _, losses = style.style_transfer(
            network, photo, painting, f"content.{run['layer']}", style_layers,
            style_weights=weights, tv_weight=run["tv"], steps=args.steps, progress=False,
        )  # fmt: skip
        worst = max(b / a for a, b in zip(losses, losses[1:]))
        label = ", ".join(
            f"{k} {v:g}" if isinstance(v, float) else f"{k} {v}" for k, v in run.items()
        )
        print(f"{label:<80} loss {losses[0]:9.3g} -> {losses[-1]:9.3g}  worst x{worst:.4f}  "
              f"({time.perf_counter() - start:.0f} s)", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
