"""Stacked MNIST (1,000 modes), quality-protocols.md section 2: ganforge's rows next to PacGAN's Table 3.

Each configuration trains for several trials on ``stacked:digits5k`` (three independently drawn digits5k
digits as R, G, B; 128,000 samples drawn once) through the library entry point
(``ganforge.training.train``, as ``ganforge train`` does), and each final generator (its EMA copy where
the run keeps one) is scored with the registered ``modes`` metric: 26,000 samples, each channel labelled
by ganforge's digits5k CNN (held-out accuracy >= 98 %, recorded), modes = distinct digit triples, KL =
KL(p_gen || uniform over 1,000). Printed in PacGAN's layout (modes, KL, mean ± s.e. over trials) under
the published rows, with the schedule stated as a fraction of the papers' 100k iterations (a GPU
schedule: at width 64 DCGAN runs about 1 step/s on 2 CPU cores).

Configurations:
- ``dcgan``: ``--preset dcgan`` at batch 64 (PacGAN's DCGAN: Adam 2e-4, beta1 0.5, batch 64). Differences
  from PacGAN's code: 32x32 images and DCGAN's 4x4 convs (theirs: 28x28, 5x5 convs, carpedm20's layout),
  Gaussian z (theirs uniform), one G step per D step (theirs two).
- ``pacdcgan2`` / ``pacdcgan4``: the same with PacGAN's packing (``--pack 2`` / ``--pack 4``), PacGAN's
  own remedy, at PacGAN's convention of 64 packed D inputs per step (batch 128 / 256 images).
- ``dcgan-ema``, ``dcgan-lr-decay``, ``dcgan-lr4e-4``: DCGAN plus one change each (the EMA of G with
  decay 0.999, ramp-up and standing BatchNorm statistics; learning rates falling linearly to 0; Adam at
  4e-4 for both networks, the default recipe's rates).
- ``best``: ganforge's chosen configuration, ``dcgan-lr4e-4``. Measured (BENCHMARKS.md): packing (4 with
  the EMA at 16 packed D inputs per step; 2 at PacGAN's 64), the EMA and a decaying learning rate all
  raised the KL; the faster learning rate lowered it on every trial.

    python benchmarks/stacked_mnist.py --configs dcgan best --seeds 0 1 2 --steps 10000 --width 32
    python benchmarks/stacked_mnist.py --configs best --budget-seconds 1800 --seeds 0 1 2
    python benchmarks/stacked_mnist.py --table benchmarks/results/stacked_mnist-*.json   # reprint saved results
    python benchmarks/stacked_mnist.py --smoke                                        # seconds
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

import torch

from ganforge.config_build import build_config
from ganforge.data import load_dataset
from ganforge.metrics import evaluate_run
from ganforge.training import train
from ganforge.training.update import Trainer
from quality_budget import seconds_per_step
from toy2d import mean_se

RESULTS = Path(__file__).resolve().parent / "results"
PAPER_ITERATIONS = 100_000

DCGAN: dict[str, Any] = {"preset": "dcgan", "batch_size": 64}
CONFIGS: dict[str, dict[str, Any]] = {
    "dcgan": DCGAN,
    # PacGAN's code feeds D 64 packed groups per step (64 * m real and fake images) and draws the fakes
    # of every group from G: the global batch is 64 * m, so each packed D input holds m fresh samples
    "pacdcgan2": {**DCGAN, "pack": 2, "batch_size": 128},
    "pacdcgan4": {**DCGAN, "pack": 4, "batch_size": 256},
    "dcgan-ema": {**DCGAN, "ema": 0.999},
    "dcgan-lr-decay": {**DCGAN, "lr_decay": "linear"},
    "dcgan-lr4e-4": {**DCGAN, "lr_g": 4e-4, "lr_d": 4e-4},  # the default recipe's learning rates
    # R3GAN's method (rpgan + R1 + R2 on its normalization-free grouped ResNet) at the CPU size of the
    # r3gan-digits preset: stage widths 64..8, gamma 0.1, batch 32, EMA half-life 10 kimg; --width is unused
    "r3gan": {"preset": "r3gan-digits"},
}
CONFIGS["best"] = CONFIGS["dcgan-lr4e-4"]
# PacGAN Table 3 (10 trials, 100k iterations) as quality-protocols.md quotes it: (modes, KL) with s.e.
# where the paper gives one.
PUBLISHED = {
    "DCGAN (PacGAN paper)": ("78.9 ± 6.46", "4.50 ± 0.127"),
    "PacDCGAN2 (paper)": ("1000", "0.06"),
    "PacDCGAN4 (paper)": ("1000", "0.07"),
}


def steps_for(args: argparse.Namespace, config: Any) -> int:
    """``--steps``, or the steps a ``--budget-seconds`` buys at the seconds per step a short probe measures."""
    if args.steps:
        return int(args.steps)
    trainer = Trainer(config, load_dataset(config.data), torch.device("cpu"))
    return max(1, int(args.budget_seconds / seconds_per_step(trainer.train_step)))


def run_trial(args: argparse.Namespace, name: str, seed: int, root: Path) -> dict[str, Any]:
    sizes = {"width": args.width, "precision": args.precision, "channels_last": args.channels_last,
             **({"batch_size": args.batch_size} if args.batch_size else {})}
    layers = (CONFIGS[name], sizes, {"data": f"stacked:{args.base}", "seed": seed, "device": "cpu",
                                     "cache_dir": str(args.cache_dir) if args.cache_dir else None})
    steps = steps_for(args, build_config(*layers))
    run_dir = root / f"{name}-{seed}"
    config = build_config(*layers, {"steps": steps, "run_dir": str(run_dir), "sample_every": steps,
                                    "checkpoint_every": steps, "log_every": max(1, steps // 100)})
    started = time.perf_counter()
    train(config, progress=False)
    seconds = time.perf_counter() - started
    record = evaluate_run(run_dir, "modes", num_samples=args.num_samples, seed=seed, device="cpu",
                          cache_dir=args.cache_dir)
    if seed == args.seeds[0]:
        args.grids.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(run_dir / "samples" / "final.png", args.grids / f"stacked-{name}.png")
    return {"config": name, "seed": seed, "steps": steps, "seconds": round(seconds, 1), "width": config.model_options.get("stage_widths") or config.width,
            "batch_size": config.batch_size, "precision": config.precision, "modes": record["stacked_modes"], "kl": record["stacked_kl"],
            "num_samples": record["protocol"]["num_fake"],
            "held_out_accuracy": record["protocol"]["modes"]["held_out_accuracy"]}


def table(results: list[dict[str, Any]]) -> str:
    """Markdown in PacGAN's Table 3 layout, the published rows first."""
    lines = ["| model | modes (max 1000) | KL | iterations | trials | samples | wall time / trial |",
             "|---|---|---|---|---|---|---|"]
    for label, (modes, kl) in PUBLISHED.items():
        lines.append(f"| {label} | {modes} | {kl} | {PAPER_ITERATIONS // 1000}k (GPU) | 10 | 26,000 | - |")
    for name in dict.fromkeys(r["config"] for r in results):
        rows = [r for r in results if r["config"] == name]
        modes, modes_se = mean_se([r["modes"] for r in rows])
        kl, kl_se = mean_se([r["kl"] for r in rows])
        steps = sorted({r["steps"] for r in rows})
        fraction = ", ".join(f"{s:,} = {100 * s / PAPER_ITERATIONS:.1f} % of 100k" for s in steps)
        # one trial has no spread: print its value alone rather than a "± 0" that claims one
        modes_text = f"{modes:.1f} ± {modes_se:.1f}" if len(rows) > 1 else f"{modes:.0f}"
        kl_text = f"{kl:.3f} ± {kl_se:.3f}" if len(rows) > 1 else f"{kl:.3f}"
        lines.append(f"| ganforge {name} (width {rows[0]['width']}, batch {rows[0]['batch_size']}) | "
                     f"{modes_text} | {kl_text} | {fraction} | {len(rows)} | "
                     f"{rows[0]['num_samples']:,} | {mean_se([r['seconds'] for r in rows])[0] / 60:.1f} min |")
    return "\n".join(lines)


