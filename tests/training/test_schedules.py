"""Hyperparameter schedules: the curves, every key reaching what it drives, one-line errors for bad specs,
and resume after SIGKILL bitwise equal to an uninterrupted run."""

from __future__ import annotations

import csv
import math
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from run_state import assert_same_state, state

from ganforge.cli import main
from ganforge.config_build import build_config
from ganforge.errors import GanforgeError
from ganforge.training.ema import ema_beta
from ganforge.training.schedules import Schedule
from ganforge.training.update import Trainer

HERE = Path(__file__).parent


def test_the_three_kinds_and_the_warm_up() -> None:
    cosine = Schedule("cosine", 2e-4, 5e-5)
    assert cosine.value(0, 1000) == 2e-4 and cosine.value(1000, 1000) == pytest.approx(5e-5)
    assert cosine.value(500, 1000) == pytest.approx((2e-4 + 5e-5) / 2)
    assert cosine.value(250, 1000) == pytest.approx(5e-5 + 1.5e-4 * 0.5 * (1 + math.cos(math.pi / 4)))
    assert cosine.value(5000, 1000) == pytest.approx(5e-5)  # holds END after the span
    assert Schedule("linear", 0.0, 0.55).value(400, 1000) == pytest.approx(0.22)
    assert Schedule("constant", 0.3, 0.3).value(123, 1000) == 0.3
    warm = Schedule("cosine", 1.0, 0.0, warmup_kimg=0.1)  # 100 images of warm-up, then 900 of decay
    assert [warm.value(i, 1000) for i in (0, 50, 100)] == pytest.approx([0.0, 0.5, 1.0])
    assert warm.value(550, 1000) == pytest.approx(0.5) and warm.value(1000, 1000) == pytest.approx(0.0)


def test_flags_and_yaml_give_the_same_canonical_config(tmp_path) -> None:
    text = "lr_g=cosine:2e-4:5e-5,r1=cosine:0.05:0.005:1,beta2=linear:0.9:0.99, augment_p=0.2"
    from_flag = build_config({"schedule": text, "augment": "ada", "schedule_kimg": 20})
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"schedule": {"lr_g": "cosine:2e-4:5e-5", "r1": "cosine:0.05:0.005:1",
                                                 "beta2": "linear:0.9:0.99", "augment_p": 0.2},
                                    "augment": "ada", "schedule_kimg": 20}))
    from ganforge.config_build import read_yaml_config

    assert build_config(read_yaml_config(path)) == from_flag
    assert from_flag.schedule == {"lr_g": "cosine:0.0002:5e-05", "r1": "cosine:0.05:0.005:1.0",
                                  "beta2": "linear:0.9:0.99", "augment_p": "constant:0.2"}
    assert build_config({"schedule": from_flag.schedule, "augment": "ada"}).schedule == from_flag.schedule


@pytest.mark.parametrize(("spec", "message"), [
    ("lr_gg=cosine:1e-4:1e-5", "cannot schedule 'lr_gg' (did you mean 'lr_g'?)"),
    ("lr_g=cosin:1e-4:1e-5", "unknown kind 'cosin' (did you mean 'cosine'?)"),
    ("lr_g=cosine:fast:1e-5", "START 'fast' is not a number"),
    ("lr_g=cosine:-1e-4:1e-5", "-0.0001 is out of range for lr_g"),
    ("beta2=linear:0.9:1.0", "1 is out of range for beta2"),
    ("r1=linear:1:nan", "END must be a finite number"),
    ("lr_g=cosine:1e-4", "write cosine:START:END[:WARMUP_KIMG]"),
    ("lr_g=cosine:1e-4:1e-5:-2", "WARMUP_KIMG must be >= 0"),
    ("lr_g", "needs KEY=SPEC"),
    ("lr_g=linear:1e-4:0,lr_g=linear:1e-4:0", "names lr_g twice"),
])
def test_bad_specs_are_one_line_errors(spec: str, message: str, capsys) -> None:
    assert main(["train", "--schedule", spec, "--dry-run"]) == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ganforge: error: ") and message in lines[0], err


@pytest.mark.parametrize(("options", "message"), [
    ({"schedule": "augment_p=linear:0:0.5"}, "augment-p is ADA's probability; add --augment ada"),
    ({"schedule": "lr_d=linear:1e-4:0", "lr_decay": "linear"}, "use one"),
    ({"schedule": "beta2=linear:0.9:0.99", "optimizer": "rmsprop"}, "needs --optimizer adam"),
    ({"schedule": "ema_kimg=linear:0:1", "ema": 0.99}, "both set G's moving average"),
    ({"augment": "ada", "ada_groups": "blit,colour"}, "unknown ADA group 'colour' (did you mean 'color'?)"),
])
def test_contradictions_are_refused(options, message) -> None:
    with pytest.raises(GanforgeError, match=message.replace("?", r"\?").replace("(", r"\(").replace(")", r"\)")):
        build_config(options)


