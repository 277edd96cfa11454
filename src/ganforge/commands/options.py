"""Flags several commands share, with one default each: ``--device auto``, ``--threads``, the feature
extractors' batch size and weight files. Building the parser imports no torch (help texts that need a torch-side value read it lazily)."""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Iterator
from pathlib import Path

from ganforge.config import THREADS_HELP
from ganforge.devices import torch_threads
from ganforge.errors import GanforgeError
from ganforge.metrics.extractor import DEFAULT_BATCH_SIZE
from ganforge.metrics.extractors import EXTRACTORS, parse_weights

DEVICE_HELP = "auto (a visible CUDA GPU, else the CPU), cpu or cuda (default auto)"


class InceptionBatch:
    """Formats as the one Inception batch size (``metrics.extractor.DEFAULT_BATCH_SIZE``) when help is
    printed; set it as an argument's ``batch`` attribute and write ``%(batch)s`` in the help."""

    def __str__(self) -> str:
        return str(DEFAULT_BATCH_SIZE)


def add_device_flag(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    parser.add_argument("--device", default="auto", help=DEVICE_HELP)


def add_threads_flag(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """``--threads N`` of every command but train (whose --threads is the TrainConfig field, same help);
    :func:`ganforge.cli.main` applies it around the whole command (:func:`command_threads`)."""
    parser.add_argument("--threads", type=int, default=0, metavar="N", dest="command_threads",
                        help=f"{THREADS_HELP} (default 0)")


@contextlib.contextmanager
def command_threads(threads: int) -> Iterator[None]:
    """torch's thread count for the command; torch is imported only when a count was given."""
    if not threads:
        yield
        return

    with torch_threads(threads):
        yield


def add_inception_batch_flag(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    action = parser.add_argument("--batch-size", type=int, default=None, metavar="N",
                                 help="images per feature-extractor forward pass (default %(batch)s)")
    action.batch = InceptionBatch()  # type: ignore[attr-defined]  # read by %(batch)s when help is printed


def inception_batch(value: int | None) -> int:
    """``--batch-size`` as given, else the shared default; below 1 is a one-line error."""
    if value is None:
        return DEFAULT_BATCH_SIZE
    if value < 1:
        raise GanforgeError(f"--batch-size must be >= 1, got {value}")
    return value


class ExtractorNames:
    """Formats as the registered feature extractors (with ``weights``: those given a weight file, and how)
    when help is printed."""

    def __init__(self, weights: bool = False) -> None:
        self.weights = weights

    def __str__(self) -> str:
        if not self.weights:
            return ", ".join(EXTRACTORS.names())
        return "; ".join(f"{name}: {spec.weights_help}" for name, spec in EXTRACTORS.items() if spec.env)


def add_extractor_weights_flags(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """``--extractor-weights NAME=PATH`` (repeatable) and ``--inception-weights PATH``, its older spelling
    for the Inception file; :func:`extractor_weights` reads both."""
    action = parser.add_argument("--extractor-weights", action="append", default=None, metavar="NAME=PATH",
                                 help="weight file of a feature extractor, repeatable (%(names)s)")
    action.names = ExtractorNames(weights=True)  # type: ignore[attr-defined]  # read by %(names)s in --help
    parser.add_argument("--inception-weights", default=None, metavar="PATH",
                        help="the same as --extractor-weights inception=PATH")


def extractor_weights(args: argparse.Namespace) -> dict[str, Path]:
    """Weight files by extractor name from ``--extractor-weights`` and ``--inception-weights``."""
    weights = parse_weights(args.extractor_weights)
    if args.inception_weights:
        if "inception" in weights:
            raise GanforgeError("--inception-weights and --extractor-weights inception=... both name the Inception "
                                "file; pass one")
        weights["inception"] = Path(args.inception_weights).expanduser()
    return weights


def add_checkpoint_flags(parser: argparse.ArgumentParser) -> None:
    """``--step N`` / ``--checkpoint best|last|PATH``: which checkpoint of a run a command reads
    (resolved by :func:`ganforge.checkpoints.resolve_checkpoint`)."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--step", type=int, default=None, metavar="N",
                       help="use the periodic checkpoint of step N (checkpoints/step_XXXXXXX.pt)")
    group.add_argument("--checkpoint", default=None, metavar="best|last|PATH",
                       help="best: the best evaluation's generator (--eval-every); last: checkpoints/last.pt; "
                            "or a checkpoint .pt file (default: the run's generator.safetensors)")
