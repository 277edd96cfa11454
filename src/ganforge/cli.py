"""``ganforge`` command line: one subcommand per module in :mod:`ganforge.commands`.

Command modules import torch and friends inside their ``run`` function so that ``--help`` is instant.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import warnings
from typing import NoReturn, TextIO

from ganforge import __version__
from ganforge.commands.options import command_threads
from ganforge.errors import GanforgeError, PathError, did_you_mean
from ganforge.progress import silenced

# Order here is the order in `ganforge --help`.
COMMAND_MODULES = ["train", "sweep", "tune", "evaluate", "compare", "fid", "stats", "data", "generate", "serve", "export"]


class CommandParser(argparse.ArgumentParser):
    """The parser of ganforge and (as their class) of its subcommands: a prefix of a flag is never taken
    for the flag (``--lr`` is not guessed to mean ``--lr-g``), and a usage error is one line."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        kwargs["allow_abbrev"] = False
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]

    def error(self, message: str) -> NoReturn:
        raise GanforgeError(f"{message}; see {self.prog} --help")


def command_parser(parser: argparse.ArgumentParser, args: argparse.Namespace) -> argparse.ArgumentParser:
    """The (sub)command parser that ``args`` went through: `ganforge data list`'s, not ganforge's."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction) and getattr(args, action.dest, None) in action.choices:
            return command_parser(action.choices[getattr(args, action.dest)], args)
    return parser


def unknown_arguments(parser: argparse.ArgumentParser, extras: list[str]) -> GanforgeError:
    """One line for what no flag of the command takes, with the closest flag for a misspelt one."""
    flags = [s for action in parser._actions for s in action.option_strings]
    options = [extra for extra in extras if extra.startswith("-")]
    if not options:
        return GanforgeError(f"unexpected argument(s) {' '.join(extras)}; see {parser.prog} --help")
    name = options[0].split("=", 1)[0]
    return GanforgeError(f"unknown option {name}{did_you_mean(name, flags)}; see {parser.prog} --help")


def build_parser() -> argparse.ArgumentParser:
    parser = CommandParser(
        prog="ganforge", description="Train, evaluate, compare and share GANs for image generation."
    )
    parser.add_argument("--version", action="version", version=f"ganforge {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(f"ganforge.commands.{name}").register(subparsers)
    return parser


def format_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                   line: str | None = None) -> str:
    """A warning as one ``ganforge: warning:`` line, not Python's file:line: Category: format."""
    return f"ganforge: warning: {' '.join(str(message).split())}\n"


def show_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                 file: TextIO | None = None, line: str | None = None) -> None:
    sys.stderr.write(format_warning(message, category, filename, lineno))


def route_warnings() -> None:
    """Every warning of this process (it is the ganforge command) as one line: both hooks, so a library that
    puts back or wraps Python's ``showwarning`` (a tracker's patch) still prints our line."""
    warnings.showwarning = show_warning
    warnings.formatwarning = format_warning


def report_error(exc: GanforgeError) -> int:
    """The one-line ``ganforge: error:`` report; returns the exit code."""
    # One write with its newline: the ranks of a torchrun job share stderr, and print's separate
    # write of "\n" let two ranks' errors run together on one line.
    message = " ".join(str(exc).split())  # a message is one line, whatever text it quotes
    sys.stderr.write(f"ganforge: error: {message}\n")
    sys.stderr.flush()
    return exc.exit_code


def main(argv: list[str] | None = None) -> int:
    route_warnings()
    parser = build_parser()
    try:
        args, extras = parser.parse_known_args(argv)
        if extras:
            raise unknown_arguments(command_parser(parser, args), extras)
    except GanforgeError as exc:
        return report_error(exc)
    if not getattr(args, "run", None):
        parser.print_help()
        return 2

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