def save_results(args: argparse.Namespace, argv: list[str] | None, results: list[dict[str, Any]]) -> None:
    command = "python benchmarks/stacked_mnist.py " + " ".join(sys.argv[1:] if argv is None else argv)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"command": command.strip(), "configs": {k: CONFIGS[k] for k in args.configs},
                                    "torch": torch.__version__, "threads": torch.get_num_threads(),
                                    "results": results}, indent=2, default=list) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", nargs="+", default=["dcgan", "best"], choices=list(CONFIGS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="one trial per seed")
    parser.add_argument("--steps", type=int, default=None, help="iterations per trial (default: 5,000)")
    parser.add_argument("--budget-seconds", type=float, default=None,
                        help="training wall time per trial instead of --steps (converted by a probe)")
    parser.add_argument("--width", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=None, help="override the configurations' 64")
    parser.add_argument("--precision", default="fp32", choices=["fp32", "bf16"],
                        help="bf16: autocast, about 1.6x the steps per second on this CPU")
    parser.add_argument("--channels-last", action="store_true", help="NHWC layout (with bf16: the fast path)")
    parser.add_argument("--base", default="digits5k", choices=["digits5k", "mnist"], help="stacked:BASE")
    parser.add_argument("--num-samples", type=int, default=None, help="samples scored (default: the 26,000)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--cache-dir", type=Path, default=None)
    parser.add_argument("--grids", type=Path, default=RESULTS, help="folder for the first trial's grids")
    parser.add_argument("--out", type=Path, default=RESULTS / "stacked_mnist.json")
    parser.add_argument("--table", type=Path, nargs="+", default=None, metavar="JSON",
                        help="only print the table of earlier result files")
    parser.add_argument("--smoke", action="store_true", help="2 steps at width 4, 64 samples scored")
    args = parser.parse_args(argv)
    if args.table:
        print(table([r for path in args.table for r in json.loads(path.read_text())["results"]]))
        return 0
    if args.smoke:
        args.steps, args.width, args.batch_size, args.seeds, args.num_samples = 2, 4, 8, [0], 64
    elif args.steps is None and args.budget_seconds is None:
        args.steps = 5000
    if args.threads:
        torch.set_num_threads(args.threads)
    results = []
    with tempfile.TemporaryDirectory(prefix="ganforge-stacked-") as tmp:
        for name in args.configs:
            for seed in args.seeds:
                record = run_trial(args, name, seed, Path(tmp))
                results.append(record)
                print(f"{name} seed {seed}: modes {record['modes']}/1000, KL {record['kl']:.3f} "
                      f"({record['steps']} it, {record['seconds']:.0f}s)", flush=True)
                save_results(args, argv, results)  # after every trial: a long benchmark stopped keeps its trials
    print()
    print(table(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
