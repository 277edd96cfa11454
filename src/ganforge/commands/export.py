"""``ganforge export RUN_DIR --format torchscript|onnx|web|hub --out PATH``: the generator for use without ganforge.

The formats, their signature (``(z)`` for unconditional generators, ``(z, labels)`` for conditional ones)
and their checks live in :mod:`ganforge.exporters`; this module is the command line around them.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ganforge.checkpoints import CheckpointChoice
from ganforge.commands import Subparsers
from ganforge.commands.options import add_checkpoint_flags, add_threads_flag
from ganforge.exporters import FORMATS, ExportOptions, export_run


def register(subparsers: Subparsers) -> None:
    formats = "; ".join(f"{f.name}: {f.help}" for f in FORMATS.values())
    parser = subparsers.add_parser(
        "export", help="export the generator to TorchScript, ONNX, a static web page or a Hub folder",
        description="Export a run's generator (the EMA copy when the run kept one), checked against PyTorch "
                    f"before it is written. Formats: {formats}.",
    )
    parser.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="run folder (or its generator.json)")
    add_checkpoint_flags(parser)
    parser.add_argument("--format", choices=FORMATS.names(), required=True, help="what to write (see above)")
    parser.add_argument("--out", type=Path, required=True, metavar="PATH",
                        help="file to write (.pt / .onnx), or the folder of the web page or Hub folder")
    parser.add_argument("--runtime", type=Path, default=None, metavar="DIR",
                        help="web: ONNX Runtime Web you already have (the onnxruntime-web package folder, its "
                             "dist/, or the .tgz of `npm pack`); default: fetched once with npm into the "
                             "ganforge cache ($GANFORGE_CACHE or ~/.cache/ganforge)")
    parser.add_argument("--push", default=None, metavar="USER/NAME",
                        help="hub: upload the folder to this Hugging Face Hub model repository (needs "
                             "'ganforge[hub]' and a login)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing PATH")
    add_threads_flag(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    options = ExportOptions(runtime=args.runtime, overwrite=args.overwrite, push=args.push)
    for line in export_run(args.run_dir, args.format, args.out, options, CheckpointChoice.from_args(args)):
        print(line, flush=True)
    return 0
