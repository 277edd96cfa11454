"""The scalars a training step returns, summed on the device between logged rows: reading a tensor forces
a host sync, so a row's means are read once per row (one all-reduce in a multi-process run), not per step.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from ganforge.training.distributed import SINGLE, DistInfo, all_reduce_sum


class ScalarWindow:
    """Sums of step scalars kept on the device; read (one host sync) only when a row is logged.

    Each key's mean is over the steps that returned it (``counts``): a training step of one's own may
    return a G loss only on the steps that update G.
    """

    def __init__(self) -> None:
        self.sums: dict[str, torch.Tensor] = {}
        self.counts: dict[str, int] = {}
        self.count = 0

    def add(self, scalars: dict[str, torch.Tensor]) -> None:
        for key, value in scalars.items():
            self.sums[key] = self.sums[key] + value if key in self.sums else value.clone()
            self.counts[key] = self.counts.get(key, 0) + 1
        self.count += 1

    def _reset(self) -> None:
        self.sums, self.counts, self.count = {}, {}, 0

    def mean_and_reset(self) -> dict[str, float]:
        values = {key: float(total) / self.counts[key] for key, total in self.sums.items()}
        self._reset()
        return values

    def reduce_and_reset(self, dist: DistInfo, device: torch.device,
                         flags: Sequence[float] = ()) -> tuple[dict[str, float], list[float]]:
        """Means over every rank's window, plus ``flags`` summed over ranks: one all-reduce, one sync.

        The flags ride along so that stop requests cost no extra collective.
        """
        keys = list(self.sums)
        values = [self.sums[k].float().reshape(1) for k in keys]
        packed = torch.cat([*values, torch.tensor(list(flags), dtype=torch.float32, device=device)])
        totals = all_reduce_sum(packed, dist).tolist()
        means = {key: totals[i] / (max(self.counts[key], 1) * dist.world_size) for i, key in enumerate(keys)}
        self._reset()
        return means, totals[len(keys):]

    def state_dict(self, dist: DistInfo = SINGLE) -> dict[str, Any]:
        """The partial window; in a multi-process run the average of the ranks' windows (a collective).

        Every rank resumes from that average, and the next reduction sums world_size copies of it: the
        ranks' partial sums, whatever the number of ranks of the resumed run.
        """
        sums = self.sums
        if dist.enabled and sums:
            keys = list(sums)
            packed = all_reduce_sum(torch.cat([sums[k].float().reshape(1) for k in keys]), dist)
            sums = {k: (packed[i] / dist.world_size).to(sums[k].dtype) for i, k in enumerate(keys)}
        return {"sums": {k: v.cpu() for k, v in sums.items()}, "count": self.count, "counts": dict(self.counts)}

    def load_state_dict(self, state: dict[str, Any], device: torch.device) -> None:
        self.sums = {k: v.to(device) for k, v in state["sums"].items()}
        self.count = int(state["count"])
        # checkpoints from before per-key counts: every key was returned at every step
        self.counts = {k: int(state.get("counts", {}).get(k, self.count)) for k in self.sums}
