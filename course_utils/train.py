"""Retrain the course's CNNs from scratch: ``python -m course_utils.train NAME``.

The shipped weights in ``data/`` were made with exactly this script and its defaults. It
prints the test accuracy and updates ``data/SHA256SUMS`` so :func:`load_model` accepts
the new file. Seeds are fixed; results may still differ in the last digits between
machines, because multithreaded CPU arithmetic is not bit-for-bit reproducible.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from . import env
from .data import load_digits, load_shapes
from .models import ARCHITECTURES, WEIGHT_FILES, load_model, predict, write_checksum
from .shapes import SHAPE_CLASSES, load_anywhere, load_pairs

# Settings that reach the README's accuracies on a 2-core laptop CPU.
RECIPES = {
    "digits": {"epochs": 30, "batch_size": 64, "lr": 2e-3, "max_shift": 3},
    "shapes": {"epochs": 30, "batch_size": 64, "lr": 3e-3, "max_shift": 4},
    # The patch always has the class's colour, so it alone predicts the label: the easy
    # shortcut the model takes instead of learning shapes. Few epochs suffice for that.
    "shapes_patch": {"epochs": 15, "batch_size": 64, "lr": 3e-3, "max_shift": 4, "patch": 1.0},
    # Each class has its own fill texture, so texture and shape both predict the label; the
    # cue-conflict images of lesson 09 then show which of the two the model relies on.
    "shapes_texture": {
        "epochs": 15,
        "batch_size": 64,
        "lr": 3e-3,
        "max_shift": 4,
        "textures": "class",
    },
    # One-object and two-object images of the "anywhere" world; a two-object image counts
    # half for each of its classes. From random weights this network stays at chance for
    # many epochs (small objects, random colours and textures, one average over 144
    # positions); starting from the shapes model, which already knows the shapes, it
    # reaches its accuracy in a few epochs.
    "shapes_anywhere": {
        "epochs": 12,
        "batch_size": 64,
        "lr": 1e-3,
        "max_shift": 4,
        "start_from": "shapes",
    },
    # Adebayo et al.'s data randomization test: the same network, from random weights,
    # trained until it has memorized shuffled labels of a few of the same images (no
    # augmentation, which would make memorizing harder). Its "test" split is that subset
    # with those labels: all it could learn. Memorizing takes long, so the subset is small.
    "shapes_shuffled": {
        "epochs": 300,
        "batch_size": 32,
        "lr": 2e-3,
        "max_shift": 0,
        "flips": False,
        "images": 200,
    },
}


def random_shift(images: torch.Tensor, max_shift: int, generator: torch.Generator) -> torch.Tensor:
    """Translate each image by up to ``max_shift`` pixels (zero padding), for augmentation."""
    if max_shift == 0:
        return images
    n, _, h, w = images.shape
    padded = F.pad(images, [max_shift] * 4)
    shifts = torch.randint(0, 2 * max_shift + 1, (n, 2), generator=generator)
    return torch.stack(
        [padded[i, :, dy : dy + h, dx : dx + w] for i, (dy, dx) in enumerate(shifts.tolist())]
    )


def load_split(name: str, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The images and labels a model is trained (``split="train"``) or tested on.

    Labels are class indices ``(N,)``, except for the training split of ``shapes_anywhere``:
    class probabilities ``(N, 6)``, half and half for an image with two objects.
    """
    if name == "digits":
        return load_digits(split)
    if name == "shapes_anywhere":
        single = load_anywhere(split)
        if split == "test":  # accuracy is measured on one-object images
            return single.images, single.labels
        pairs = load_pairs(split)
        targets = F.one_hot(single.labels, len(SHAPE_CLASSES)).float()
        pair_targets = F.one_hot(pairs.labels, len(SHAPE_CLASSES)).float().mean(dim=1)
        return torch.cat([single.images, pairs.images]), torch.cat([targets, pair_targets])
    if name == "shapes_shuffled":
        single = load_anywhere("train")
        n = RECIPES[name]["images"]
        shuffled = torch.randperm(n, generator=torch.Generator().manual_seed(7))
        return single.images[:n], single.labels[:n][shuffled]
    recipe = RECIPES[name]
    data = load_shapes(split, textures=recipe.get("textures", "random"), patch=recipe.get("patch"))
    return data.images, data.labels


def _accuracy(model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor) -> float:
    return (predict(model, images).argmax(dim=1) == labels).float().mean().item()


