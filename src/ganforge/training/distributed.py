"""Multi-process data-parallel training under ``torchrun`` (torch.distributed + DDP).

``torchrun --nproc_per_node N -m ganforge train ...`` starts N copies of the same command; each reads
its place from the environment torchrun sets (RANK, WORLD_SIZE, LOCAL_RANK) and joins one process group
(NCCL on CUDA, Gloo on CPU). Without those variables everything here is a no-op and ganforge trains in
one process exactly as before.

The division of work, and why:

- ``--batch-size`` is the global batch. Every rank draws the same epoch permutation and takes its own
  contiguous slice of each global batch, so one step of N ranks sees exactly the images one process
  with the same ``--batch-size`` would, and the rank slices never overlap.
- Every random draw that is per sample (latents, DiffAugment's transforms, the gradient penalty's
  interpolation factors) is made for the whole global batch on every rank, from the same seeded streams,
  and sliced the same way: ranks get distinct values, their streams stay identical (so a checkpoint needs
  no per-rank state), and with synchronized BatchNorm (or none) N processes compute the single-process
  step up to float rounding. The extra draws are a few numbers per sample.
- Gradients are averaged by DDP, once per optimizer step; see ``Trainer`` for the G-step pattern.
- Only rank 0 touches the run folder. Stop requests (SIGTERM/Ctrl-C on any rank) are combined with an
  all-reduce at every logging step so that all ranks stop at the same step; an exception in one rank
  closes its process group, which makes the peers' next collective fail instead of waiting forever
  (Gloo reports the closed connection at once; NCCL within the process-group timeout, and torchrun
  stops the remaining workers as soon as one exits with an error).
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from ganforge.errors import GanforgeError

# Seconds a collective may wait for a peer before the process group gives up. Long enough for rank 0's
# sample grids and checkpoints (the other ranks wait for it at the next collective), short enough that
# a lost peer on NCCL ends the job instead of holding the GPUs for torch's 30-minute default.
T = TypeVar("T")
TIMEOUT_ENV = "GANFORGE_DIST_TIMEOUT"
DEFAULT_TIMEOUT_S = 900.0


@dataclass(frozen=True)
class DistInfo:
    """This process's place in the job; the defaults describe a plain single-process run."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


SINGLE = DistInfo()


def _env_int(environ: Mapping[str, str], name: str) -> int:
    raw = environ.get(name, "")
    try:
        return int(raw)
    except ValueError:
        raise GanforgeError(f"environment variable {name}={raw!r} is not a whole number; launch multi-process "
                            "training with torchrun, which sets it") from None


def info_from_env(environ: Mapping[str, str] | None = None) -> DistInfo:
    """RANK / WORLD_SIZE / LOCAL_RANK as torchrun sets them; a single process when they are absent."""
    environ = os.environ if environ is None else environ
    if "WORLD_SIZE" not in environ:
        return SINGLE
    world_size = _env_int(environ, "WORLD_SIZE")
    rank = _env_int(environ, "RANK") if "RANK" in environ else 0
    local_rank = _env_int(environ, "LOCAL_RANK") if "LOCAL_RANK" in environ else rank
    if world_size < 1 or not 0 <= rank < world_size or local_rank < 0:
        raise GanforgeError(f"inconsistent torchrun environment: RANK={rank} WORLD_SIZE={world_size} "
                            f"LOCAL_RANK={local_rank}")
    return DistInfo(rank=rank, world_size=world_size, local_rank=local_rank)


def timeout_seconds(environ: Mapping[str, str] | None = None) -> float:
    environ = os.environ if environ is None else environ
    raw = environ.get(TIMEOUT_ENV)
    if raw is None:
        return DEFAULT_TIMEOUT_S
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise GanforgeError(f"{TIMEOUT_ENV} must be a positive number of seconds, got {raw!r}")
    return value


def local_batch_size(global_batch: int, info: DistInfo, pack: int = 1) -> int:
    """Each rank's share of ``--batch-size`` (the global batch); it must split evenly."""
    if global_batch % info.world_size:
        raise GanforgeError(f"--batch-size {global_batch} is the global batch and must be divisible by the "
                            f"{info.world_size} processes; use a multiple of {info.world_size}")
    local = global_batch // info.world_size
    if local % pack:
        raise GanforgeError(f"--pack {pack} must divide each process's batch ({global_batch} / "
                            f"{info.world_size} = {local}); PacGAN groups never span processes")
    return local


