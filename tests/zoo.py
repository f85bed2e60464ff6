"""Small models, model-state checks and reference libraries shared by the test files.

``small_cnn`` builds the little random CNNs the unit tests explain, attack and dream with;
``hook_count``, ``state`` and ``assert_same_state`` check that a method left a model exactly
as it found it (modes, hooks, modules, weights and their ``.grad``); ``reference_library``
imports a test-only reference (torchattacks) or fails saying how to install it.
"""

from __future__ import annotations

import importlib
from types import ModuleType

import torch
from torch import nn
from torch.nn.modules import module as torch_module

HOOK_DICTS = ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks")
GLOBAL_HOOK_DICTS = tuple(f"_global{name}" for name in HOOK_DICTS)


def reference_library(name: str) -> ModuleType:
    """Import a test-only reference library, or fail (not skip) saying how to install it: a
    skipped cross-check would pass silently."""
    try:
        return importlib.import_module(name)
    except ImportError as error:
        raise ImportError(
            f"{name} is a test-only reference: install it with `make setup` or "
            "`python -m pip install --no-deps -r requirements-nodeps.txt`"
        ) from error


def small_cnn(
    in_channels: int = 3,
    widths: tuple[int, ...] = (6, 8),
    n_classes: int = 4,
    *,
    inplace: bool = False,
    dropout: bool = False,
    downsample: bool = False,
    seed: int = 0,
) -> nn.Sequential:
    """conv-ReLU blocks (3x3, same size), then global average pooling and a linear layer.

    Args:
        dropout: a Dropout(0.5) after the first block, so a forgotten ``eval()`` shows.
        downsample: a MaxPool2d(2) after the first block (after the dropout, if any).
        seed: seeds the weights; the layers are named "0", "1", ... in order.
    """
    torch.manual_seed(seed)
    layers: list[nn.Module] = []
    channels = in_channels
    for block, width in enumerate(widths):
        layers += [nn.Conv2d(channels, width, 3, padding=1), nn.ReLU(inplace=inplace)]
        if block == 0 and dropout:
            layers.append(nn.Dropout(0.5))
        if block == 0 and downsample:
            layers.append(nn.MaxPool2d(2))
        channels = width
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, n_classes)]
    return nn.Sequential(*layers)


def hook_count(model: nn.Module) -> int:
    """The number of hooks of every kind on ``model`` and its submodules."""
    return sum(len(getattr(m, kind)) for m in model.modules() for kind in HOOK_DICTS)


def state(model: nn.Module) -> dict:
    """Everything a method must leave as it found it, in a form that can be compared."""
    tensors = [*model.named_parameters(), *model.named_buffers()]
    return {
        "modules": list(model.named_modules()),
        "training": {name: m.training for name, m in model.named_modules()},
        "hooks": {
            f"{name or 'model'}.{kind}": len(getattr(m, kind))
            for name, m in model.named_modules()
            for kind in HOOK_DICTS
            if getattr(m, kind)
        },
        "global hooks": {kind: len(getattr(torch_module, kind)) for kind in GLOBAL_HOOK_DICTS},
        "requires_grad": {name: p.requires_grad for name, p in model.named_parameters()},
        "grad": {name: p.grad for name, p in model.named_parameters()},
        "grad values": {
            name: None if p.grad is None else p.grad.clone() for name, p in model.named_parameters()
        },
        "tensors": dict(tensors),
        "versions": {name: t._version for name, t in tensors},
    }


def assert_same_state(before: dict, after: dict) -> None:
    names = [name for name, _ in before["modules"]]
    assert names == [name for name, _ in after["modules"]], "the module tree changed"
    swapped = [n for (n, a), (_, b) in zip(before["modules"], after["modules"]) if a is not b]
    assert not swapped, f"modules replaced and not put back: {swapped}"
    changed = {n for n, mode in before["training"].items() if after["training"][n] != mode}
    assert not changed, f"train/eval mode changed for {sorted(changed)}"
    assert after["hooks"] == {}, f"hooks left on the model: {after['hooks']}"
    assert after["global hooks"] == before["global hooks"], "a global module hook was left"
    assert after["requires_grad"] == before["requires_grad"], "requires_grad flags changed"
    for name, grad in before["grad"].items():
        new = after["grad"][name]
        assert new is grad, f"{name}.grad was replaced (was {type(grad).__name__})"
        if grad is not None:
            assert torch.equal(new, before["grad values"][name]), f"{name}.grad was changed"
    for name, tensor in before["tensors"].items():
        assert after["tensors"][name] is tensor, f"{name} was replaced"
        assert after["versions"][name] == before["versions"][name], f"{name} modified in place"
