"""``ganforge data list|download|info``: the datasets ganforge knows, fetching them, checking one."""

from __future__ import annotations

import argparse
from pathlib import Path

from ganforge.commands import Subparsers
from ganforge.commands.options import add_threads_flag
from ganforge.config import SQUARINGS
from ganforge.data import DATASETS, default_cache_dir, load_dataset, split_spec
from ganforge.data.cache import skipped_message
from ganforge.data.prepared import FORMATS, prepare
from ganforge.errors import GanforgeError

CACHE_HELP = "dataset cache folder (default: $GANFORGE_CACHE or ~/.cache/ganforge)"


def register(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser("data", help="list and prepare datasets")
    actions = parser.add_subparsers(dest="data_command", metavar="ACTION", required=True)

    listing = actions.add_parser("list", help="print every dataset with its size and local presence")
    listing.add_argument("--cache-dir", type=Path, default=None, help=CACHE_HELP)
    add_threads_flag(listing)
    listing.set_defaults(run=run_list)

    fetch = actions.add_parser("download", help="download and verify a dataset's files into the cache",
                               description="Download and verify (md5) the files of the named datasets. "
                                           "Without network, place the files by hand in <cache>/NAME/.")
    fetch.add_argument("names", nargs="+", metavar="NAME", help="dataset name(s), e.g. mnist cifar10 celeba")
    fetch.add_argument("--cache-dir", type=Path, default=None, help=CACHE_HELP)
    add_threads_flag(fetch)
    fetch.set_defaults(run=run_download)

    info = actions.add_parser("info", help="load a dataset and print its shape, classes and skipped files")
    info.add_argument("spec", metavar="DATASET", help="e.g. mnist, celeba:Smiling, folder:~/pictures")
    info.add_argument("--resolution", type=int, default=None, help="resize images to this side length")
    info.add_argument("--cache-dir", type=Path, default=None, help=CACHE_HELP)
    info.add_argument("--no-download", action="store_true", help="fail instead of downloading missing files")
    add_threads_flag(info)
    info.set_defaults(run=run_info)

    prepare = actions.add_parser(
        "prepare", help="decode a set once at one resolution, on all cores (memory-mapped cache or StyleGAN zip)",
        description="Decode every image of SOURCE at --resolution into the cache training reads (memory-mapped, "
                    "so sets larger than memory train with --data-mode stream), or into a StyleGAN dataset zip. "
                    "Atomic and fingerprinted: a changed source is rebuilt, never served stale. "
                    "Formats: " + "; ".join(f"{name}: {text}" for name, text in FORMATS.items()))
    prepare.add_argument("spec", metavar="SOURCE", help="a folder or .zip of images (a StyleGAN zip too), "
                         "folder:PATH, or hf:PATH[?image=COL&label=COL]")
    prepare.add_argument("--resolution", type=int, required=True, help="side length of the decoded images")
    prepare.add_argument("--out", type=Path, default=None, help="write here instead of the dataset cache: "
                         "a folder (cache format) or a .zip (stylegan-zip)")
    prepare.add_argument("--format", dest="fmt", choices=tuple(FORMATS), default="cache", help="what to write")
    prepare.add_argument("--crop", choices=SQUARINGS, default="center",
                         help="how non-square images become square: center crop or pad")
    prepare.add_argument("--workers", type=int, default=None, help="decoding processes (default: one per core)")
    prepare.add_argument("--cache-dir", type=Path, default=None, help=CACHE_HELP)
    add_threads_flag(prepare)
    prepare.set_defaults(run=run_prepare)


def _fmt(value: object) -> str:
    return "-" if value is None else str(value)


def _present(value: bool | None) -> str:
    return "n/a" if value is None else ("yes" if value else "no")


def _cache_dir(args: argparse.Namespace) -> Path:
    return Path(args.cache_dir).expanduser() if args.cache_dir else default_cache_dir()


def run_list(args: argparse.Namespace) -> int:
    cache_dir = _cache_dir(args)
    rows = [("name", "samples", "resolution", "channels", "classes", "present", "description")]
    for _name, source in DATASETS.items():
        res = f"{source.resolution}x{source.resolution}" if source.resolution else None
        classes = source.classes_note if source.classes_note is not None else _fmt(source.num_classes)
        rows.append((source.usage, _fmt(source.size), _fmt(res), _fmt(source.channels), classes,
                     _present(source.is_present(cache_dir)), source.description))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False)) + "  " + row[-1])
    print(f"\ncache folder: {cache_dir}")
    print("files go to <cache folder>/<name>/: fetch them with `ganforge data download NAME`, "
          "or place the files there by hand")
    return 0


def run_download(args: argparse.Namespace) -> int:
    cache_dir = _cache_dir(args)
    sources = [split_spec(name)[0] for name in args.names]  # every name is checked before any download
    for source in sources:
        if source.download_files is None:
            print(f"{source.name}: nothing to download ({source.description})")
            continue
        for path in source.download_files(cache_dir):
            print(f"{source.name}: {path} (md5 verified)")
    return 0


def run_info(args: argparse.Namespace) -> int:
    dataset = load_dataset(args.spec, cache_dir=_cache_dir(args), resolution=args.resolution,
                           download=not args.no_download)
    print(f"dataset:  {dataset.name}")
    print(f"samples:  {len(dataset)}")
    print(f"shape:    {tuple(dataset.sample_shape)} {str(dataset.data.dtype).removeprefix('torch.')}")
    if dataset.num_classes:
        counts = dataset.labels.bincount(minlength=dataset.num_classes).tolist()
        names = dataset.class_names or [str(i) for i in range(dataset.num_classes)]
        print(f"classes:  {dataset.num_classes}: " + ", ".join(f"{n} ({c})" for n, c in zip(names, counts,
                                                                                            strict=True)))
    else:
        print("classes:  none (unlabelled)")
    if dataset.skipped:
        print(f"skipped:  {dataset.skipped} unreadable files")
    return 0


def run_prepare(args: argparse.Namespace) -> int:
    if args.resolution < 1 or args.resolution > 4096:
        raise GanforgeError(f"--resolution must be 1..4096 pixels, got {args.resolution}")
    if args.workers is not None and args.workers < 1:
        raise GanforgeError(f"--workers must be 1 or more, got {args.workers}")
    if args.fmt == "stylegan-zip" and args.out is not None and args.out.suffix.lower() != ".zip":
        raise GanforgeError(f"--format stylegan-zip writes a .zip; give --out {args.out}.zip")
    done = prepare(args.spec, args.resolution, out=args.out, fmt=args.fmt, crop=args.crop, workers=args.workers,
                   cache_dir=_cache_dir(args))
    decoded = done.decoded
    count, shape = len(decoded.names), "x".join(str(s) for s in decoded.images.shape[1:])
    if done.up_to_date:
        print(f"{args.spec}: {count} images ({shape}) already prepared from these files")
    else:
        rate = (count + decoded.skipped) / max(done.seconds, 1e-9)
        print(f"{args.spec}: {count} images ({shape}) prepared in {done.seconds:.1f} s ({rate:.0f} img/s)")
    if decoded.skipped:
        print(skipped_message(decoded.skipped_names, args.spec, done.listing))
    print(f"written: {done.path}")
    return 0
