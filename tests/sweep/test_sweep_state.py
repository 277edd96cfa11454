"""What a sweep does with each run folder it finds: skip, evaluate only, resume, restart, or refuse.

The study database records which runs are finished; a changed plan (more steps, another evaluation) is a
new study whose trials find each folder as far as it got (ganforge.tune.folders)."""

from __future__ import annotations

import csv
import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ganforge.errors import GanforgeError
from ganforge.sweeps import load_sweep, run_status, run_sweep
from ganforge.tune.folders import DONE, EVALUATE, NEW, RESTART, RESUME, final_values, missing_metrics

TINY = {"width": 8, "batch_size": 16, "z_dim": 16, "device": "cpu", "log_every": 5, "sample_every": 1000}


def toy_sweep(out: Path, steps: int = 20, **settings) -> dict:
    """One gan run on toy2d:ring, measured with the PacGAN protocol on 300 points."""
    return {"name": "toy", "out": str(out), "metrics": ["toy2d"], "evaluation": {"samples": 300},
            "settings": {**TINY, "steps": steps, "checkpoint_every": 10, **settings},
            "grid": {"preset": ["gan"], "data": ["toy2d:ring"]}}


def history_steps(run_dir: Path) -> list[int]:
    with open(run_dir / "history.csv", newline="") as handle:
        return [int(row["step"]) for row in csv.DictReader(handle)]


