"""`ganforge tune` on toy2d:grid around the hand-found best-r1 setup: what the search finds within a trial
budget with median pruning, the CPU time it saves against the same trials unpruned, and how the found
configuration's modes / HQ / reverse KL compare with best-r1 and PacGAN4.

    python benchmarks/tune_toy2d.py --trials 12 --steps 3000 --out benchmarks/results/tune-toy2d-grid.json

The study (a study file like any other, written to the work folder and kept in the result) searches the
learning rate (both players), the R1 weight, the critic steps and the packing of benchmarks/toy2d.py's
best-r1 at a short schedule, objective reverse KL (lower is better, from the metric registry), one seed per
trial. Trial 0 is best-r1 itself (enqueued), so the table compares at an equal budget. "Unpruned" CPU is
measured, not estimated: after the study every pruned trial's folder is resumed to the full schedule
(`--resume`, what the trial would have trained without the pruner), which also shows whether the pruner
stopped a trial that would have won.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from toy2d import CONFIGS, PUBLISHED  # noqa: E402  (the benchmark next door: best-r1 and PacGAN's table)

RESULTS = Path(__file__).resolve().parent / "results"
BEST_R1 = CONFIGS["best-r1"]
SEARCH = {
    "lr_g": {"type": "float", "low": 3.0e-4, "high": 3.0e-3, "log": True, "also": ["lr_d"]},
    "r1": {"type": "float", "low": 0.01, "high": 1.0, "log": True},
    "n_critic": {"type": "int", "low": 1, "high": 3},
    "pack": [2, 4],
}
ENQUEUED = {"lr_g": BEST_R1["lr_g"], "r1": BEST_R1["r1"], "n_critic": BEST_R1["n_critic"], "pack": BEST_R1["pack"]}
# best-r1 (20k iterations, 3 seeds) and PacGAN4 (400k, 10 trials) on the grid, from BENCHMARKS.md
REFERENCE = [("best-r1 (BENCHMARKS.md, mean of 3 seeds)", (25.0, 95.9, 0.007), "20000"),
             ("PacGAN4 (paper, mean of 10 trials)", PUBLISHED["PacGAN4 (paper)"]["grid"], "400k")]


def study_document(trials: int, steps: int, eval_every: int, out: Path) -> dict[str, Any]:
    settings = {key: list(value) if isinstance(value, tuple) else value for key, value in BEST_R1.items()}
    settings.update(data="toy2d:grid", steps=steps, eval_every=eval_every, log_every=max(1, steps // 30),
                    sample_every=steps, device="cpu", log="csv")
    return {"name": "tune-toy2d-grid", "description": "best-r1's neighbourhood on toy2d:grid", "out": str(out),
            "objective": "reverse_kl", "n_trials": trials, "seeds": 1, "retries": 0,
            "sampler": {"name": "tpe", "seed": 0, "n_startup_trials": 4},
            "pruner": {"name": "median", "n_startup_trials": 3, "n_warmup_steps": 2 * eval_every},
            "settings": settings, "search": SEARCH}


def final_record(run_dir: Path, steps: int) -> dict[str, Any]:
    from ganforge.fileio import read_jsonl

    record = next(r for r in reversed(read_jsonl(run_dir / "metrics.jsonl")) if r.get("step") == steps)
    return {"modes": record["modes"], "hq": 100 * record["high_quality"], "reverse_kl": record.get("reverse_kl")}


def resume_pruned(study: Any, trials: list[Any]) -> tuple[float, dict[int, dict[str, Any]]]:
    """Train every pruned trial's folder to the full schedule; the CPU seconds and the final scores."""
    from ganforge.training import train

    started, finals = time.process_time(), {}
    for trial in trials:
        (run,) = study.runs_of(trial)
        train(run.config, resume=True, progress=False)
        finals[trial.number] = final_record(run.run_dir, run.config.steps)
    return time.process_time() - started, finals


