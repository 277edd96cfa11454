"""Every model family with its paper preset on digits5k, on a short CPU schedule: final grids + a check.

Each run goes through the library entry point (``ganforge.training.train``, i.e. ``ganforge train
--preset NAME``) with the preset's optimizer/loss/regularizer values and only the schedule and size
shortened for a CPU (``--steps``, ``--width``, ``--batch-size``). The final sample grid of each run is
copied to ``benchmarks/results/digits-<run>.png``.

"Recognisable digits" is checked, not eyeballed only: a logistic-regression digit classifier trained on
4,000 real digits5k images (accuracy on the 1,000 held out is printed) labels 1,000 generated digits.
Reported: the share of samples it classifies with confidence >= 0.5 (real digits: printed for reference)
and, for the conditional run, the share classified as the digit that was asked for.

    python benchmarks/digits_families.py            # all runs, the recorded schedule
    python benchmarks/digits_families.py --runs dcgan cgan --steps 300
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ganforge.config_build import build_config
from ganforge.data import load_dataset, to_uint8
from ganforge.loader import load_generator
from ganforge.training import train

RESULTS = Path(__file__).resolve().parent / "results"

# run name -> (family it exercises, preset + CPU-sized overrides incl. the default schedule). Batch sizes
# above 64 (dcgan 128, sagan 256) are cut to 64. SAGAN's TTUR G rate (1e-4) learns slowly, so it runs at
# width 32 for 3000 steps. SNGAN keeps its 5 D steps per G step, and its ResNet G keeps 4*width channels
# up to full resolution (~20x a width-32 DCGAN's cost per step on this CPU). At width 8 (a 16-channel D)
# 1000 steps drew strokes, not digits, so it runs at width 16 for 2000 steps in bf16 autocast with
# channels-last (about 2x fp32 on this CPU; spectral norm and the losses stay float32). The MLP is cheap
# per step but slow to learn, so it gets more steps.
RUNS: dict[str, tuple[str, dict[str, Any]]] = {
    "gan": ("mlp", {"preset": "gan", "steps": 8000}),
    "dcgan": ("dcgan", {"preset": "dcgan", "batch_size": 64, "steps": 1500}),
    "sagan": ("sagan", {"preset": "sagan", "batch_size": 64, "steps": 3000, "width": 32}),
    "sngan": ("resnet", {"preset": "sngan", "steps": 2000, "width": 16, "precision": "bf16",
                         "channels_last": True}),
    "cgan": ("dcgan (conditional)", {"preset": "cgan", "steps": 800}),
}
SHARED = {"data": "digits5k", "width": 32, "device": "cpu", "log_every": 50}


def fit_classifier(seed: int = 0):
    """Logistic regression on 4,000 real digits; returns (classifier, held-out accuracy)."""
    from sklearn.linear_model import LogisticRegression

    dataset = load_dataset("digits5k")
    x = dataset.data.float().div(255).flatten(1).numpy()
    y = dataset.labels.numpy()
    order = np.random.default_rng(seed).permutation(len(x))
    train_idx, test_idx = order[:4000], order[4000:]
    classifier = LogisticRegression(max_iter=300, C=0.1)
    classifier.fit(x[train_idx], y[train_idx])
    accuracy = float((classifier.predict(x[test_idx]) == y[test_idx]).mean())
    confident = float((classifier.predict_proba(x[test_idx]).max(axis=1) >= 0.5).mean())
    return classifier, accuracy, confident


@torch.no_grad()
def judge(run_dir: Path, classifier, num: int = 1000, seed: int = 0) -> dict[str, float]:
    """Classify ``num`` samples of the run's saved generator (its EMA copy when there is one)."""
    generator, info = load_generator(run_dir)
    rng = torch.Generator().manual_seed(seed)
    z = torch.randn(num, generator.z_dim, generator=rng)
    labels = torch.arange(num) % info.spec.num_classes if info.spec.num_classes else None
    images = to_uint8(generator(z, labels)).float().div(255).flatten(1).numpy()
    proba = classifier.predict_proba(images)
    out = {"confident": float((proba.max(axis=1) >= 0.5).mean())}
    if labels is not None:
        out["requested_digit"] = float((proba.argmax(axis=1) == labels.numpy()).mean())
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", nargs="+", default=list(RUNS), choices=list(RUNS))
    parser.add_argument("--steps", type=int, default=None, help="generator updates per run (default: per run)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (shared machine: 1)")
    parser.add_argument("--out", type=Path, default=RESULTS / "digits_families.json")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    classifier, accuracy, real_confident = fit_classifier()
    print(f"digit classifier: {100 * accuracy:.1f}% accurate on 1,000 held-out real digits; "
          f"{100 * real_confident:.1f}% of them classified with confidence >= 0.5", flush=True)
    results = []
    with tempfile.TemporaryDirectory(prefix="ganforge-digits-") as tmp:
        for name in args.runs:
            family, overrides = RUNS[name]
            run_dir = Path(tmp) / name
            steps = args.steps or overrides["steps"]
            config = build_config(SHARED, overrides, {"steps": steps, "run_dir": str(run_dir),
                                                      "sample_every": steps, "checkpoint_every": steps})
            started = time.perf_counter()
            result = train(config, progress=False)
            seconds = time.perf_counter() - started
            grid = RESULTS / f"digits-{name}.png"
            RESULTS.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(run_dir / "samples" / "final.png", grid)
            record = {"run": name, "family": family, "preset": config.preset, "steps": config.steps,
                      "batch_size": config.batch_size, "width": config.width, "n_critic": config.n_critic,
                      "precision": config.precision,
                      "seconds": round(seconds, 1), "loss_d": result.last.get("loss_d"),
                      "loss_g": result.last.get("loss_g"), "grid": str(grid.relative_to(RESULTS.parent.parent)),
                      **judge(run_dir, classifier)}
            results.append(record)
            extra = (f", requested digit drawn {100 * record['requested_digit']:.1f}%"
                     if "requested_digit" in record else "")
            print(f"{name:6s} ({family}, --preset {config.preset}): {config.steps} steps in {seconds:.0f}s; "
                  f"confidently a digit {100 * record['confident']:.1f}%{extra}; grid {grid.name}", flush=True)
    command = "python benchmarks/digits_families.py " + " ".join(sys.argv[1:] if argv is None else argv)
    # Runs measured by an earlier invocation (another --runs subset) are kept unless re-run now.
    earlier = json.loads(args.out.read_text()) if args.out.is_file() else {"commands": [], "results": []}
    rerun = {r["run"] for r in results}
    document = {"commands": [*earlier.get("commands", []), command.strip()], "classifier_accuracy": accuracy,
                "real_confident": real_confident, "torch": torch.__version__,
                "results": [r for r in earlier["results"] if r["run"] not in rerun] + results}
    args.out.write_text(json.dumps(document, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
