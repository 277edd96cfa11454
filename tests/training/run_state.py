"""Bitwise comparison of training checkpoints, for the fault and chaos tests (not a test module)."""

from __future__ import annotations

from pathlib import Path

import torch


def state(path: Path) -> dict:
    return torch.load(path, weights_only=True)


def assert_same_state(a: dict, b: dict) -> None:
    """Bitwise: networks, optimizers, random streams, data position and the partial scalar window."""
    assert a["step"] == b["step"] and a["batches_drawn"] == b["batches_drawn"]
    for part in ("generator", "discriminator", "window"):
        flat_a, flat_b = _flatten(a[part]), _flatten(b[part])
        assert flat_a.keys() == flat_b.keys(), part
        for key, value in flat_a.items():
            assert _equal(value, flat_b[key]), f"{part}.{key}"
    for part in ("opt_g", "opt_d", "noise_rng", "aux_rng", "torch_rng"):
        flat_a, flat_b = _flatten(a[part]), _flatten(b[part])
        assert flat_a.keys() == flat_b.keys(), part
        assert all(_equal(v, flat_b[k]) for k, v in flat_a.items()), part


def _flatten(value: object, prefix: str = "") -> dict[str, object]:
    if isinstance(value, dict):
        out: dict[str, object] = {}
        for key, item in value.items():
            out.update(_flatten(item, f"{prefix}{key}."))
        return out
    if isinstance(value, (list, tuple)):
        out = {}
        for i, item in enumerate(value):
            out.update(_flatten(item, f"{prefix}{i}."))
        return out
    return {prefix: value}


def _equal(a: object, b: object) -> bool:
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b)
    return a == b
