"""Tiny toy2d studies for the tune tests, and their trials read back from the storage.

A trial here trains the vanilla MLP on toy2d:ring for 200 steps (about 2 s on one CPU thread); the PacGAN
scores are measured every 50 steps.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

RING = {"model": "mlp", "data": "toy2d:ring", "steps": 200, "eval_every": 50, "width": 32, "batch_size": 128,
        "z_dim": 4, "lr_g": 3e-3, "lr_d": 3e-3, "log_every": 50, "sample_every": 1000, "device": "cpu",
        "log": "csv"}


def study_document(**top: Any) -> dict[str, Any]:
    """A study file: 4 trials over lr_g (lr_d tied to it) on toy2d:ring, scored by modes captured."""
    settings = {**RING, **top.pop("settings", {})}
    return {"name": "ring", "out": "out", "objective": "modes", "n_trials": 4, "sampler": "random",
            "pruner": "none", "settings": settings,
            "search": {"lr_g": {"type": "float", "low": 1e-3, "high": 5e-3, "log": True, "also": ["lr_d"]}},
            **top}


def load_trials(url: str, study_name: str = "ring") -> list[Any]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    return optuna.load_study(study_name=study_name, storage=url).get_trials(deepcopy=False)


def sqlite_url(out: Path) -> str:
    return f"sqlite:///{(out / 'study.db').resolve()}"
