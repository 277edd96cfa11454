"""``ganforge stats DATASET --out FILE.npz``: reference statistics (mu, sigma, N + protocol) of a dataset, on the
features of any registered extractor (FID Inception by default, ``--extractor dinov2`` for FD_DINOv2)."""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

from ganforge.commands import Subparsers
from ganforge.commands.options import (
    ExtractorNames,
    add_device_flag,
    add_extractor_weights_flags,
    add_inception_batch_flag,
    add_threads_flag,
    extractor_weights,
    inception_batch,
)
from ganforge.data import split_spec
from ganforge.data.base import IMAGE
from ganforge.devices import resolve_device
from ganforge.errors import GanforgeError
from ganforge.metrics.extractor import ExtractorSettings
from ganforge.metrics.extractors import EXTRACTORS
from ganforge.metrics.reference import reference_features, save_stats
from ganforge.metrics.specs import kind_metrics


def register(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "stats", help="save FID reference statistics (mu, sigma, N, protocol) of a dataset to .npz",
        description="Extract features (FID Inception pool3 unless --extractor) of DATASET (a dataset name such as digits5k, or a "
                    "folder / .zip of images) and save mu, sigma (float64, N-1), N and the protocol fields "
                    "(weights sha256, resize rule, ...) to an .npz that `ganforge fid` and pytorch-fid read.")
    parser.add_argument("dataset", metavar="DATASET", help="dataset name (see `ganforge data list`), folder or .zip")
    parser.add_argument("--out", type=Path, required=True, metavar="FILE.npz", help="statistics file to write")
    parser.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    parser.add_argument("--resolution", type=int, default=None,
                        help="load the dataset at this side length first, like the generator sees it "
                             "(default: native)")
    parser.add_argument("--split", default="train", help="dataset split (default train)")
    parser.add_argument("--num-samples", type=int, default=None,
                        help="a seeded random subset of this many images (default: all)")
    parser.add_argument("--save-features", action="store_true",
                        help="also store the per-image features (needed for KID / PR / DC from the file)")
    extractor = parser.add_argument("--extractor", default=None, metavar="NAME",
                                    help="feature extractor (default: that of FID); one of %(names)s")
    extractor.names = ExtractorNames()  # type: ignore[attr-defined]  # read by %(names)s when help is printed
    add_inception_batch_flag(parser)
    add_extractor_weights_flags(parser)
    add_device_flag(parser)
    add_threads_flag(parser)
    parser.add_argument("--cache-dir", type=Path, default=None,
                        help="cache folder (default: $GANFORGE_CACHE or ~/.cache/ganforge)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.set_defaults(run=run)


def _check_arguments(args: argparse.Namespace) -> None:
    """Everything that can be refused before loading weights or images."""
    out = args.out.expanduser()
    if out.suffix.lower() != ".npz":
        raise GanforgeError(f"--out must end with .npz, got '{args.out}'")
    if out.exists() and not args.overwrite:
        raise GanforgeError(f"'{out}' already exists; pass --overwrite to replace it")
    if out.exists() and out.is_dir():
        raise GanforgeError(f"--out '{out}' is a folder")
    if not out.parent.exists():
        raise GanforgeError(f"folder '{out.parent}' of --out does not exist")
    for name in ("num_samples", "resolution"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise GanforgeError(f"--{name.replace('_', '-')} must be >= 1, got {value}")
    if not Path(args.dataset).expanduser().exists():
        split_spec(args.dataset)  # unknown dataset names fail here, listing the valid ones


def run(args: argparse.Namespace) -> int:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # skipped files are reported in the summary line
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    _check_arguments(args)
    name = args.extractor or next(spec.extractor for spec in kind_metrics(IMAGE) if spec.default)
    settings = ExtractorSettings(extractor_weights(args), str(resolve_device(args.device)),
                                 inception_batch(args.batch_size), cache_dir=args.cache_dir)
    extractor = EXTRACTORS.get(name).build(settings, False)
    fs = reference_features(args.dataset, split=args.split, resolution=args.resolution,
                            num_samples=args.num_samples, extractor=extractor, cache_dir=args.cache_dir,
                            progress=not args.no_progress)
    save_stats(args.out.expanduser(), fs, include_features=args.save_features, dataset=args.dataset,
               split=args.split, resolution=args.resolution or "native", num_samples=args.num_samples or "all")
    skipped = f", {len(fs.skipped)} unreadable skipped" if fs.skipped else ""
    print(f"wrote {args.out}: N={fs.count}{skipped}, {name} weights {extractor.weights_path.name} "
          f"(sha256 {str(fs.protocol['weights_sha256'])[:12]}...), resize {fs.protocol['resize']}")
    return 0