def fit(
    model: torch.nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    epochs: int,
    batch_size: int = 64,
    lr: float = 3e-3,
    max_shift: int = 0,
    flips: bool = False,
    seed: int = 0,
    progress: bool = True,
    desc: str = "training",
    perturb: Callable | None = None,
    step: Callable | None = None,
) -> torch.nn.Module:
    """Train ``model`` in place with AdamW, a one-cycle schedule and optional augmentation.

    Args:
        model: any classifier returning ``(N, n_classes)`` scores.
        images: ``(N, C, H, W)``; labels: ``(N,)`` class indices.
        epochs, batch_size, lr: the usual; ``lr`` is the peak of the one-cycle schedule.
        max_shift: random translation of up to this many pixels (0: none).
        flips: also flip half of each batch left-right.
        seed: seeds the batch order and the augmentation (not the initial weights).
        perturb: ``perturb(model, inputs, labels) -> inputs``, applied to every batch after
            augmentation, with the model in eval mode: e.g. an attack, for adversarial
            training.
        step: ``step(model, optimizer, inputs, labels) -> loss`` (a float), called for every
            batch, with the model in train mode, instead of the built-in step (cross-entropy,
            ``zero_grad``, ``backward``, ``optimizer.step()``); it must make one optimizer
            step. Batch order, augmentation and the one-cycle schedule stay as they are:
            e.g. :func:`course_utils.adversarial.adversarial_training_step`.

    Returns:
        ``model``, trained and in eval mode.

    Example:
        >>> fit(DigitsCNN(n_classes=2), images, labels, epochs=10, max_shift=3)
    """
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    steps_per_epoch = -(-len(images) // batch_size)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=lr, total_steps=max(1, epochs * steps_per_epoch)
    )
    bar = tqdm(range(epochs), desc=desc, disable=not progress)
    for _ in bar:
        model.train()
        order = torch.randperm(len(images), generator=generator)
        for start in range(0, len(order), batch_size):
            batch = order[start : start + batch_size]
            inputs = random_shift(images[batch], max_shift, generator)
            if flips:
                flip = torch.rand(len(batch), generator=generator) < 0.5
                inputs = torch.where(flip[:, None, None, None], inputs.flip(-1), inputs)
            if perturb is not None:  # attacks see the model as it is used: in eval mode
                inputs = perturb(model.eval(), inputs, labels[batch])
                model.train()
            if step is not None:
                loss = step(model.train(), optimizer, inputs, labels[batch])
            else:
                loss = F.cross_entropy(model(inputs), labels[batch])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
            scheduler.step()
        bar.set_postfix(loss=f"{torch.as_tensor(loss).item():.3f}")
    return model.eval()


def train(
    name: str,
    epochs: int | None = None,
    limit: int | None = None,
    seed: int = 0,
    out_dir: Path | None = None,
    progress: bool = True,
) -> tuple[torch.nn.Module, float]:
    """Train model ``name`` and save its weights to ``out_dir`` (default ``data/``).

    Args:
        name: ``one of :data:`RECIPES` (``"digits"``, ``"shapes"``, ...).
        epochs: passes over the training set; default from :data:`RECIPES`.
        limit: use only the first ``limit`` training and test images (for quick smoke runs).
        seed: seeds the initial weights, the batch order and the augmentation.
        out_dir: where to write the weights and update ``SHA256SUMS``.
        progress: show a tqdm progress bar.

    Returns:
        ``(model, test_accuracy)``.
    """
    if name not in RECIPES:
        raise ValueError(f"unknown model {name!r}. Trainable models: {', '.join(RECIPES)}")
    recipe = RECIPES[name]
    epochs = recipe["epochs"] if epochs is None else epochs
    env.seed_everything(seed)
    train_x, train_y = load_split(name, "train")
    test_x, test_y = load_split(name, "test")
    if limit is not None:
        train_x, train_y, test_x, test_y = (
            train_x[:limit],
            train_y[:limit],
            test_x[:limit],
            test_y[:limit],
        )

    model = ARCHITECTURES[name]()
    if "start_from" in recipe:
        # the shipped weights of that model (retrain it first if you changed its recipe)
        model.load_state_dict(load_model(recipe["start_from"]).state_dict())
    fit(
        model,
        train_x,
        train_y,
        epochs=epochs,
        batch_size=recipe["batch_size"],
        lr=recipe["lr"],
        max_shift=recipe["max_shift"],
        flips=recipe.get("flips", name.startswith("shapes")),  # shapes have no orientation
        seed=seed,
        progress=progress,
        desc=f"training {name}",
    )

    model.eval()
    test_accuracy = _accuracy(model, test_x, test_y)
    out_dir = Path(out_dir or env.DATA_DIR)
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), out_dir / WEIGHT_FILES[name])
    write_checksum(WEIGHT_FILES[name], out_dir)
    return model, test_accuracy


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name", choices=sorted(RECIPES))
    parser.add_argument("--epochs", type=int, default=None, help="default: the shipped recipe")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--out-dir", type=Path, default=None, help="default: the repository's data/"
    )
    args = parser.parse_args(argv)
    start = time.perf_counter()
    _, test_accuracy = train(args.name, epochs=args.epochs, seed=args.seed, out_dir=args.out_dir)
    out = args.out_dir or env.DATA_DIR
    print(
        f"{args.name}: test accuracy {test_accuracy:.2%} "
        f"({time.perf_counter() - start:.0f} s); weights saved to {out / WEIGHT_FILES[args.name]}"
    )


if __name__ == "__main__":
    main()
