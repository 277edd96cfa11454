"""``ganforge fid A B``: FID between two image sets (folders, zips, .npz statistics or dataset names)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, cast

from ganforge.commands import Subparsers
from ganforge.commands.evaluate import MetricNames
from ganforge.commands.options import add_device_flag, add_inception_batch_flag, add_threads_flag

if TYPE_CHECKING:
    from ganforge.metrics.extractor import FeatureExtractor, FeatureSet


def register(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "fid", help="FID between two image folders, zips or saved .npz statistics",
        description="Fréchet Inception Distance between A and B, each an image folder (searched recursively), "
                    "a .zip of images, a statistics .npz (from `ganforge stats` or pytorch-fid) or a dataset "
                    "name such as digits5k. Protocol: FID Inception (TF 2015-12-05) pool3, uint8 images, "
                    "TF1 legacy bilinear resize to 299, (x-128)/128, float64 statistics with N-1. "
                    "A is treated as the reference: its features are cached, so comparing many B against "
                    "the same A extracts A only once.")
    parser.add_argument("a", metavar="A", help="reference: folder, .zip, .npz statistics or dataset name")
    parser.add_argument("b", metavar="B", help="images to score: folder, .zip, .npz statistics or dataset name")
    metrics = parser.add_argument("--metrics", default="fid",
                                  help="comma-separated metrics among %(names)s (default fid; all but fid "
                                       "need images, not .npz statistics)")
    metrics.names = MetricNames("inception")  # type: ignore[attr-defined]  # read by %(names)s in --help
    add_inception_batch_flag(parser)
    parser.add_argument("--inception-weights", type=Path, default=None, metavar="PATH",
                        help="FID Inception weights: pytorch-fid .pth or NVIDIA TorchScript "
                             "(default: $GANFORGE_INCEPTION_WEIGHTS, the cache, or a download)")
    add_device_flag(parser)
    add_threads_flag(parser)
    parser.add_argument("--cache-dir", type=Path, default=None,
                        help="cache folder (default: $GANFORGE_CACHE or ~/.cache/ganforge)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    parser.set_defaults(run=run)


def _is_stats_file(arg: str) -> bool:
    return arg.lower().endswith(".npz")


def _describe(side: str, fs: FeatureSet) -> str:
    origin = fs.protocol.get("weights_sha256")
    note = "" if origin else " (no protocol fields: not written by ganforge, assumed compatible)"
    skipped = f", {len(fs.skipped)} unreadable skipped" if fs.skipped else ""
    cached = ", from cache" if fs.from_cache else ""
    return f"{side}: {fs.description}, N={fs.count or 'unknown'}{skipped}{cached}{note}"


def run(args: argparse.Namespace) -> int:
    import warnings


    # Notes (small N, skipped files) are part of the printed report; do not repeat them as Python warnings.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    from ganforge.commands.options import inception_batch
    from ganforge.devices import resolve_device
    from ganforge.errors import GanforgeError
    from ganforge.metrics.evaluate import compute_metrics
    from ganforge.metrics.extractor import get_extractor
    from ganforge.metrics.reference import load_stats, reference_features
    from ganforge.metrics.specs import resolve_metrics, value_title

    specs = resolve_metrics(args.metrics)
    other = [spec.name for spec in specs if spec.extractor != "inception"]
    if other:
        raise GanforgeError(f"`ganforge fid` computes Inception metrics only; {', '.join(other)} is available "
                            "in evaluations of runs (evaluate_generator)")
    batch_size = inception_batch(args.batch_size)
    device = resolve_device(args.device)
    for arg in (args.a, args.b):
        if _is_stats_file(arg) and not Path(arg).expanduser().is_file():
            raise GanforgeError(f"statistics file '{arg}' does not exist")
    need_logits = any(spec.needs_logits for spec in specs)
    extractor: FeatureExtractor | None = None
    if not (_is_stats_file(args.a) and _is_stats_file(args.b)):
        extractor = get_extractor(args.inception_weights, need_logits=need_logits, device=str(device),
                                  batch_size=batch_size, cache_dir=args.cache_dir)
        if need_logits:
            extractor.require_logits()
    progress = not args.no_progress

    if _is_stats_file(args.a):
        real = load_stats(args.a)
    else:
        real = reference_features(args.a, extractor=extractor, cache_dir=args.cache_dir, progress=progress)
    if _is_stats_file(args.b):
        fake = load_stats(args.b)
    else:
        assert extractor is not None  # built above: B is not a statistics file
        fake = extractor.extract(args.b, with_logits=need_logits, progress=progress,
                                 description=f"{args.b}")
    _check_compatible(real, fake)
    values, protocol = compute_metrics(specs, real, fake)

    base = extractor.protocol() if extractor else {k: v for k, v in real.protocol.items() if k != "reference_key"}
    report_protocol = {**base, "num_a": real.count, "num_b": fake.count,
                       "skipped_a": len(real.skipped), "skipped_b": len(fake.skipped), **protocol}
    report = {**values, "protocol": report_protocol}
    if args.json:
        print(json.dumps(report, indent=None, default=str))
        return 0
    for name, value in values.items():
        print(f"{value_title(name)}: {value:.6g}")
    print(_describe("A", real))
    print(_describe("B", fake))
    shown = {k: v for k, v in report_protocol.items()
             if k not in ("num_a", "num_b", "skipped_a", "skipped_b", "warnings")}
    for key, value in shown.items():
        print(f"  {key}: {value}")
    for warning in cast("list[str]", protocol.get("warnings", [])):  # compute_metrics' notes
        print(f"  warning: {warning}")
    return 0


def _check_compatible(a: FeatureSet, b: FeatureSet) -> None:
    from ganforge.errors import GanforgeError

    for field in ("weights_sha256", "resize"):
        va, vb = a.protocol.get(field), b.protocol.get(field)
        if va and vb and va != vb:
            raise GanforgeError(f"A and B were made with different {field} ({str(va)[:16]} vs {str(vb)[:16]}); "
                                "their features are not comparable")
    if a.stats.mu.shape != b.stats.mu.shape:
        raise GanforgeError(f"A has {a.stats.mu.shape[0]}-d features, B {b.stats.mu.shape[0]}-d")
