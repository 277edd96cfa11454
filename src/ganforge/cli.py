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
from ganforge.errors import GanforgeError

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


def main(argv: list[str] | None = None) -> int:
    warnings.showwarning = show_warning  # this process is the ganforge command: its warnings are ours
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "run", None):
        parser.print_help()
        return 2
    try:
        return int(args.run(args) or 0)
    except GanforgeError as exc:
        # One write with its newline: the ranks of a torchrun job share stderr, and print's separate
        # write of "\n" let two ranks' errors run together on one line.
        sys.stderr.write(f"ganforge: error: {exc}\n")
        sys.stderr.flush()
        return exc.exit_code
    except KeyboardInterrupt:
        print("ganforge: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
