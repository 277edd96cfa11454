"""--lr-decay linear: the learning rates each update uses, and resume continuing the same schedule."""

from __future__ import annotations

import copy
import csv

import pytest
import torch

from ganforge.config_build import build_config
from ganforge.errors import GanforgeError
from ganforge.training.schedules import Schedules
from ganforge.training.update import Trainer


def test_linear_schedule_falls_to_zero_at_the_end(make_config) -> None:
    schedules = Schedules(make_config(lr_decay="linear", lr_g=1.0, lr_d=3e-4, steps=4))
    assert [schedules.values(step)["lr_g"] for step in range(4)] == [1.0, 0.75, 0.5, 0.25]
    assert "lr_g" not in Schedules(make_config(steps=4)).values(0)


@pytest.mark.parametrize(("lr", "steps", "batch"), [(4e-4, 8000, 64), (2e-4, 997, 48), (1e-3, 3, 5)])
def test_lr_decay_linear_gives_the_numbers_it_always_gave(make_config, lr, steps, batch) -> None:
    """The schedule mechanism's linear case, bit for bit the old `base * (1 - step / steps)`."""
    schedules = Schedules(make_config(lr_decay="linear", lr_g=lr, lr_d=lr, steps=steps, batch_size=batch))
    assert [schedules.values(step)["lr_d"] for step in range(steps)] == [lr * (1.0 - s / steps) for s in range(steps)]


def test_each_update_uses_the_scheduled_rates(image_dataset, make_config) -> None:
    config = make_config(lr_decay="linear", lr_g=4e-3, lr_d=8e-3, steps=4)
    trainer = Trainer(config, image_dataset, torch.device("cpu"))
    used: list[tuple[float, float]] = []
    step_g = trainer.opt_g.step

    def record(*args, **kwargs):
        used.append((trainer.opt_g.param_groups[0]["lr"], trainer.opt_d.param_groups[0]["lr"]))
        return step_g(*args, **kwargs)

    trainer.opt_g.step = record
    for _ in range(4):
        trainer.train_step()
    # flat lists: pytest 9.2 refuses pytest.approx over nested structures
    expected = [(4e-3 * f, 8e-3 * f) for f in (1.0, 0.75, 0.5, 0.25)]
    assert [rate for pair in used for rate in pair] == pytest.approx([rate for pair in expected for rate in pair])


def test_constant_rates_are_untouched(image_dataset, make_config) -> None:
    trainer = Trainer(make_config(lr_g=1e-3), image_dataset, torch.device("cpu"))
    for _ in range(3):
        trainer.train_step()
    assert trainer.opt_g.param_groups[0]["lr"] == 1e-3


def test_resumed_trainer_continues_the_schedule(image_dataset, make_config) -> None:
    config = make_config(lr_decay="linear", lr_g=2e-3, steps=6)
    first = Trainer(config, image_dataset, torch.device("cpu"))
    for _ in range(3):
        first.train_step()
    second = Trainer(config, image_dataset, torch.device("cpu"))
    second.load_state_dict(copy.deepcopy(first.state_dict()))  # as if read from disk
    first.train_step()
    second.train_step()
    assert second.opt_g.param_groups[0]["lr"] == first.opt_g.param_groups[0]["lr"] == pytest.approx(2e-3 * 0.5)
    for a, b in zip(first.generator.parameters(), second.generator.parameters(), strict=True):
        assert torch.equal(a, b)


def test_unknown_schedule_is_a_one_line_error() -> None:
    with pytest.raises(GanforgeError, match="lr_decay must be one of none, linear, got 'cosine'"):
        build_config({"lr_decay": "cosine"})


def test_history_logs_the_rate_each_step_used(tmp_path, tiny_data) -> None:
    from ganforge.cli import main

    run_dir = tmp_path / "decay"
    assert main(["train", "--steps", "4", "--run-dir", str(run_dir), "--width", "8", "--batch-size", "4",
                 "--z-dim", "8", "--log-every", "1", "--no-progress", "--device", "cpu", "--lr-g", "1e-3",
                 "--lr-decay", "linear"]) == 0
    with open(run_dir / "history.csv", newline="") as handle:
        rates = [float(row["lr"]) for row in csv.DictReader(handle)]
    assert rates == pytest.approx([1e-3, 7.5e-4, 5e-4, 2.5e-4])
    assert "lr_decay: linear" in (run_dir / "config.yaml").read_text()
