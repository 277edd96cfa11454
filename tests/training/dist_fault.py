"""torchrun entry point for the distributed tests: ``ganforge`` with a fault injected into one rank.

    torchrun --nproc_per_node 2 tests/training/dist_fault.py RANK STEP train --steps ...

Rank RANK raises in its STEP-th training step; every other rank trains normally. Not a test module
(no ``test_`` prefix): the tests launch it.
"""

from __future__ import annotations

import os
import sys

from ganforge.cli import main
from ganforge.training.update import Trainer


class InjectedFault(RuntimeError):
    pass


def inject(rank: int, step: int) -> None:
    if int(os.environ.get("RANK", "0")) != rank:
        return
    original = Trainer.train_step

    def failing_step(self):
        if self.step + 1 == step:
            raise InjectedFault(f"injected fault in rank {rank} at step {step}")
        return original(self)

    Trainer.train_step = failing_step


if __name__ == "__main__":
    inject(int(sys.argv[1]), int(sys.argv[2]))
    raise SystemExit(main(sys.argv[3:]))