def rank_slice(x: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """This rank's contiguous share of a global-batch tensor (the whole tensor in a single process)."""
    if not info.enabled:
        return x
    size = x.shape[0] // info.world_size
    return x[info.rank * size:(info.rank + 1) * size]


@contextmanager
def process_group(info: DistInfo, device: torch.device, timeout_s: float | None = None) -> Iterator[None]:
    """Join the job's process group for the duration of the block; always leave it, even on errors.

    Leaving on an error is what unblocks the peers: their pending collective fails on the closed
    connection and they exit too, instead of hanging until a timeout.
    """
    if not info.enabled:
        yield
        return
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(device)
    timeout = timedelta(seconds=timeout_s if timeout_s is not None else timeout_seconds())
    # device_id (torch >= 2.3) binds the NCCL communicator to this GPU eagerly
    eager = device.type == "cuda" and "device_id" in inspect.signature(dist.init_process_group).parameters
    kwargs: dict[str, Any] = {"device_id": device} if eager else {}
    dist.init_process_group(backend, timeout=timeout, **kwargs)
    try:
        yield
    except BaseException:
        dist.destroy_process_group()
        raise
    # A clean finish leaves together: rank 0 still writes the run folder after the last step, and a peer
    # that tore its Gloo connections down meanwhile made a process abort in teardown now and then
    # ("terminate called without an active exception", rank 1 under a loaded CI machine).
    try:
        dist.barrier()
    finally:
        dist.destroy_process_group()


# Words in the errors a collective raises when a peer is gone (Gloo: the connection; NCCL: the watchdog).
PEER_LOST_MARKERS = ("connection reset", "connection closed", "connection refused", "broken pipe", "timed out",
                     "timeout", "gloo", "nccl", "socket")


def is_peer_failure(exc: BaseException) -> bool:
    """Whether ``exc`` is a collective failing because another process of the job is gone."""
    dist_error = getattr(dist, "DistError", None)
    if dist_error is not None and isinstance(exc, dist_error):
        return True
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and any(marker in text for marker in PEER_LOST_MARKERS)


@contextmanager
def peer_failures(info: DistInfo, run_dir: Callable[[], object]) -> Iterator[None]:
    """In a multi-process run, a collective that fails because a peer died (a killed node, a lost
    connection) becomes one line saying so and how to resume, instead of a traceback. ``run_dir()`` names
    the run folder once it is known."""
    try:
        yield
    except GanforgeError:
        raise
    except Exception as exc:
        if not info.enabled or not is_peer_failure(exc):
            raise
        first = " ".join(str(exc).split())[:160]
        folder = run_dir() or "RUN_DIR"
        raise GanforgeError(f"rank {info.rank} lost contact with another process of this {info.world_size}-process "
                            f"job ({first}); once every node is back, resume with: ganforge train --run-dir "
                            f"{folder} --resume (with any number of processes)") from None


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()


def all_reduce_sum(tensor: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """Sum over ranks in place (identity in a single process)."""
    if info.enabled:
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def from_main(fn: Callable[[], T], info: DistInfo) -> T:
    """``fn()`` run on rank 0 only, its result handed to every rank.

    For what rank 0 alone may decide or read (the run folder's name, the checkpoint). A GanforgeError
    there (a bad --run-dir, a missing checkpoint) is raised on every rank, so all exit with the same
    one-line message instead of the others failing on a closed connection.
    """
    if not info.enabled:
        return fn()
    if info.is_main:
        try:
            result = fn()
        except GanforgeError as exc:
            dist.broadcast_object_list([("error", (str(exc), exc.exit_code))], src=0)
            raise
        dist.broadcast_object_list([("ok", result)], src=0)
        return result
    payload: list[Any] = [None]
    dist.broadcast_object_list(payload, src=0)
    kind, value = payload[0]
    if kind == "error":
        raise _rank_error(*value)
    return value


def main_first(fn: Callable[[], T], info: DistInfo) -> T:
    """``fn()`` on every rank, rank 0 first (a download happens once; the others then read the cache)."""
    if not info.enabled:
        return fn()
    if info.is_main:
        try:
            result = fn()
        except GanforgeError as exc:
            dist.broadcast_object_list([(str(exc), exc.exit_code)], src=0)
            raise
        dist.broadcast_object_list([None], src=0)
        return result
    outcome: list[Any] = [None]
    dist.broadcast_object_list(outcome, src=0)
    if outcome[0] is not None:
        raise _rank_error(*outcome[0])
    return fn()


def _rank_error(message: str, exit_code: int) -> GanforgeError:
    error = GanforgeError(message)
    error.exit_code = exit_code
    return error


def wrap_ddp(module: nn.Module, device: torch.device, info: DistInfo) -> nn.Module:
    """DDP around ``module`` in a multi-process run, the module itself otherwise.

    ``broadcast_buffers=False``: the per-forward buffer broadcast would add a collective to every G and
    D call. BatchNorm statistics are either synchronized (``--sync-bn``) or deliberately per-rank, and
    spectral-norm vectors evolve identically on every rank from identical weights; the checkpoint and
    samples use rank 0's buffers.
    """
    if not info.enabled:
        return module

    device_ids = [device.index] if device.type == "cuda" else None
    # torch >= 2.13 renames the switch; both keep the one-time sync of buffers at construction
    parameters = inspect.signature(DistributedDataParallel).parameters
    no_forward_sync: dict[str, Any] = ({"forward_sync_buffers": False} if "forward_sync_buffers" in parameters
                                       else {"broadcast_buffers": False})
    return DistributedDataParallel(module, device_ids=device_ids, **no_forward_sync)


# -- synchronized BatchNorm ------------------------------------------------------------------------------

class _AllReduceSum(torch.autograd.Function):
    """Differentiable sum over ranks; its backward is again this function, so double backward (the
    gradient penalties through a synchronized-BN critic) works too."""

    @staticmethod
    def forward(ctx: Any, tensor: torch.Tensor) -> torch.Tensor:
        out = tensor.clone(memory_format=torch.contiguous_format)
        dist.all_reduce(out, op=dist.ReduceOp.SUM)
        return out

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        return _AllReduceSum.apply(grad)


class GlobalBatchNorm(nn.Module):
    """BatchNorm whose batch statistics are taken over every rank's batch: the single-process
    statistics of the global batch. Drop-in for BatchNorm1d/2d (same parameters and buffers).

    Used instead of ``nn.SyncBatchNorm`` where that cannot run: on CPU (it requires a GPU) and in a
    penalized critic (its backward is not twice differentiable). Statistics are computed in float32 with
    one all-reduce of (sum, sum of squares, count) per forward and one per backward.
    """

    # registered in __init__ (as nn.BatchNorm's); declared for the type checker, which cannot see that
    weight: nn.Parameter | None
    bias: nn.Parameter | None
    running_mean: torch.Tensor | None
    running_var: torch.Tensor | None
    num_batches_tracked: torch.Tensor | None

    def __init__(self, source: nn.modules.batchnorm._BatchNorm) -> None:
        super().__init__()
        self.num_features, self.eps, self.momentum = source.num_features, source.eps, source.momentum
        self.affine, self.track_running_stats = source.affine, source.track_running_stats
        if source.affine:
            self.weight, self.bias = source.weight, source.bias
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        for name in ("running_mean", "running_var", "num_batches_tracked"):
            self.register_buffer(name, getattr(source, name))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        F = nn.functional
        if not self.training:
            return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0,
                                self.eps)
        factor = self._next_factor()
        if not (dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1):
            return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, True, factor,
                                self.eps)
        dims = [0] + list(range(2, x.dim()))
        shape = [1, -1] + [1] * (x.dim() - 2)
        xf = x.float()
        count = xf.new_full((1,), float(x.numel() // self.num_features))
        total = _AllReduceSum.apply(torch.cat([xf.sum(dims), xf.pow(2).sum(dims), count]))
        n = total[-1]
        mean = total[:self.num_features] / n
        var = (total[self.num_features:-1] / n - mean.pow(2)).clamp_min(0)
        if self.running_mean is not None and self.running_var is not None:  # both or neither (tracking)
            with torch.no_grad():
                unbiased = var * n / (n - 1).clamp_min(1)
                self.running_mean.lerp_(mean.to(self.running_mean.dtype), factor)
                self.running_var.lerp_(unbiased.to(self.running_var.dtype), factor)
        out = (xf - mean.view(shape)) * torch.rsqrt(var.view(shape) + self.eps)
        if self.weight is not None and self.bias is not None:  # both or neither (affine)
            out = out * self.weight.view(shape) + self.bias.view(shape)
        return out.to(x.dtype)

    def _next_factor(self) -> float:
        """The running-average weight of this batch, as nn.BatchNorm computes it."""
        if self.num_batches_tracked is None:
            return 0.0 if self.momentum is None else self.momentum
        self.num_batches_tracked.add_(1)
        if self.momentum is None:  # cumulative average (rare; reading the count syncs on a GPU)
            return 1.0 / float(self.num_batches_tracked)
        return self.momentum


def convert_sync_batch_norm(module: nn.Module, device: torch.device, *, double_backward: bool) -> nn.Module:
    """Swap every BatchNorm under ``module`` for a synchronized one, sharing parameters and buffers.

    ``nn.SyncBatchNorm`` (fused CUDA kernels) where it works: on CUDA when no double backward goes
    through the module; ``GlobalBatchNorm`` otherwise.
    """
    if device.type == "cuda" and not double_backward:
        return nn.SyncBatchNorm.convert_sync_batchnorm(module)
    return _swap_batch_norm(module)


def _swap_batch_norm(module: nn.Module) -> nn.Module:
    if isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)):
        return GlobalBatchNorm(module)
    for name, child in module.named_children():
        replaced = _swap_batch_norm(child)
        if replaced is not child:
            setattr(module, name, replaced)
    return module
