"""``ganforge fid A B``: FID (or any image metric) between two image sets (folders, zips, .npz statistics or
dataset names), through the one scoring path :func:`ganforge.metrics.evaluate.score_images`."""

from __future__ import annotations

import argparse
import json
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ganforge.commands import Subparsers
from ganforge.commands.evaluate import MetricNames
from ganforge.commands.options import (
    add_device_flag,
    add_extractor_weights_flags,
    add_inception_batch_flag,
    add_threads_flag,
    extractor_weights,
    inception_batch,
)
from ganforge.devices import resolve_device
from ganforge.errors import GanforgeError
from ganforge.metrics.evaluate import score_images
from ganforge.metrics.reference import load_stats
from ganforge.metrics.specs import value_title

SIDES = {"num_real": "num_a", "num_fake": "num_b", "skipped_real": "skipped_a", "skipped_fake": "skipped_b"}


def register(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "fid", help="FID (or FD_DINOv2, KID...) between two image folders, zips or saved .npz statistics",
        description="Fréchet Inception Distance between A and B, each an image folder (searched recursively), "
                    "a .zip of images, a statistics .npz (from `ganforge stats` or pytorch-fid) or a dataset "
                    "name such as digits5k. Protocol: FID Inception (TF 2015-12-05) pool3, uint8 images, "
                    "TF1 legacy bilinear resize to 299, (x-128)/128, float64 statistics with N-1. "
                    "--metrics fd_dinov2 measures FD_DINOv2 (DINOv2 ViT-L/14 CLS features, bicubic to 224, "
                    "ImageNet normalisation) with --extractor-weights dinov2=PATH. "
                    "A is treated as the reference: its features are cached, so comparing many B against "
                    "the same A extracts A only once.")
    parser.add_argument("a", metavar="A", help="reference: folder, .zip, .npz statistics or dataset name")
    parser.add_argument("b", metavar="B", help="images to score: folder, .zip, .npz statistics or dataset name")
    metrics = parser.add_argument("--metrics", default="fid",
                                  help="comma-separated metrics among %(names)s (default fid; all but the Fréchet "
                                       "distances need images, not .npz statistics)")
    metrics.names = MetricNames("image")  # type: ignore[attr-defined]  # read by %(names)s in --help
    add_inception_batch_flag(parser)
    add_extractor_weights_flags(parser)
    add_device_flag(parser)
    add_threads_flag(parser)
    parser.add_argument("--cache-dir", type=Path, default=None,
                        help="cache folder (default: $GANFORGE_CACHE or ~/.cache/ganforge)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    parser.set_defaults(run=run)


def _is_stats_file(arg: str) -> bool:
    return arg.lower().endswith(".npz")


def _as_sides(protocol: Mapping[str, Any]) -> dict[str, Any]:
    """The scoring protocol with its real/fake counts named after A and B (sections too)."""
    return {SIDES.get(key, key): _as_sides(value) if isinstance(value, Mapping) else value
            for key, value in protocol.items()}


def _describe(side: str, name: str, protocol: Mapping[str, Any]) -> str:
    skipped = protocol.get(f"skipped_{side.lower()}")
    cached = ", from cache" if side == "A" and protocol.get("reference_cached") else ""
    return (f"{side}: {name}, N={protocol.get(f'num_{side.lower()}') or 'unknown'}"
            f"{f', {skipped} unreadable skipped' if skipped else ''}{cached}")


def run(args: argparse.Namespace) -> int:
    # Notes (small N, skipped files) are part of the printed report; do not repeat them as Python warnings.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    weights = extractor_weights(args)
    batch_size = inception_batch(args.batch_size)
    for arg in (args.a, args.b):
        if _is_stats_file(arg) and not Path(arg).expanduser().is_file():
            raise GanforgeError(f"statistics file '{arg}' does not exist")
    images = load_stats(args.b) if _is_stats_file(args.b) else args.b
    result = score_images(images, args.metrics, args.a, weights=weights, batch_size=batch_size,
                          device=str(resolve_device(args.device)), cache_dir=args.cache_dir,
                          progress=not args.no_progress)
    protocol = _as_sides(result.pop("protocol"))
    report = {**result, "protocol": protocol}
    if args.json:
        print(json.dumps(report, indent=None, default=str))
        return 0
    for name, value in result.items():
        print(f"{value_title(name)}: {value:.6g}")
    _print_protocol(args, protocol)
    return 0


def _print_protocol(args: argparse.Namespace, protocol: Mapping[str, Any], indent: str = "  ") -> None:
    if "num_a" in protocol:
        print(_describe("A", args.a, protocol))
        print(_describe("B", args.b, protocol))
    hidden = {"warnings", *SIDES.values()}
    for key, value in protocol.items():
        if isinstance(value, Mapping):
            print(f"{indent}{key}:")
            _print_protocol(args, value, indent + "  ")
        elif key not in hidden:
            print(f"{indent}{key}: {value}")
    for warning in protocol.get("warnings", []):
        print(f"{indent}warning: {warning}")