def cell(values: tuple[float, float, float | None]) -> str:
    modes, hq, kl = values
    return f"{modes:.1f} | {hq:.1f} | {kl:.3f}" if kl is not None else f"{modes:.1f} | {hq:.1f} | —"


def table(result: dict[str, Any]) -> str:
    steps = result["steps"]
    best, r1 = result["best"], result["best_r1_trial"]
    lines = ["| configuration | modes /25 | HQ % | rev-KL | iterations |", "|---|---|---|---|---|",
             f"| tune best (trial {best['number']}: {best['params_text']}) | "
             f"{cell((best['modes'], best['hq'], best['reverse_kl']))} | {steps} |",
             f"| best-r1 in the study (trial {r1['number']}) | {cell((r1['modes'], r1['hq'], r1['reverse_kl']))} "
             f"| {steps} |"]
    lines += [f"| {name} | {cell(values)} | {iterations} |" for name, values, iterations in REFERENCE]
    cpu = result["cpu_seconds"]
    lines += ["", f"CPU: {cpu['pruned'] / 60:.1f} min with pruning ({result['pruned']} of {result['trials']} trials "
              f"pruned), {cpu['unpruned'] / 60:.1f} min for the same trials unpruned "
              f"({100 * (1 - cpu['pruned'] / cpu['unpruned']):.0f}% saved); wall {result['wall_seconds'] / 60:.1f} min."]
    if result["pruned_would_have_won"]:
        lines.append(f"Pruned trials that would have beaten the best when trained to the end: "
                     f"{result['pruned_would_have_won']}.")
    else:
        lines.append("No pruned trial would have beaten the best when trained to the end.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--eval-every", type=int, default=300)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (tiny nets: 1 is fastest)")
    parser.add_argument("--out", type=Path, default=RESULTS / "tune-toy2d-grid.json")
    parser.add_argument("--runs", type=Path, default=None, help="keep the study folder here (default: temporary)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    import optuna

    from ganforge.tune.storage import default_storage, open_study
    from ganforge.tune.study import load_study, run_study

    with tempfile.TemporaryDirectory(prefix="ganforge-tune-") as tmp:
        root = args.runs or Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        document = study_document(args.trials, args.steps, args.eval_every, root / "study")
        path = root / "study.yaml"
        path.write_text(yaml.safe_dump(document, sort_keys=False))
        study = load_study(path)
        open_study(study.plan(), default_storage(study.out)).enqueue_trial(ENQUEUED)  # trial 0: best-r1
        wall, cpu = time.perf_counter(), time.process_time()
        trials = run_study(study, echo=lambda line: print(line, flush=True))
        pruned_cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        pruned = [t for t in trials if t.state == optuna.trial.TrialState.PRUNED]
        resumed_cpu, finals = resume_pruned(study, pruned)
        complete = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
        best = min(complete, key=lambda t: t.value)
        r1 = trials[0]

        def summary(trial: Any) -> dict[str, Any]:
            scores = finals.get(trial.number) or final_record(study.runs_of(trial)[0].run_dir, args.steps)
            text = ", ".join(f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}" for k, v in trial.params.items())
            return {"number": trial.number, "params": trial.params, "params_text": text, "state": trial.state.name,
                    **scores}

        result = {"command": "python benchmarks/tune_toy2d.py " + " ".join(sys.argv[1:] if argv is None else argv),
                  "torch": torch.__version__, "optuna": optuna.__version__, "threads": args.threads,
                  "study": document, "trials": len(trials), "steps": args.steps, "pruned": len(pruned),
                  "cpu_seconds": {"pruned": round(pruned_cpu, 1), "unpruned": round(pruned_cpu + resumed_cpu, 1)},
                  "wall_seconds": round(wall, 1), "best": summary(best), "best_r1_trial": summary(r1),
                  "all": [summary(t) for t in trials],
                  "pruned_would_have_won": [n for n, s in finals.items()
                                            if s["reverse_kl"] is not None and s["reverse_kl"] < best.value]}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print()
    print(table(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
