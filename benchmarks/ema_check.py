"""Which BatchNorm statistics the EMA generator should use: one training run, every ``--ema-bn`` choice.

One DCGAN is trained (``Trainer.train_step``, the update ``ganforge train`` runs) while EMA copies of its
generator are kept side by side, all with the same decay: ``standing`` (statistics recomputed for the
averaged weights), ``averaged`` (an EMA of the running statistics) and ``live`` (the training G's), each
with the ramp-up (``--ema-rampup``), plus the EMA as it was before (``live`` statistics, no ramp-up).
Every copy and the raw generator are scored on the same seeded latents with FD_digits (the cheap
digit-classifier Fréchet distance, not FID) and, with ``--fid-samples``, FID against digits5k.

    python benchmarks/ema_check.py                                   # 600 steps, width 32, seeds 0 1
    python benchmarks/ema_check.py --steps 1500 --width 64 --fid-samples 1000 --seeds 0 1 2
    python benchmarks/ema_check.py --smoke                           # seconds: the script still runs
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

from ganforge.config import EMA_BN_MODES
from ganforge.config_build import build_config
from ganforge.data import load_dataset
from ganforge.metrics import score_generator
from ganforge.training.ema import (
    STANDING_SEED_OFFSET,
    make_ema,
    ramped_beta,
    standing_latents,
    standing_statistics,
    update_ema,
)
from ganforge.training.update import Trainer
from toy2d import mean_se

OLD = "live, no ramp-up"  # the EMA ganforge had before --ema-rampup / --ema-bn


def train_with_copies(config: Any, dataset: Any) -> tuple[dict[str, nn.Module], float]:
    """Train ``config``; return the raw G and one EMA copy per statistics choice, and the seconds taken."""
    trainer = Trainer(config, dataset, torch.device("cpu"))
    G = trainer.generator
    copies = {mode: make_ema(G) for mode in EMA_BN_MODES}
    copies[OLD] = make_ema(G)
    started = time.perf_counter()
    for step in range(config.steps):
        trainer.train_step()
        beta = ramped_beta(trainer.ema_beta, config.batch_size, step * config.batch_size, config.ema_rampup)
        for mode in EMA_BN_MODES:
            update_ema(copies[mode], G, beta, bn=mode)
        update_ema(copies[OLD], G, trainer.ema_beta, bn="live")
    seconds = time.perf_counter() - started
    latents = standing_latents(config.z_dim, config.batch_size, config.seed + STANDING_SEED_OFFSET,
                               torch.device("cpu"))
    standing_statistics(copies["standing"], latents)
    return {"raw G (no EMA)": G, **{f"EMA, {mode}": copies[mode] for mode in EMA_BN_MODES},
            f"EMA, {OLD}": copies[OLD]}, seconds


def score(generator: nn.Module, metrics: str, samples: int, reference_samples: int | None,
          cache_dir: Path | None) -> dict[str, float]:
    result = score_generator(generator, metrics, data="digits5k", num_samples=samples,
                             reference_samples=reference_samples, seed=123, cache_dir=cache_dir)
    return {key: float(value) for key, value in result.items() if key in ("fd_digits", "fid")}


def summary(values: list[float]) -> str:
    mean, se = mean_se(values)
    return f"{mean:.2f} ± {se:.2f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--width", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--ema", type=float, default=0.999, help="per-step decay of every copy")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--fd-samples", type=int, default=2000, help="samples for FD_digits (reference: all)")
    parser.add_argument("--fid-samples", type=int, default=0, help="samples for FID too (0: no FID)")
    parser.add_argument("--fid-for", nargs="+", default=None,
                        help="generators to compute FID for (default: all); names as printed")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--cache-dir", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    parser.add_argument("--smoke", action="store_true", help="a few steps at width 4: checks the script runs")
    args = parser.parse_args(argv)
    if args.smoke:
        args.steps, args.width, args.batch_size, args.seeds, args.fd_samples = 3, 4, 8, [0], 20
    torch.set_num_threads(args.threads)
    dataset = load_dataset("digits5k")
    rows: dict[str, dict[str, list[float]]] = {}
    for seed in args.seeds:
        config = build_config({"model": "dcgan", "data": "digits5k", "width": args.width, "steps": args.steps,
                               "batch_size": args.batch_size, "ema": args.ema, "seed": seed, "device": "cpu"})
        copies, seconds = train_with_copies(config, dataset)
        args.fid_for = args.fid_for or list(copies)
        print(f"seed {seed}: {args.steps} steps in {seconds:.0f}s", flush=True)
        for name, generator in copies.items():
            values = score(generator, "fd_digits", args.fd_samples, None, args.cache_dir)
            if args.fid_samples and name in args.fid_for:
                values.update(score(generator, "fid", args.fid_samples, args.fid_samples, args.cache_dir))
            print(f"  {name:28s} " + "  ".join(f"{k} {v:.2f}" for k, v in values.items()), flush=True)
            for key, value in values.items():
                rows.setdefault(name, {}).setdefault(key, []).append(value)
    keys = [key for key in ("fd_digits", "fid") if any(key in row for row in rows.values())]
    print(f"\nDCGAN width {args.width}, batch {args.batch_size}, {args.steps} steps, EMA decay {args.ema} "
          f"(ramp-up {config.ema_rampup}); FD_digits on {args.fd_samples} samples vs all digits5k"
          + (f", FID on {args.fid_samples} vs {args.fid_samples} real" if args.fid_samples else "")
          + f"; mean ± s.e. over seeds {args.seeds}")
    print(f"| generator | {' | '.join(keys)} |\n|---|{'---|' * len(keys)}")
    for name, row in rows.items():
        print(f"| {name} | " + " | ".join(summary(row[key]) for key in keys) + " |")
    if args.out:
        command = "python benchmarks/ema_check.py " + " ".join(sys.argv[1:] if argv is None else argv)
        args.out.write_text(json.dumps({"command": command.strip(), "results": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
