"""``ganforge evaluate RUN_DIR``: score a trained generator and append the result to metrics.jsonl.

What is measured depends on the data the run was trained on (``data_kind``): 2-D toy mixtures get the
PacGAN mode-collapse metrics; image metrics plug in as another entry of ``EVALUATORS``.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "evaluate", help="score a trained run: FID, KID, IS, PR, DC for images; modes, HQ %%, reverse KL for toy2d",
        description="Score the generator of a finished run folder (its EMA copy when it was trained with "
                    "--ema/--ema-kimg) and append one JSON line to RUN_DIR/metrics.jsonl.",
    )
    parser.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="a run folder with generator.json")
    parser.add_argument("--samples", type=int, default=None,
                        help="samples to draw (default: the protocol's, 2500 for toy2d)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the latents (default 0)")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda (default auto)")
    images = parser.add_argument_group("image runs")
    images.add_argument("--metrics", default="fid", help="comma list of fid, kid, is, pr, dc or 'all' (default fid)")
    images.add_argument("--num-samples", type=int, default=None,
                        help="generated images (default 10000; the reference uses as many unless --reference-samples)")
    images.add_argument("--reference", default=None,
                        help="dataset name, image folder/zip or .npz statistics (default: the training data)")
    images.add_argument("--reference-samples", type=int, default=None, help="reference images (default: all)")
    images.add_argument("--inception-weights", default=None, help="Inception weight file (see docs)")
    images.add_argument("--batch-size", type=int, default=50, help="images per Inception batch (default 50)")
    parser.set_defaults(run=run)


def evaluate_toy2d(generator, info, args: argparse.Namespace, device) -> dict[str, Any]:
    from ganforge.metrics.toy2d import PROTOCOL_SAMPLES, score_generator

    scores = score_generator(generator, info.meta["dataset"], args.samples or PROTOCOL_SAMPLES, seed=args.seed,
                             num_classes=info.spec.num_classes, device=device)
    return {"protocol": "pacgan-2d", **scores.to_dict()}


def format_toy2d(record: dict[str, Any]) -> str:
    kl = record["reverse_kl"]
    kl_text = "undefined (no high-quality sample)" if kl is None else f"{kl:.4f}"
    return (f"{record['dataset']} step {record['step']}{' (EMA)' if record['ema'] else ''}: "
            f"modes {record['modes']}/{record['num_modes']}, high quality {100 * record['high_quality']:.1f}%, "
            f"reverse KL {kl_text} ({record['samples']} samples, seed {record['seed']})")


IMAGE_DEFAULT_SAMPLES = 10_000


def evaluate_image_run(generator, info, args: argparse.Namespace, device) -> dict[str, Any]:
    """Inception metrics of the run's generator (the EMA copy when saved so) against its reference."""
    from ganforge.errors import GanforgeError
    from ganforge.metrics import evaluate_generator, generator_sampler
    from ganforge.metrics.reference import load_stats

    num = args.num_samples if args.num_samples is not None else args.samples or IMAGE_DEFAULT_SAMPLES
    if num < 2:
        raise GanforgeError(f"--num-samples must be at least 2, got {num}")
    reference = args.reference or str(info.meta.get("dataset"))
    if reference.endswith(".npz"):
        reference = load_stats(reference)
    config = info.meta.get("config") or {}
    result = evaluate_generator(
        generator_sampler(generator, seed=args.seed, device=device), num, args.metrics, reference=reference,
        resolution=info.spec.resolution, reference_samples=args.reference_samples, weights=args.inception_weights,
        batch_size=args.batch_size, device=str(device),
        cache_dir=Path(config["cache_dir"]) if config.get("cache_dir") else None, progress=True,
    )
    return {"source": "evaluate", **result}


def format_image(record: dict[str, Any]) -> str:
    protocol = record["protocol"]
    names = ("fid", "kid", "kid_std", "is", "is_std", "precision", "recall", "density", "coverage")
    values = ", ".join(f"{k} {record[k]:.4g}" for k in names if record.get(k) is not None)
    return (f"{record['dataset']} step {record['step']}{' (EMA)' if record['ema'] else ''}: {values} "
            f"({protocol.get('num_fake')} generated vs {protocol.get('num_real', '-')} reference images, "
            f"{protocol.get('resize')}, weights {str(protocol.get('weights_sha256', ''))[:12]})")


# data kind -> (measure(generator, info, args, device) -> fields, one-line summary of the record)
EVALUATORS: dict[str, tuple[Callable[..., dict[str, Any]], Callable[[dict[str, Any]], str]]] = {
    "toy2d": (evaluate_toy2d, format_toy2d),
    "image": (evaluate_image_run, format_image),
}


def append_jsonl(path: Path, record: dict[str, Any]) -> None:
    """One JSON object per line, appended and flushed so earlier evaluations are never rewritten."""
    with open(path, "a") as handle:
        handle.write(json.dumps(record) + "\n")


def evaluate_run(args: argparse.Namespace) -> dict[str, Any]:
    """Measure the run's generator; returns the record that ``run`` prints and appends."""
    from ganforge.devices import resolve_device
    from ganforge.errors import GanforgeError
    from ganforge.models import load_generator

    if args.samples is not None and args.samples <= 0:
        raise GanforgeError(f"--samples must be a positive whole number, got {args.samples}")
    device = resolve_device(args.device)
    generator, info = load_generator(args.run_dir, device)
    dataset = str(info.meta.get("dataset", ""))
    from ganforge.config import data_kind

    kind = data_kind(dataset)
    if kind not in EVALUATORS:
        raise GanforgeError(f"ganforge evaluate does not measure {kind} runs yet ({args.run_dir} was trained "
                            f"on {dataset}); it supports: {', '.join(EVALUATORS)}")
    measure, _ = EVALUATORS[kind]
    fields = measure(generator, info, args, device)
    return {"kind": kind, "dataset": dataset, "step": info.meta.get("step"), "ema": bool(info.meta.get("ema")),
            "seed": args.seed, **fields, "time": time.strftime("%Y-%m-%dT%H:%M:%S")}


def run(args: argparse.Namespace) -> int:
    from ganforge.training.rundir import RunPaths

    record = evaluate_run(args)
    print(EVALUATORS[record["kind"]][1](record))
    append_jsonl(RunPaths(Path(args.run_dir).expanduser()).metrics, record)
    return 0
