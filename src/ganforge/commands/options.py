"""Flags several commands share, with one default each: ``--device auto``, ``--threads``, the Inception
batch size. Building the parser imports no torch (help texts that need a torch-side value read it lazily)."""

from __future__ import annotations

import argparse

DEVICE_HELP = "auto (a visible CUDA GPU, else the CPU), cpu or cuda (default auto)"
THREADS_HELP = ("CPU threads torch may use (default 0: torch's own choice, one per core); on shared or busy "
                "cores 1 is often faster")


class InceptionBatch:
    """Formats as the one Inception batch size (``metrics.extractor.DEFAULT_BATCH_SIZE``) when help is
    printed; set it as an argument's ``batch`` attribute and write ``%(batch)s`` in the help."""

    def __str__(self) -> str:
        from ganforge.metrics.extractor import DEFAULT_BATCH_SIZE

        return str(DEFAULT_BATCH_SIZE)


def add_device_flag(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    parser.add_argument("--device", default="auto", help=DEVICE_HELP)


def add_threads_flag(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    parser.add_argument("--threads", type=int, default=0, metavar="N", help=THREADS_HELP)


def add_inception_batch_flag(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    action = parser.add_argument("--batch-size", type=int, default=None, metavar="N",
                                 help="images per Inception forward pass (default %(batch)s)")
    action.batch = InceptionBatch()  # type: ignore[attr-defined]  # read by %(batch)s when help is printed


def inception_batch(value: int | None) -> int:
    """``--batch-size`` as given, else the shared default; below 1 is a one-line error."""
    from ganforge.errors import GanforgeError
    from ganforge.metrics.extractor import DEFAULT_BATCH_SIZE

    if value is None:
        return DEFAULT_BATCH_SIZE
    if value < 1:
        raise GanforgeError(f"--batch-size must be >= 1, got {value}")
    return value


def add_checkpoint_flags(parser: argparse.ArgumentParser) -> None:
    """``--step N`` / ``--checkpoint best|last|PATH``: which checkpoint of a run a command reads
    (resolved by :func:`ganforge.checkpoints.resolve_checkpoint`)."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--step", type=int, default=None, metavar="N",
                       help="use the periodic checkpoint of step N (checkpoints/step_XXXXXXX.pt)")
    group.add_argument("--checkpoint", default=None, metavar="best|last|PATH",
                       help="best: the best evaluation's generator (--eval-every); last: checkpoints/last.pt; "
                            "or a checkpoint .pt file (default: the run's generator.safetensors)")
