"""benchmarks/tune_toy2d.py end to end at a tiny budget: best-r1 is trial 0, pruned trials are resumed to
the full schedule, and the result file and table carry what BENCHMARKS.md quotes."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "tune_toy2d.py"


def test_the_benchmark_runs_at_a_tiny_budget(tmp_path: Path, capsys, one_thread, monkeypatch) -> None:
    spec = importlib.util.spec_from_file_location("tune_toy2d", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = tmp_path / "result.json"
    assert module.main(["--trials", "3", "--steps", "60", "--eval-every", "20", "--out", str(out),
                        "--runs", str(tmp_path / "runs")]) == 0
    result = json.loads(out.read_text())
    assert result["trials"] == 3 and result["steps"] == 60 and len(result["all"]) == 3
    assert result["best_r1_trial"]["number"] == 0 and result["best_r1_trial"]["params"] == module.ENQUEUED
    assert result["cpu_seconds"]["unpruned"] >= result["cpu_seconds"]["pruned"] > 0
    assert result["study"]["objective"] == "reverse_kl" and result["study"]["settings"]["data"] == "toy2d:grid"
    for trial in result["all"]:  # every trial, pruned ones resumed, scored at the full schedule
        run = tmp_path / "runs" / "study" / f"trial-{trial['number']:04d}"
        assert json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])["step"] == 60
    printed = capsys.readouterr().out
    assert "| best-r1 in the study (trial 0) |" in printed and "| PacGAN4 (paper, mean of 10 trials) |" in printed
    assert "CPU: " in printed and "for the same trials unpruned" in printed
