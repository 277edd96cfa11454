"""What each ingredient of the default recipe contributes on digits5k: one change per row, FD_digits.

Each row is a set of config keys over the textbook DCGAN loop (``presets.TEXTBOOK`` over the defaults:
width 64, lr 2e-4, fp32, NCHW, no EMA) or over the recipe; it trains through ``Trainer.train_step`` (the
update ``ganforge train`` runs) for ``--steps`` steps, or for the steps a ``--budget-seconds`` buys at the
seconds per step a short probe measures. The raw G and, where the row keeps one, its EMA copy (standing
BatchNorm statistics) are scored with FD_digits: the Fréchet distance of 2,000 samples to all 5,000
digits5k images in the digits5k CNN's feature space (cheap, NOT FID; same seeded latents for every row).
This is the screen the recipe was chosen with; ``quality_budget.py`` then measures the chosen recipe
with FID at equal wall time.

    python benchmarks/recipe_ablation.py --steps 3000 --seeds 0 1 --rows recipe-lr2e-4 recipe
    python benchmarks/recipe_ablation.py --budget-seconds 240 --seeds 0 --rows textbook textbook+bf16
    python benchmarks/recipe_ablation.py --smoke                      # seconds: the script still runs
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ganforge.config_build import build_config
from ganforge.data import load_dataset
from ganforge.metrics import score_generator
from ganforge.presets import TEXTBOOK
from ganforge.training.update import Trainer
from quality_budget import seconds_per_step
from toy2d import mean_se

RESULTS = Path(__file__).resolve().parent / "results"
SPEED = {"precision": "bf16", "channels_last": True}
RECIPE: dict[str, Any] = {}  # the defaults themselves
ROWS: dict[str, dict[str, Any]] = {
    "textbook": {**TEXTBOOK},
    "textbook+ema": {**TEXTBOOK, "ema": 0.999},
    "textbook+ema+bf16": {**TEXTBOOK, "ema": 0.999, **SPEED},
    "textbook+ema+width32": {**TEXTBOOK, "ema": 0.999, "width": 32},
    "recipe-lr2e-4": {**RECIPE, "lr_g": 2e-4, "lr_d": 2e-4, **SPEED},
    "recipe": {**RECIPE, **SPEED},
    "recipe+lr8e-4": {**RECIPE, **SPEED, "lr_g": 8e-4, "lr_d": 8e-4},
    "recipe-lr2e-4+hinge": {**RECIPE, **SPEED, "lr_g": 2e-4, "lr_d": 2e-4, "loss": "hinge"},
    "recipe+hinge": {**RECIPE, **SPEED, "loss": "hinge"},
    "recipe-lr2e-4+betas0": {**RECIPE, **SPEED, "lr_g": 2e-4, "lr_d": 2e-4, "betas": (0.0, 0.99)},
    "recipe-lr2e-4+diffaug": {**RECIPE, **SPEED, "lr_g": 2e-4, "lr_d": 2e-4, "augment": "diffaug"},
    "recipe-lr2e-4+batch128": {**RECIPE, **SPEED, "lr_g": 2e-4, "lr_d": 2e-4, "batch_size": 128},
    "recipe-lr2e-4+width16": {**RECIPE, **SPEED, "lr_g": 2e-4, "lr_d": 2e-4, "width": 16},
}


def train_row(overrides: dict[str, Any], args: argparse.Namespace, seed: int,
              dataset: Any) -> tuple[dict[str, nn.Module], int, float]:
    """The row's trained generators (raw G, and its EMA copy when kept), its steps and training seconds."""
    layers = [{"data": "digits5k", "device": "cpu", "seed": seed}, overrides, args.sizes]
    steps = args.steps
    if not steps:
        probe = Trainer(build_config(*layers), dataset, torch.device("cpu"))
        steps = max(1, int(args.budget_seconds / seconds_per_step(probe.train_step)))
    trainer = Trainer(build_config(*layers, {"steps": steps}), dataset, torch.device("cpu"))
    started = time.perf_counter()
    for _ in range(steps):
        trainer.train_step()
    seconds = time.perf_counter() - started
    generators = {"raw G": trainer.generator}
    if trainer.generator_ema is not None:
        generators["EMA"] = trainer.sampling_generator  # standing statistics recomputed for its weights
    return generators, steps, seconds


def score(generator: nn.Module, args: argparse.Namespace) -> float:
    generator.eval()
    result = score_generator(generator, "fd_digits", data="digits5k", num_samples=args.samples, seed=123,
                             cache_dir=args.cache_dir)
    return float(result["fd_digits"])


def table(records: list[dict[str, Any]]) -> str:
    lines = ["| row | steps | s/step | FD_digits raw G | FD_digits EMA | seeds |", "|---|---|---|---|---|---|"]
    for row in dict.fromkeys(r["row"] for r in records):
        rows = [r for r in records if r["row"] == row]
        cells = []
        for key in ("raw G", "EMA"):
            values = [r["fd"][key] for r in rows if key in r["fd"]]
            cells.append("-" if not values else "{:.2f} ± {:.2f}".format(*mean_se(values)))
        steps = "/".join(str(s) for s in sorted({r["steps"] for r in rows}))
        per_step = mean_se([r["seconds"] / r["steps"] for r in rows])[0]
        lines.append(f"| {row} | {steps} | {per_step:.3f} | {cells[0]} | {cells[1]} | {len(rows)} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", nargs="+", default=["textbook", "recipe-lr2e-4", "recipe"], choices=list(ROWS))
    parser.add_argument("--steps", type=int, default=None, help="steps per row (default: --budget-seconds)")
    parser.add_argument("--budget-seconds", type=float, default=240.0, help="training time per row (probe)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--samples", type=int, default=2000, help="generated samples per FD_digits")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--cache-dir", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=RESULTS / "recipe_ablation.json")
    parser.add_argument("--smoke", action="store_true", help="2 steps at width 4, 32 samples")
    args = parser.parse_args(argv)
    args.sizes = {}
    if args.smoke:
        args.steps, args.samples, args.seeds, args.sizes = 2, 32, [0], {"width": 4, "batch_size": 8}
    torch.set_num_threads(args.threads)
    dataset = load_dataset("digits5k")
    records = []
    for seed in args.seeds:
        for row in args.rows:
            generators, steps, seconds = train_row(ROWS[row], args, seed, dataset)
            fd = {name: score(generator, args) for name, generator in generators.items()}
            records.append({"row": row, "seed": seed, "steps": steps, "seconds": round(seconds, 1), "fd": fd})
            print(f"seed {seed} {row}: {steps} steps in {seconds:.0f}s; "
                  + ", ".join(f"{k} {v:.2f}" for k, v in fd.items()), flush=True)
    print()
    print(table(records))
    command = "python benchmarks/recipe_ablation.py " + " ".join(sys.argv[1:] if argv is None else argv)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"command": command.strip(), "rows": {r: ROWS[r] for r in args.rows},
                                    "threads": args.threads, "results": records}, indent=2, default=list) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
