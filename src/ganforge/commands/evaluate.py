"""``ganforge evaluate RUN_DIR``: score a trained generator and append the result to metrics.jsonl.

Which metrics fit depends on the data the run was trained on (the metric registry's data kinds): images
get FID, KID, IS, PR, DC...; 2-D toy mixtures the PacGAN mode-collapse scores. ``--metrics auto`` is the
registry's default for the run's data. The work is :func:`ganforge.metrics.evaluate_run`; any checkpoint
of the run can be scored (``--step N`` / ``--checkpoint best|last|PATH``, :mod:`ganforge.checkpoints`).
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path
from typing import Any

from ganforge.checkpoints import CheckpointChoice
from ganforge.commands import Subparsers
from ganforge.commands.options import (
    add_checkpoint_flags,
    add_device_flag,
    add_extractor_weights_flags,
    add_inception_batch_flag,
    add_threads_flag,
    extractor_weights,
    inception_batch,
)
from ganforge.errors import GanforgeError
from ganforge.metrics.run import evaluate_run
from ganforge.metrics.specs import describe_values, metric_choices
from ganforge.report.table import describe_protocol
from ganforge.sampling import check_seed


class MetricNames:
    """Formats as the registered metric names (of one data kind, when given) when help is printed,
    so that building the parser imports no torch. Set it as an attribute of the argument: ``%(names)s``."""

    def __init__(self, kind: str | None = None) -> None:
        self.kind = kind

    def __str__(self) -> str:
        return metric_choices(self.kind)


def register(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "evaluate", help="score a trained run: FID, KID, IS, PR, DC for images; modes, HQ %%, reverse KL for toy2d",
        description="Score the generator of a run folder (its EMA copy when it was trained with "
                    "--ema/--ema-kimg), or any of its checkpoints, and append one JSON line to "
                    "RUN_DIR/metrics.jsonl.",
    )
    parser.add_argument("run_dir", type=Path, metavar="RUN_DIR",
                        help="a run folder (or its generator.json, or one of its checkpoints/*.pt)")
    add_checkpoint_flags(parser)
    metrics = parser.add_argument(
        "--metrics", default="auto",
        help="comma list of %(names)s (default auto: the default metrics for the run's data, fid for images, "
             "toy2d for 2-D points)")
    metrics.names = MetricNames()  # type: ignore[attr-defined]  # read by %(names)s when help is printed
    parser.add_argument("--num-samples", type=int, default=None, metavar="N",
                        help="samples to draw (default: the protocol's, 2500 for toy2d; 10000 images; the "
                             "reference uses as many unless --reference-samples); FID features run at about 7.5 "
                             "img/s on one CPU thread, so 10000 images take over 20 minutes there: the command "
                             "prints its estimate after the first batches")
    parser.add_argument("--samples", type=int, default=None, dest="samples_alias", help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=0, help="seed of the latents (default 0)")
    add_device_flag(parser)
    add_threads_flag(parser)
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    images = parser.add_argument_group("image runs")
    images.add_argument("--reference", default=None,
                        help="dataset name, image folder/zip or .npz statistics (default: the training data)")
    images.add_argument("--reference-samples", type=int, default=None, help="reference images (default: all)")
    add_extractor_weights_flags(images)
    add_inception_batch_flag(images)
    parser.set_defaults(run=run)


def summary_line(record: dict[str, Any]) -> str:
    """One line: the run, its values and the protocol they follow."""
    return (f"{record['dataset']} step {record['step']}{' (EMA)' if record['ema'] else ''}: "
            f"{describe_values(record)} ({describe_protocol(record['protocol'])}; seed {record['seed']})")


def num_samples(args: argparse.Namespace) -> int | None:
    """--num-samples; --samples is its deprecated spelling (a warning), and giving both is an error."""
    num = args.num_samples
    if args.samples_alias is not None:
        if num is not None:
            raise GanforgeError("--samples is the old name of --num-samples; pass only --num-samples")
        warnings.warn("--samples is deprecated; use --num-samples", FutureWarning, stacklevel=2)
        num = args.samples_alias
    if num is not None and num <= 0:
        raise GanforgeError(f"--num-samples must be a positive whole number, got {num}")
    return num


def run(args: argparse.Namespace) -> int:
    num = num_samples(args)
    check_seed(args.seed, "--seed")  # the latent sampler's range, the same as generate's and the page's
    if args.reference_samples is not None and args.reference_samples < 1:
        raise GanforgeError(f"--reference-samples must be a positive whole number, got {args.reference_samples}")
    record = evaluate_run(args.run_dir, args.metrics, num_samples=num, reference=args.reference,
                          reference_samples=args.reference_samples, device=args.device, seed=args.seed,
                          weights=extractor_weights(args), batch_size=inception_batch(args.batch_size),
                          progress=not args.no_progress, append=True, checkpoint=CheckpointChoice.from_args(args))
    print(summary_line(record))
    return 0
