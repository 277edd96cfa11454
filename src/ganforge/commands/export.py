"""``ganforge export RUN_DIR --format torchscript|onnx|web --out PATH``: the generator for use without ganforge.

The formats, their signature (``(z)`` for unconditional generators, ``(z, labels)`` for conditional ones)
and their checks live in :mod:`ganforge.exporters`; this module is the command line around them.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ganforge.commands import Subparsers
from ganforge.commands.options import add_checkpoint_flags, add_threads_flag


def register(subparsers: Subparsers) -> None:
    from ganforge.exporters import FORMATS

    formats = "; ".join(f"{f.name}: {f.help}" for f in FORMATS.values())
    parser = subparsers.add_parser(
        "export", help="export the generator to TorchScript, ONNX or a static web page",
        description="Export a run's generator (the EMA copy when the run kept one), checked against PyTorch "
                    f"before it is written. Formats: {formats}.",
    )
    parser.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="run folder (or its generator.json)")
    add_checkpoint_flags(parser)
    parser.add_argument("--format", choices=FORMATS.names(), required=True, help="what to write (see above)")
    parser.add_argument("--out", type=Path, required=True, metavar="PATH",
                        help="file to write (.pt / .onnx), or the folder of the web page")
    parser.add_argument("--runtime", type=Path, default=None, metavar="DIR",
                        help="web: ONNX Runtime Web you already have (the onnxruntime-web package folder, its "
                             "dist/, or the .tgz of `npm pack`); default: fetched once with npm into the "
                             "ganforge cache ($GANFORGE_CACHE or ~/.cache/ganforge)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing PATH")
    add_threads_flag(parser)
    parser.set_defaults(run=run)


def check_out(out: Path, suffixes: tuple[str, ...], name: str, overwrite: bool) -> None:
    from ganforge.errors import GanforgeError

    if suffixes and out.suffix.lower() not in suffixes:
        raise GanforgeError(f"--format {name} writes {' or '.join(suffixes)} files; rename --out {out}")
    if not suffixes and out.exists() and not out.is_dir():
        raise GanforgeError(f"--format {name} writes a folder, but {out} is a file; give --out a folder path")
    if suffixes and out.is_dir():
        raise GanforgeError(f"{out} is a folder; give --out a file path ending in {suffixes[0]}")
    occupied = out.exists() and (not out.is_dir() or any(out.iterdir()))
    if occupied and not overwrite:
        raise GanforgeError(f"{out} already exists; pass --overwrite to replace it, or another --out")


def run(args: argparse.Namespace) -> int:
    from ganforge.checkpoints import CheckpointChoice, warn_if_live
    from ganforge.errors import GanforgeError
    from ganforge.exporters import FORMATS, ExportOptions
    from ganforge.web.render import load_checked

    fmt = FORMATS.get(args.format)
    options = ExportOptions(runtime=args.runtime, overwrite=args.overwrite)
    unused = [f"--{key}" for key in ("runtime",) if getattr(options, key) is not None and key not in fmt.options]
    if unused:
        raise GanforgeError(f"{unused[0]} does not apply to --format {fmt.name}; leave it out")
    check_out(args.out, fmt.suffixes, fmt.name, args.overwrite)
    fmt.requires()
    loaded = load_checked(args.run_dir, choice=CheckpointChoice.from_args(args))
    warn_if_live(loaded.folder, loaded.info)
    print(f"exporting the {loaded.weights_label} from {loaded.folder}")
    for line in fmt.write(loaded, args.out, options):
        print(line)
    return 0

