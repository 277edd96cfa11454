"""A training step of one's own (``train_step=``): it trains inside ganforge's run (folder, history,
checkpoints, grids, EMA), resumes bit for bit, and bad steps or mismatched resumes are one line."""

from __future__ import annotations

import csv
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from user_steps import EveryOtherG, TinyD, TinyG, bce_step, hinge_step

import ganforge
from ganforge.cli import main
from ganforge.errors import GanforgeError
from ganforge.training.scalars import ScalarWindow
from ganforge.training.step import step_name

HERE = Path(__file__).resolve().parent
DATA = torch.rand(64, 1, 8, 8, generator=torch.Generator().manual_seed(0))
TINY = {"z_dim": 4, "batch_size": 8, "log_every": 2, "sample_every": 2, "checkpoint_every": 2, "progress": False}


def train(run_dir: Path, step, steps: int, **options):
    torch.manual_seed(0)  # the user's networks are built here, not by ganforge: the same start every time
    return ganforge.train(TinyG(), TinyD(), data=DATA, run_dir=str(run_dir), steps=steps, train_step=step,
                          **{**TINY, **options})


def history(run_dir: Path) -> list[dict[str, str]]:
    with open(run_dir / "history.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def checkpoint(run_dir: Path) -> dict:
    return torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)


def assert_same_state(a: dict, b: dict) -> None:
    for part in ("generator", "discriminator", "generator_ema"):
        assert a[part].keys() == b[part].keys()
        for key in a[part]:
            assert torch.equal(a[part][key], b[part][key]), (part, key)
    for opt in ("opt_g", "opt_d"):
        for index, state in a[opt]["state"].items():
            assert torch.equal(state["exp_avg"], b[opt]["state"][index]["exp_avg"]), opt
    assert torch.equal(a["step_rng"], b["step_rng"])


def test_a_users_step_trains_in_the_usual_run_folder(tmp_path):
    run = tmp_path / "mine"
    torch.manual_seed(0)
    start = TinyG().state_dict()
    result = train(run, hinge_step, 4)
    assert result.steps == 4 and set(result.last) >= {"hinge_d", "hinge_g", "noise_std"}
    saved = yaml.safe_load((run / "config.yaml").read_text())
    assert saved["train_step"] == "user_steps:hinge_step" == step_name(hinge_step)
    rows = history(run)
    assert [row["step"] for row in rows] == ["2", "4"]
    for row in rows:  # the step's own scalars, beside ganforge's columns
        assert math.isfinite(float(row["hinge_d"])) and math.isfinite(float(row["hinge_g"]))
        assert float(row["noise_std"]) == pytest.approx(0.05) and row["lr"] and row["seconds"]
        assert row["loss_d"] == ""  # ganforge's update did not run
    for name in ("checkpoints/last.pt", "checkpoints/step_0000002.pt", "checkpoints/step_0000004.pt",
                 "samples/step_0000002.png", "samples/final.png", "progress.gif", "loss_curves.png",
                 "generator.safetensors", "generator.json"):
        assert (run / name).is_file(), name
    state = checkpoint(run)
    assert not torch.equal(state["generator"]["net.weight"], start["net.weight"])  # the step trained G
    # ganforge kept G's moving average (default --ema 0.999): it moved, but not as far as G
    assert not torch.equal(state["generator_ema"]["net.weight"], state["generator"]["net.weight"])
    assert state["batches_drawn"] == 8  # two batches a step: ctx.real and ctx.next_batch()


def test_ganforges_update_rewritten_as_a_users_step_trains_the_same_weights(tmp_path):
    """One update path: a user's copy of the default update gets the same batches, latents, optimizers
    and EMA from ganforge as ganforge's own, so the two runs end bit for bit equal."""
    options = {"model": "mlp", "width": 8, "precision": "fp32", "steps": 3}
    points = torch.randn(64, 2, generator=torch.Generator().manual_seed(1))
    own = ganforge.train(data=points, run_dir=str(tmp_path / "own"), **TINY, **options)
    mine = ganforge.train(data=points, run_dir=str(tmp_path / "mine"), train_step=bce_step, **TINY, **options)
    assert_same_state(checkpoint(tmp_path / "own"), checkpoint(tmp_path / "mine"))
    assert own.last["loss_g"] == mine.last["loss_g"] and own.last["loss_d"] == mine.last["loss_d"]


@pytest.mark.parametrize("make_step", [lambda: hinge_step, EveryOtherG], ids=["function", "stateful"])
def test_a_stopped_and_resumed_run_equals_an_uninterrupted_one(tmp_path, make_step):
    full, split = tmp_path / "full", tmp_path / "split"
    train(full, make_step(), 6)
    train(split, make_step(), 3)  # stops off the logging grid: the partial window is resumed too
    train(split, make_step(), 6, resume=True)
    assert_same_state(checkpoint(full), checkpoint(split))
    assert history(full) == [{**row, "seconds": full_row["seconds"], "images_per_s": full_row["images_per_s"]}
                             for row, full_row in zip(history(split), history(full), strict=True)]


def test_the_window_means_each_scalar_over_the_steps_that_returned_it():
    """A step may return G's loss only on the steps that update G: its mean is over those steps."""
    window = ScalarWindow()
    window.add({"loss_d": torch.tensor(1.0), "loss_g": torch.tensor(-4.0)})
    window.add({"loss_d": torch.tensor(3.0)})
    resumed = ScalarWindow()  # and the counts survive a checkpoint of the partial window
    resumed.load_state_dict(window.state_dict(), torch.device("cpu"))
    for w in (window, resumed):
        assert w.mean_and_reset() == {"loss_d": 2.0, "loss_g": -4.0}


