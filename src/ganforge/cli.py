"""``ganforge`` command line: one subcommand per module in :mod:`ganforge.commands`.

Command modules import torch and friends inside their ``run`` function so that ``--help`` is instant.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import warnings
from typing import TextIO

from ganforge import __version__
from ganforge.errors import GanforgeError, PathError

# Order here is the order in `ganforge --help`.
COMMAND_MODULES = ["train", "sweep", "tune", "evaluate", "compare", "fid", "stats", "data", "generate", "serve", "export"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ganforge", description="Train, evaluate, compare and share GANs for image generation."
    )
    parser.add_argument("--version", action="version", version=f"ganforge {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(f"ganforge.commands.{name}").register(subparsers)
    return parser


def show_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                 file: TextIO | None = None, line: str | None = None) -> None:
    """Warnings as one ``ganforge: warning:`` line, not Python's source-location format."""
    sys.stderr.write(f"ganforge: warning: {message}\n")


def report_error(exc: GanforgeError) -> int:
    """The one-line ``ganforge: error:`` report; returns the exit code."""
    # One write with its newline: the ranks of a torchrun job share stderr, and print's separate
    # write of "\n" let two ranks' errors run together on one line.
    message = " ".join(str(exc).split())  # a message is one line, whatever text it quotes
    sys.stderr.write(f"ganforge: error: {message}\n")
    sys.stderr.flush()
    return exc.exit_code


def main(argv: list[str] | None = None) -> int:
    warnings.showwarning = show_warning  # this process is the ganforge command: its warnings are ours
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "run", None):
        parser.print_help()
        return 2
    from ganforge.commands.options import command_threads
    from ganforge.progress import silenced

    try:
        # --no-progress quiets every bar of the command, dataset decoding and downloads too; --threads
        # holds for the whole command (train's is its config key, applied by the run)
        with silenced(bool(getattr(args, "no_progress", False))), command_threads(getattr(args, "command_threads", 0)):
            try:
                return int(args.run(args) or 0)
            except OSError as exc:
                if exc.filename is None:  # not about a path the user gave: a bug, keep its traceback
                    raise
                raise PathError(exc) from None
    except GanforgeError as exc:
        return report_error(exc)
    except KeyboardInterrupt:
        print("ganforge: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