def test_every_key_reaches_what_it_drives(image_dataset, make_config) -> None:
    spec = ("lr_g=linear:1e-3:0,lr_d=cosine:2e-3:1e-4,beta2=linear:0.9:0.99,r1=linear:1:0,"
            "r2=constant:0.5,ema_kimg=linear:0:0.04,augment_p=linear:0:0.75")
    config = make_config(loss="rpgan", schedule=spec, augment="ada", steps=4, batch_size=4, schedule_kimg=0.016)
    trainer = Trainer(config, image_dataset, torch.device("cpu"))
    assert trainer.generator_ema is not None and config.ema == 0.0  # a scheduled half-life is the EMA's spelling
    betas_seen = []
    for step in range(4):
        t = step / 4
        scalars = trainer.train_step()
        assert trainer.opt_g.param_groups[0]["lr"] == pytest.approx(1e-3 * (1 - t))
        assert trainer.opt_d.param_groups[0]["lr"] == pytest.approx(1e-4 + 1.9e-3 * 0.5 * (1 + math.cos(math.pi * t)))
        betas_seen.append(trainer.opt_d.param_groups[0]["betas"][1])
        weights = {reg.entry.name: reg.weight for reg in trainer.regularizers}
        assert weights == pytest.approx({"r1": 1 - t, "r2": 0.5})
        assert float(scalars["augment_p"]) == pytest.approx(0.75 * t)  # scheduled: not adapted
        expected_beta = ema_beta(4, 0.04 * t) if t else 0.0
        assert trainer.ema_beta == pytest.approx(expected_beta)
        assert trainer.hyper["r1"] == pytest.approx(1 - t)
    assert betas_seen == pytest.approx([0.9, 0.9225, 0.945, 0.9675])
    assert float(scalars["penalty_r1"]) > 0 and float(scalars["penalty_r2"]) > 0


def test_a_scheduled_weight_turns_its_regularizer_on(image_dataset, make_config) -> None:
    trainer = Trainer(make_config(schedule="gp=linear:10:0", loss="wasserstein"), image_dataset, torch.device("cpu"))
    assert [reg.entry.name for reg in trainer.regularizers] == ["gp"]
    assert float(trainer.train_step()["penalty_gp"]) > 0


def test_every_scheduled_value_reaches_the_loggers(tmp_path, tiny_data) -> None:
    run_dir = tmp_path / "run"
    assert main(["train", "--steps", "4", "--width", "8", "--batch-size", "4", "--z-dim", "8", "--log-every", "1",
                 "--no-progress", "--device", "cpu", "--run-dir", str(run_dir),
                 "--schedule", "r1=linear:2:0,beta2=cosine:0.9:0.99,lr_g=linear:1e-3:0"]) == 0
    with open(run_dir / "history.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    # each row: the values the step just logged used (steps 0..3 of 4)
    assert [float(r["r1"]) for r in rows] == pytest.approx([2.0, 1.5, 1.0, 0.5])
    assert [float(r["lr"]) for r in rows] == pytest.approx([1e-3, 7.5e-4, 5e-4, 2.5e-4])
    assert float(rows[0]["beta2"]) == pytest.approx(0.9) and float(rows[0]["penalty_r1"]) > 0
    assert "r1: linear:2.0:0.0" in (run_dir / "config.yaml").read_text()


# -- resume after SIGKILL --------------------------------------------------------------------------------

RUN = ["--width", "8", "--z-dim", "8", "--batch-size", "8", "--log-every", "2", "--sample-every", "1000",
       "--log", "csv", "--device", "cpu", "--threads", "1", "--no-progress", "--checkpoint-every", "3",
       "--steps", "9", "--loss", "rpgan", "--augment", "ada"]
SCHEDULED = ["--schedule", "lr_g=cosine:2e-3:5e-4:0.008,lr_d=linear:2e-3:1e-4,beta2=cosine:0.9:0.99,"
             "r1=cosine:0.5:0.05,r2=linear:0.5:0.05,ema_kimg=cosine:0:0.05,augment_p=cosine:0:0.55"]
ADAPTIVE = ["--r1", "0.1", "--ada-interval", "1", "--ada-kimg", "0.1", "--augment-p", "0.3", "--ema-kimg", "0.02",
            "--schedule", "lr_g=cosine:2e-3:5e-4"]


@pytest.mark.parametrize("options", [SCHEDULED, ADAPTIVE], ids=["every-key-scheduled", "adaptive-p"])
def test_sigkill_then_resume_is_bitwise_the_uninterrupted_run(options: list[str], tmp_path) -> None:
    reference, run_dir = tmp_path / "reference", tmp_path / "run"
    assert main(["train", *RUN, *options, "--run-dir", str(reference)]) == 0
    killed = subprocess.run([sys.executable, str(HERE / "kill_at.py"), "step-copy", "KILL", "2", "train", *RUN,
                             *options, "--run-dir", str(run_dir)], capture_output=True, text=True, timeout=300)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    assert main(["train", *RUN, *options, "--run-dir", str(run_dir), "--resume"]) == 0
    ours, theirs = state(run_dir / "checkpoints" / "last.pt"), state(reference / "checkpoints" / "last.pt")
    assert_same_state(ours, theirs)
    for part in ("generator_ema", "ada"):
        for key, value in ours[part].items():
            assert torch.equal(value, theirs[part][key]), f"{part}.{key}"
    assert float(theirs["ada"]["p"]) > 0  # p moved (scheduled or adapted), so the comparison means something
    history = [(run_dir / "history.csv").read_text(), (reference / "history.csv").read_text()]
    strip = [[line.split(",")[:6] for line in text.splitlines()] for text in history]
    assert strip[0] == strip[1]
    assert (run_dir / "augment_p.png").is_file()