def test_finished_runs_are_skipped_unmeasured_ones_only_evaluated_longer_ones_resumed(
        write_sweep, tmp_path: Path, one_thread) -> None:
    out = tmp_path / "out"
    path = write_sweep(toy_sweep(out))
    sweep = load_sweep(path)
    (run,) = sweep.runs
    assert run.name == "gan_toy2d-ring" and run_status(run, sweep.evaluation).action == NEW
    lines: list[str] = []
    (state,) = run_sweep(sweep, echo=lines.append)
    assert state.status == "done" and state.name == run.name
    assert lines[0] == "[1/1] gan_toy2d-ring: training 20 steps"
    assert lines[-1].startswith("[1/1] gan_toy2d-ring: trained to step 20 in ") and "modes " in lines[-1]
    assert run_status(run, sweep.evaluation).action == DONE
    index = json.loads((out / "sweep.json").read_text())
    assert index["runs"][0]["name"] == run.name and index["runs"][0]["axes"] == {"preset": "gan", "data": "toy2d:ring"}
    assert (out / "sweep.yaml").read_text() == path.read_text()

    spec_mtime = (run.run_dir / "generator.json").stat().st_mtime_ns
    before = len(lines)
    (state,) = run_sweep(sweep, echo=lines.append)
    assert state.status == "done" and len(lines) == before  # the study says it is done: nothing runs
    assert (run.run_dir / "generator.json").stat().st_mtime_ns == spec_mtime

    # Metrics lost, or measured with another protocol: the folder asks for an evaluation, never a retrain.
    records = (run.run_dir / "metrics.jsonl").read_text()
    (run.run_dir / "metrics.jsonl").write_text(records.replace('"num_fake": 300', '"num_fake": 299') + "{broken\n")
    assert run_status(run, sweep.evaluation).action == EVALUATE
    (run.run_dir / "metrics.jsonl").write_text(records)
    # Another evaluation protocol in the file is a new plan: the trained run is only evaluated.
    other = load_sweep(write_sweep({**toy_sweep(out), "evaluation": {"samples": 299}}))
    (state,) = run_sweep(other, echo=lines.append)
    assert state.status == "done" and lines[-1].startswith("[1/1] gan_toy2d-ring: evaluated; modes ")
    assert (run.run_dir / "generator.json").stat().st_mtime_ns == spec_mtime
    assert run_status(other.runs[0], other.evaluation).action == DONE

    # More steps in the file: the run continues from its checkpoint (--resume semantics).
    longer = load_sweep(write_sweep(toy_sweep(out, steps=30)))
    (run,) = longer.runs
    status = run_status(run, longer.evaluation)
    assert (status.action, status.step) == (RESUME, 20)
    (state,) = run_sweep(longer, echo=lines.append)
    assert state.status == "done"
    assert "[1/1] gan_toy2d-ring: resuming from step 20/30" in lines
    assert lines[-1].startswith("[1/1] gan_toy2d-ring: resumed and trained to step 30 in ")
    assert history_steps(run.run_dir) == [5, 10, 15, 20, 25, 30]
    measured = [json.loads(line) for line in (run.run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [(m["step"], m["protocol"]["num_fake"]) for m in measured] == [(20, 300), (20, 299), (30, 300)]


def test_other_settings_or_foreign_files_are_refused_not_overwritten(write_sweep, tmp_path: Path, one_thread) -> None:
    out = tmp_path / "out"
    sweep = load_sweep(write_sweep(toy_sweep(out, steps=10)))
    run_sweep(sweep, echo=lambda line: None)
    changed = load_sweep(write_sweep(toy_sweep(out, steps=10, lr_g=1e-3)))
    with pytest.raises(GanforgeError, match=r"trained with other settings \(lr_g 0.0002 -> 0.001\)"):
        run_status(changed.runs[0], changed.evaluation)
    # A failing run is reported and recorded; the sweep goes on and says which failed.
    (state,) = run_sweep(changed, echo=lambda line: None)
    assert state.status == "failed" and "other settings" in state.error

    shorter = load_sweep(write_sweep(toy_sweep(out, steps=5)))
    with pytest.raises(GanforgeError, match="past steps: 5"):
        run_status(shorter.runs[0], shorter.evaluation)

    foreign = tmp_path / "foreign"
    (foreign / "gan_toy2d-ring").mkdir(parents=True)
    (foreign / "gan_toy2d-ring" / "notes.txt").write_text("mine")
    other = load_sweep(write_sweep(toy_sweep(foreign)))
    with pytest.raises(GanforgeError, match="not a ganforge run"):
        run_status(other.runs[0], other.evaluation)


def test_a_run_killed_before_its_first_checkpoint_restarts(write_sweep, tmp_path: Path, one_thread) -> None:
    out = tmp_path / "out"
    sweep = load_sweep(write_sweep(toy_sweep(out, steps=10)))
    (run,) = sweep.runs
    run.run_dir.mkdir(parents=True)
    (run.run_dir / "samples").mkdir()  # what a kill during start-up can leave: empty folders
    assert run_status(run, sweep.evaluation).action == NEW
    # and the writer's lock, taken before config.yaml is written, holding a dead process's record
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (run.run_dir / ".ganforge.lock").write_text(json.dumps({"pid": dead.pid, "host": socket.gethostname()}))
    assert run_status(run, sweep.evaluation).action == NEW
    config = run.config.to_dict()
    (run.run_dir / "config.yaml").write_text(yaml.safe_dump(config))
    (run.run_dir / "history.csv").write_text("step,epoch,loss_d,loss_g,d_real,d_fake,lr,seconds,images_per_s\n")
    assert run_status(run, sweep.evaluation).action == RESTART
    lines: list[str] = []
    (state,) = run_sweep(sweep, echo=lines.append)
    assert state.status == "done" and "restarting (stopped before its first checkpoint)" in lines[0]
    assert history_steps(run.run_dir) == [5, 10]


def test_only_missing_metrics_or_other_sample_counts_are_measured_again(write_sweep, tmp_path: Path) -> None:
    sweep = load_sweep(write_sweep({"out": str(tmp_path / "out"), "metrics": ["fid", "kid", "pr"],
                                    "evaluation": {"samples": 10}, "settings": {**TINY, "steps": 6},
                                    "grid": {"preset": ["dcgan"]}}))
    (run,) = sweep.runs
    run.run_dir.mkdir(parents=True)
    records = [{"step": 6, "fid": 50.0, "precision": 0.5, "recall": 0.4, "protocol": {"num_fake": 10}},
               {"step": 6, "kid": 0.1, "protocol": {"num_fake": 20}},  # another N: does not count
               {"step": 3, "kid": 0.2, "protocol": {"num_fake": 10}}]  # an earlier step: does not count
    (run.run_dir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    assert missing_metrics(run, sweep.evaluation) == ["kid"]


def test_a_final_step_record_counts_only_under_the_evaluations_reference_count(write_sweep, tmp_path: Path) -> None:
    def planned(**evaluation) -> tuple:
        sweep = load_sweep(write_sweep({"out": str(tmp_path / "out"), "metrics": ["fid", "fd_digits"],
                                        "evaluation": {"samples": 10, **evaluation},
                                        "settings": {**TINY, "steps": 6}, "grid": {"preset": ["dcgan"]}}))
        return sweep.runs[0], sweep.evaluation

    run, whole_set = planned()  # reference_samples: the whole training set
    run.run_dir.mkdir(parents=True)
    # --eval-every at the final step: eval_samples on both sides (10 real images), FD_digits in its own section
    training = {"source": "training", "step": 6, "fid": 50.0, "fd_digits": 5.0,
                "protocol": {"num_fake": 10, "reference_num_samples": 10, "digits": {"reference_num_samples": 10}}}
    (run.run_dir / "metrics.jsonl").write_text(json.dumps(training) + "\n")
    assert missing_metrics(run, whole_set) == ["fid", "fd_digits"]
    final = {"source": "evaluate", "step": 6, "fid": 40.0, "fd_digits": 4.0,
             "protocol": {"num_fake": 10, "reference_num_samples": None, "digits": {"reference_num_samples": None}}}
    with open(run.run_dir / "metrics.jsonl", "a") as handle:
        handle.write(json.dumps(final) + "\n")
    assert missing_metrics(run, whole_set) == [] and final_values(run, whole_set)["fid"] == 40.0
    # an evaluation against 10 real images (a tune's, which reuses the training-time protocol) takes it
    run, ten_real = planned(reference_samples=10)
    assert final_values(run, ten_real) == {"fid": 50.0, "fd_digits": 5.0}
