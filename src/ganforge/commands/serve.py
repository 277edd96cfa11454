"""``ganforge serve RUNS_DIR``: a local web page to browse runs and sample their generators."""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

from ganforge.checkpoints import CheckpointChoice
from ganforge.commands import Subparsers
from ganforge.commands.options import add_checkpoint_flags, add_device_flag, add_threads_flag
from ganforge.devices import resolve_device
from ganforge.errors import GanforgeError
from ganforge.models.io import SPEC_FILE, read_generator_info
from ganforge.runfolder import RunFolder
from ganforge.runlock import live_writer
from ganforge.web.server import DEFAULT_HOST, DEFAULT_PORT, GanforgeServer


def register(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "serve", help="web page to browse runs and sample their generators",
        description="Serve a web page listing the runs under RUNS_DIR: generate grids by seed, class and "
                    "truncation, animate interpolations, see training curves. No extra dependency, works "
                    "offline; listens on the loopback only unless --host says otherwise.",
    )
    parser.add_argument("runs_dir", type=Path, metavar="RUNS_DIR", help="folder holding run folders (or one run)")
    parser.add_argument("--host", default=DEFAULT_HOST,
                        help=f"address to listen on (default {DEFAULT_HOST}; 0.0.0.0 exposes it to your network)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT}; 0 = any free)")
    parser.add_argument("--quiet", action="store_true", help="do not log each request")
    add_checkpoint_flags(parser)
    add_device_flag(parser)
    add_threads_flag(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if not 0 <= args.port <= 65535:
        raise GanforgeError(f"--port must be between 0 and 65535, got {args.port}")
    choice = CheckpointChoice.from_args(args)
    if choice.checkpoint not in (None, "best", "last") and not RunFolder(args.runs_dir).generator_spec.is_file():
        raise GanforgeError(f"--checkpoint {choice.checkpoint} is one file, so RUNS_DIR must be its run folder "
                            f"(with generator.json), not {args.runs_dir}; or use --checkpoint best|last / --step N")
    server = GanforgeServer(args.runs_dir, args.host, args.port, quiet=args.quiet, choice=choice,
                            device=resolve_device(args.device))
    runs = server.runs(refresh=True)
    for entry in runs.values():
        holder = live_writer(entry.path)
        if holder is not None:  # the page reloads a live run's generator whenever a new checkpoint lands
            step = read_generator_info(entry.path / SPEC_FILE).meta.get("step")
            warnings.warn(f"{entry.path} is still training ({holder.describe()}); serving its newest saved "
                          f"generator, step {step} now, reloaded as new checkpoints arrive", stacklevel=1)
    print(f"serving {len(runs)} run(s) from {server.runs_root} at {server.url} (Ctrl-C to stop)", flush=True)
    if not server.loopback_only:
        print("warning: listening beyond this machine; anyone who can reach it can use the page", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("stopped")
    finally:
        server.server_close()
    return 0