def test_resuming_with_another_step_or_without_an_unimportable_one_is_one_line(tmp_path):
    def local_step(ctx):
        return hinge_step(ctx)

    train(tmp_path / "a", hinge_step, 2)
    before = (tmp_path / "a" / "checkpoints" / "last.pt").read_bytes()
    with pytest.raises(GanforgeError, match="cannot change train_step when resuming") as error:
        train(tmp_path / "a", EveryOtherG(), 4, resume=True)
    assert "\n" not in str(error.value)
    assert (tmp_path / "a" / "checkpoints" / "last.pt").read_bytes() == before
    # an importable step resumes by its name alone
    torch.manual_seed(0)
    ganforge.train(TinyG(), TinyD(), data=DATA, run_dir=str(tmp_path / "a"), resume=True, steps=4, progress=False)
    assert checkpoint(tmp_path / "a")["step"] == 4

    train(tmp_path / "b", local_step, 2)
    with pytest.raises(GanforgeError, match=r"training step '.*local_step' cannot be imported.*train_step=") as error:
        ganforge.train(TinyG(), TinyD(), data=DATA, run_dir=str(tmp_path / "b"), resume=True, steps=4,
                       progress=False)
    assert "\n" not in str(error.value)
    with pytest.raises(GanforgeError, match="cannot change train_step when resuming"):
        ganforge.train(TinyG(), TinyD(), data=DATA, run_dir=str(tmp_path / "b"), resume=True, steps=4,
                       train_step="ganforge.training.update:gan_update", progress=False)


@pytest.mark.parametrize(("returned", "message"), [
    ({"loss": torch.ones(3)}, r"returned a tensor of shape \(3,\) for 'loss' at step 1; return one number"),
    ({"loss": float("nan")}, r"returned loss = nan at step 1; the run stopped before that step was saved"),
    ({"loss": torch.tensor(float("inf"))}, r"returned loss = inf at step 1"),
    ({"loss": "low"}, r"returned a str for 'loss' at step 1"),
    ([1.0], r"returned a list at step 1; return a dict of scalars"),
])
def test_a_step_returning_no_finite_scalar_stops_with_one_line(tmp_path, returned, message):
    def bad_step(ctx):
        return returned

    with pytest.raises(GanforgeError, match=message) as error:
        train(tmp_path / "bad", bad_step, 3)
    assert "\n" not in str(error.value)
    assert checkpoint(tmp_path / "bad")["step"] == 0  # the step-0 checkpoint is intact, nothing after it


def test_the_cli_trains_with_a_step_named_module_colon_function(tmp_path, tiny_data, monkeypatch, capsys):
    monkeypatch.syspath_prepend(str(HERE))
    flags = ["--width", "8", "--batch-size", "4", "--z-dim", "8", "--steps", "2", "--log-every", "1",
             "--no-progress", "--run-dir"]
    assert main(["train", "--train-step", "user_steps:EveryOtherG", *flags, str(tmp_path / "cli")]) == 0
    assert [row["hinge_g"] for row in history(tmp_path / "cli")] == ["", history(tmp_path / "cli")[1]["hinge_g"]]
    assert checkpoint(tmp_path / "cli")["step_state"] == {"calls": 2}
    capsys.readouterr()
    assert main(["train", "--train-step", "user_steps:no_such_step", *flags, str(tmp_path / "typo")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ganforge: error: this run's training step 'user_steps:no_such_step' cannot be imported")
    assert err.count("\n") == 1 and not (tmp_path / "typo").exists()


def test_a_killed_cli_run_with_its_own_step_resumes_bit_for_bit(tmp_path, monkeypatch):
    """kill -9 right after a periodic step file is published; the resume continues from last.pt."""
    env = {**os.environ, "PYTHONPATH": f"{HERE}:{HERE.parents[1] / 'src'}"}
    flags = ["train", "--data", "toy2d:ring", "--model", "mlp", "--width", "8", "--batch-size", "16", "--z-dim",
             "2", "--steps", "8", "--log-every", "2", "--checkpoint-every", "3", "--sample-every", "4",
             "--no-progress", "--threads", "1", "--train-step", "user_steps:hinge_step", "--run-dir"]
    killed = subprocess.run([sys.executable, str(HERE / "kill_at.py"), "step-copy", "KILL", "2", *flags,
                             str(tmp_path / "killed")], env=env, capture_output=True, text=True)
    assert killed.returncode == -9, killed.stderr
    assert checkpoint(tmp_path / "killed")["step"] == 3  # last.pt: the step-6 file was about to replace it
    monkeypatch.syspath_prepend(str(HERE))
    assert main([*flags, str(tmp_path / "killed"), "--resume"]) == 0  # in this process: one start-up less
    assert main([*flags, str(tmp_path / "full")]) == 0
    full, resumed = checkpoint(tmp_path / "full"), checkpoint(tmp_path / "killed")
    for part in ("generator", "discriminator"):
        for key in full[part]:
            assert torch.equal(full[part][key], resumed[part][key]), (part, key)


def test_the_readme_example_of_a_training_step_runs(tmp_path, monkeypatch):
    readme = (HERE.parents[1] / "README.md").read_text()
    section = readme.split("### Your own training step", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "README.md (Your own training step)", "exec"), {"__name__": "readme_step"})
    run = tmp_path / "runs" / "my-step"
    assert yaml.safe_load((run / "config.yaml").read_text())["train_step"] == "readme_step:hinge_step"
    rows = history(run)
    assert rows[-1]["step"] == "60" and all(math.isfinite(float(row["errG"])) for row in rows)
    assert checkpoint(run)["step"] == 60 and (run / "samples" / "final.png").is_file()
