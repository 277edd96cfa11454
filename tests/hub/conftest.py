"""Really trained tiny runs (an unconditional and a conditional DCGAN on the embedded digits), one of them
scored, for the Hub folder tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from ganforge.cli import main

TINY = ["--steps", "4", "--batch-size", "16", "--width", "8", "--z-dim", "16", "--sample-every", "2",
        "--log-every", "1", "--threads", "1"]


def _train(folder: Path, *extra: str) -> Path:
    assert main(["train", "--no-progress", *TINY, *extra, "--run-dir", str(folder)]) == 0
    return folder


@pytest.fixture(scope="session")
def scored_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An unconditional run with one metrics.jsonl record (FD_digits, measured by a fixed random digit
    classifier instead of the trained one: the mechanics, in a second)."""
    from ganforge.metrics import digits as digits_module
    from ganforge.metrics import evaluate_run
    from ganforge.metrics.digits import DigitNet

    root = tmp_path_factory.mktemp("hub-runs")
    run = _train(root / "dcgan-digits")

    def untrained(*args: Any, **kwargs: Any) -> tuple[DigitNet, float]:
        torch.manual_seed(0)
        return DigitNet().eval().requires_grad_(False), 1.0

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(digits_module, "train_digit_classifier", untrained)
        evaluate_run(run, "fd_digits", num_samples=64, reference_samples=64, device="cpu",
                     cache_dir=root / "cache", append=True)
    return run


@pytest.fixture(scope="session")
def conditional_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _train(tmp_path_factory.mktemp("hub-runs") / "cdcgan-digits", "--conditional")
