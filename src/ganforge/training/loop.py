"""The one training loop every model, loss and regularizer plugs into.

``Trainer.train_step`` runs ``n_critic`` discriminator updates and one generator update. Everything
random (batch order, latents, augmentations, penalty interpolates) comes from state the checkpoint
stores, so a resumed run continues exactly where an uninterrupted one would be.

What D sees is ``pack(augment(x))``: DiffAugment (optional) on every real and fake batch, in D's and G's
updates alike, then PacGAN packing (optional) of ``pack`` consecutive samples into one D input.
Conditional runs give G and D the real batch's labels, and G's samples use those same labels (see
``Trainer.train_step``).

Speed and scale (docs/SPEED_AND_SCALE.md): mixed precision (``training.precision``), torch.compile,
channels-last and fused optimizers (``training.accel``), and data-parallel training under torchrun
(``training.distributed``), where every rank draws every random number for the global batch and keeps
its slice, so N processes compute what one process with the same ``--batch-size`` would.
"""

from __future__ import annotations

import dataclasses
import signal
import threading
import time
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import nn

from ganforge import __version__
from ganforge.config import TrainConfig, dump_config
from ganforge.data import TensorDataset, load_dataset, to_model_range
from ganforge.errors import GanforgeError
from ganforge.losses import LOSSES, clip_weights_, gradient_penalty, r1_penalty
from ganforge.models import ModelSpec, build_gan, save_generator
from ganforge.training.accel import compile_enabled, maybe_compile, optimizer_options, to_channels_last
from ganforge.training.augment import diff_augment
from ganforge.training.checkpoint import link_or_copy, load_checkpoint, save_checkpoint
from ganforge.training.distributed import (
    SINGLE,
    DistInfo,
    all_reduce_sum,
    barrier,
    convert_sync_batch_norm,
    from_main,
    info_from_env,
    local_batch_size,
    main_first,
    process_group,
    rank_slice,
    wrap_ddp,
)
from ganforge.training.ema import make_ema, run_ema_beta, update_ema
from ganforge.training.precision import Precision, float32_spectral_norm
from ganforge.training.rundir import (
    HISTORY_COLUMNS,
    HistoryWriter,
    RunPaths,
    check_run_dir,
    clear_run_dir,
    default_run_dir,
)

SAMPLE_GRID_SIZE = 64
GRID_COLUMNS = 8  # sample grids are 8 wide; conditional grids have one row per class
MAX_GRID_ROWS = 64  # classes shown in a conditional grid (celeba-style attribute sets have few)


class Callback(Protocol):
    """Hooks for work that runs alongside training (evaluation, extra logging).

    ``columns`` are added to history.csv; values returned by ``on_step_end`` are logged at that step.
    """

    columns: tuple[str, ...]

    def on_step_end(self, trainer: Trainer, step: int) -> dict[str, float] | None: ...

    def on_train_end(self, trainer: Trainer) -> None: ...


class TrainingInterrupted(GanforgeError):
    """Raised after a clean stop on Ctrl-C / SIGTERM, once the checkpoint is on disk."""

    def __init__(self, step: int, run_dir: Path, signum: int) -> None:
        name = signal.Signals(signum).name
        super().__init__(f"stopped by {name} at step {step}; checkpoint saved in {run_dir / 'checkpoints'}; "
                         f"resume with: ganforge train --run-dir {run_dir} --resume")
        self.exit_code = 128 + signum


@dataclass(frozen=True)
class TrainResult:
    run_dir: Path
    steps: int
    seconds: float
    images_per_s: float
    last: dict[str, float]
    is_main: bool = True  # False on the other ranks of a multi-process run (they report nothing)
    peak_gpu_bytes: int | None = None  # torch.cuda.max_memory_allocated on CUDA runs


def resolve_device(name: str, dist: DistInfo = SINGLE) -> torch.device:
    """The training device; in a multi-process CUDA run, the GPU of this process's LOCAL_RANK."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise GanforgeError("--device cuda was requested but no CUDA GPU is visible; use --device cpu or auto")
    if name == "cuda" and dist.enabled:
        if dist.local_rank >= torch.cuda.device_count():
            raise GanforgeError(f"LOCAL_RANK {dist.local_rank} has no GPU ({torch.cuda.device_count()} visible); "
                                "start at most one process per GPU (torchrun --nproc_per_node)")
        return torch.device("cuda", dist.local_rank)
    return torch.device(name)


def check_data_options(config: TrainConfig, dataset: TensorDataset) -> None:
    """Options that only make sense for some datasets; checked before anything is built."""
    if config.conditional and dataset.num_classes == 0:
        raise GanforgeError(f"--conditional needs class labels, but dataset '{config.data}' has none; "
                            "drop --conditional or use a labelled dataset")
    if config.augment != "none" and not dataset.is_image:
        raise GanforgeError(f"--augment {config.augment} transforms images; '{config.data}' holds points, "
                            "drop --augment")


def model_spec(config: TrainConfig, dataset: TensorDataset) -> ModelSpec:
    check_data_options(config, dataset)
    if dataset.is_image:
        resolution, channels = dataset.resolution, dataset.channels
    else:
        resolution, channels = 0, dataset.sample_shape[0]
    options: dict[str, Any] = {}
    if config.spectral_norm is not None:  # None: the family's paper default
        options["spectral_norm"] = config.spectral_norm
    if config.pack > 1:
        options["pack"] = config.pack
    if config.arch:
        options["arch"] = config.arch
    return ModelSpec(family=config.model, z_dim=config.z_dim, resolution=resolution, channels=channels,
                     num_classes=dataset.num_classes if config.conditional else 0, width=config.width,
                     options=options)


def pack_samples(x: torch.Tensor, pack: int) -> torch.Tensor:
    """PacGAN packing: (N, C, ...) -> (N/pack, pack*C, ...), consecutive samples side by side in channels."""
    if pack == 1:
        return x
    return x.reshape(x.shape[0] // pack, pack * x.shape[1], *x.shape[2:])


def conditional_grid_labels(num_classes: int, columns: int = GRID_COLUMNS,
                            max_rows: int = MAX_GRID_ROWS) -> torch.Tensor:
    """Row r of a conditional sample grid is class r: labels (0,0,..,0, 1,1,..,1, ...)."""
    return torch.arange(min(num_classes, max_rows)).repeat_interleave(columns)


def fixed_grid_inputs(fixed_z: torch.Tensor, num_classes: int,
                      images: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Latents and labels of the sample grid drawn during training.

    Unconditional: the fixed latents as they are. Conditional images: one row per class, the same
    ``GRID_COLUMNS`` latents in every row, so a column shows one latent across classes. Conditional
    points (a scatter plot): the fixed latents cycle through the classes.
    """
    if num_classes == 0:
        return fixed_z, None
    if images:
        labels = conditional_grid_labels(num_classes)
        return fixed_z[:GRID_COLUMNS].repeat(len(labels) // GRID_COLUMNS, 1), labels
    return fixed_z, torch.arange(len(fixed_z)) % num_classes


def make_optimizer(config: TrainConfig, params, lr: float,
                   device: torch.device | None = None) -> torch.optim.Optimizer:
    params = list(params)
    if config.optimizer == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, **optimizer_options(torch.optim.RMSprop, device, params))
    return torch.optim.Adam(params, lr=lr, betas=config.betas, **optimizer_options(torch.optim.Adam, device, params))


def scheduled_lr(base: float, step: int, steps: int, schedule: str) -> float:
    """The learning rate of update ``step`` (0-based) of a ``steps``-long run.

    ``linear`` falls from ``base`` towards 0 at the last update, as SNGAN's and Mimicry's code do; being a
    pure function of the step, a resumed run continues the same schedule without any saved state.
    """
    if schedule == "linear":
        return base * (1.0 - step / steps)
    return base


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr


def keep_data_on_host(requested: bool, nbytes: int, device: torch.device, free_bytes: int | None = None) -> bool:
    """Whether the dataset stays in host memory instead of moving to the training device.

    Only a GPU run has a choice; there the data moves unless asked not to or it would take more than half
    of the free GPU memory (the networks, activations and allocator slack need the rest).
    """
    if device.type != "cuda":
        return False
    if requested:
        return True
    if free_bytes is None:
        free_bytes = torch.cuda.mem_get_info(device)[0]
    return nbytes > free_bytes // 2


def gather_rows(data: torch.Tensor, index: torch.Tensor, device: torch.device) -> torch.Tensor:
    """``data[index]`` on ``device``; from host data via a pinned buffer and an asynchronous copy.

    The buffer comes from torch's caching pinned allocator, which does not hand its memory out again until
    the copy reading it has finished, so a fresh buffer per batch is safe and cheap.
    """
    if data.device == device or device.type != "cuda":
        return data[index].to(device)
    buffer = torch.empty((len(index), *data.shape[1:]), dtype=data.dtype, pin_memory=True)
    torch.index_select(data, 0, index, out=buffer)
    return buffer.to(device, non_blocking=True)


class EpochSampler:
    """Batches drawn without replacement from a fresh permutation each epoch.

    The permutation of epoch e depends only on (seed, e), so the position ``batches_drawn`` is the
    whole state: resuming needs no saved generator and matches the uninterrupted order exactly.
    """

    def __init__(self, size: int, batch_size: int, seed: int, device: torch.device) -> None:
        if batch_size > size:
            raise GanforgeError(f"batch size {batch_size} is larger than the dataset ({size} samples); "
                                f"use --batch-size {size} or less")
        self.size, self.batch_size, self.seed, self.device = size, batch_size, seed, device
        self.batches_per_epoch = size // batch_size
        self.batches_drawn = 0
        self._epoch = -1
        self._perm = torch.empty(0, dtype=torch.long)

    def next_indices(self) -> torch.Tensor:
        epoch, position = divmod(self.batches_drawn, self.batches_per_epoch)
        if epoch != self._epoch:
            rng = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            perm = torch.randperm(self.size, generator=rng)
            if self.device.type == "cuda":  # from pinned memory the copy is asynchronous: no sync per epoch
                perm = perm.pin_memory().to(self.device, non_blocking=True)
            self._perm = perm.to(self.device)
            self._epoch = epoch
        self.batches_drawn += 1
        start = position * self.batch_size
        return self._perm[start:start + self.batch_size]

    @property
    def epoch(self) -> float:
        return self.batches_drawn / self.batches_per_epoch


class Trainer:
    """Holds the networks, optimizers and data on one device and runs GAN updates.

    In a multi-process run (``dist``) each rank holds an identical copy of everything and trains on its
    slice of every global batch; G and D are wrapped in DDP for the updates (see ``train_step``).
    """

    def __init__(self, config: TrainConfig, dataset: TensorDataset, device: torch.device,
                 dist: DistInfo = SINGLE) -> None:
        self.config = config
        self.device = device
        self.dataset = dataset
        self.dist = dist
        self.loss = LOSSES.get(config.loss)
        self.spec = model_spec(config, dataset)
        self.local_batch = local_batch_size(config.batch_size, dist, config.pack)
        self.share = (dist.rank, dist.world_size)  # this rank's slice of every global-batch draw
        self.precision = Precision(config.precision, device)
        self.channels_last = config.channels_last and dataset.is_image
        torch.manual_seed(config.seed)
        generator, discriminator = build_gan(self.spec)
        self.generator: nn.Module = self._prepare(generator, double_backward=False)
        self.discriminator: nn.Module = self._prepare(discriminator, double_backward=self.penalized)
        # Samples, the saved generator and metrics use the EMA copy when there is one.
        self.ema_beta = run_ema_beta(config.batch_size, config.ema_kimg, config.ema)
        self.generator_ema: nn.Module | None = make_ema(self.generator) if self.ema_beta else None
        self.opt_g = make_optimizer(config, self.generator.parameters(), config.lr_g, device)
        self.opt_d = make_optimizer(config, self.discriminator.parameters(), config.lr_d, device)
        # The whole uint8 dataset lives on the training device and batches are gathered there by index;
        # a dataset too big for the GPU stays on the host and each batch goes through pinned memory.
        self.data_on_host = keep_data_on_host(config.data_on_host, dataset.data.nbytes, device)
        data_device = torch.device("cpu") if self.data_on_host else device
        self.data = dataset.data.to(data_device)
        self.labels = dataset.labels.to(data_device)
        self.sampler = EpochSampler(len(dataset), config.batch_size, config.seed, data_device)
        self.noise_rng = torch.Generator(device=device).manual_seed(config.seed + 1)
        # A second stream for augmentations and penalty interpolates, so turning them on leaves the
        # latents (and the batches) of a run unchanged.
        self.aux_rng = torch.Generator(device=device).manual_seed(config.seed + 3)
        self.step = 0
        fixed_rng = torch.Generator().manual_seed(config.seed + 2)
        fixed_z = torch.randn(SAMPLE_GRID_SIZE, config.z_dim, generator=fixed_rng)
        num_classes = dataset.num_classes if config.conditional else 0
        fixed_z, fixed_labels = fixed_grid_inputs(fixed_z, num_classes, dataset.is_image)
        self.fixed_z = fixed_z.to(device)
        self.fixed_labels = fixed_labels.to(device) if fixed_labels is not None else None
        self._build_step_networks()

    def _prepare(self, module: nn.Module, double_backward: bool) -> nn.Module:
        """A freshly built network, adapted to the run's precision, process group, device and layout."""
        if self.precision.enabled:
            float32_spectral_norm(module)
        if self.config.sync_bn and self.dist.enabled:
            module = convert_sync_batch_norm(module, self.device, double_backward=double_backward)
        module = module.to(self.device)
        return to_channels_last(module) if self.channels_last else module

    def _build_step_networks(self) -> None:
        """What ``train_step`` calls: G and D, wrapped in DDP (several processes) and compiled (--compile).

        D's update calls ``d_net`` (DDP: D's gradients averaged once per D step). G's update calls
        ``d_net_for_g``: in a multi-process run the unwrapped D, whose parameters are frozen during G's
        update, so no D gradient exists that a DDP reducer would wait for; the gradient penalties always
        use the unwrapped, uncompiled D (double backward; see ``d_penalty``).
        """
        compiled = compile_enabled(self.config.compile, self.device)
        G, D, device, dist = self.generator, self.discriminator, self.device, self.dist
        self.g_net = maybe_compile(wrap_ddp(G, device, dist), "the generator", enabled=compiled)
        self.d_net = maybe_compile(wrap_ddp(D, device, dist), "the discriminator", enabled=compiled)
        self.d_net_for_g = (maybe_compile(D, "the discriminator (G step)", enabled=compiled)
                            if dist.enabled else self.d_net)

    @property
    def sampling_generator(self) -> nn.Module:
        """The generator to sample from: the EMA copy when ``--ema``/``--ema-kimg`` is on, else G itself."""
        return self.generator_ema if self.generator_ema is not None else self.generator

    @property
    def penalized(self) -> bool:
        return bool(self.config.gp or self.config.r1)

    @property
    def columns(self) -> tuple[str, ...]:
        """history.csv columns beyond the standard ones, from the options this run uses."""
        return ("penalty",) if self.penalized else ()

    # -- one update ---------------------------------------------------------------------------------
    def next_real(self) -> tuple[torch.Tensor, torch.Tensor]:
        """This rank's slice of the next global batch, in [-1, 1] on the training device."""
        index = rank_slice(self.sampler.next_indices(), self.dist)
        if self.data_on_host:
            images, labels = gather_rows(self.data, index, self.device), gather_rows(self.labels, index, self.device)
        else:
            images, labels = self.data[index], self.labels[index]
        real = to_model_range(images)
        if self.channels_last:
            real = real.contiguous(memory_format=torch.channels_last)
        return real, labels

    def noise(self) -> torch.Tensor:
        """This rank's latents: its slice of a draw for the whole global batch (a few KB per rank)."""
        z = torch.randn(self.config.batch_size, self.config.z_dim, generator=self.noise_rng, device=self.device)
        return rank_slice(z, self.dist)

    def d_input(self, x: torch.Tensor) -> torch.Tensor:
        """What D judges: the batch augmented (DiffAugment, when on) and packed (PacGAN, when on)."""
        if self.config.augment == "diffaug":
            # keyword only when sharing, so single-process calls keep diff_augment's plain signature
            x = diff_augment(x, self.aux_rng, **({"share": self.share} if self.dist.enabled else {}))
        return pack_samples(x, self.config.pack)

    def d_penalty(self, real: torch.Tensor, fake: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        """The weighted gradient penalties on D's inputs (already augmented and packed)."""
        D, cfg = self.discriminator, self.config
        penalty = real.new_zeros((), dtype=torch.float32)
        if cfg.gp:
            penalty = penalty + gradient_penalty(D, real, fake, cfg.gp, labels, generator=self.aux_rng,
                                                 share=self.share)
        if cfg.r1:
            penalty = penalty + r1_penalty(D, real, cfg.r1, labels)
        return penalty

    def g_backward(self, fake: torch.Tensor, cond: torch.Tensor | None) -> torch.Tensor:
        """G's loss on ``fake`` as D now scores it, back-propagated into G's gradients only."""
        D, amp = self.discriminator, self.precision
        D.requires_grad_(False)  # gradients through D, not for D's weights
        with amp.autocast():
            scores = self.d_net_for_g(self.d_input(fake), cond)
        loss_g = self.loss.g_loss(amp.scores(scores))
        self.opt_g.zero_grad(set_to_none=True)
        amp.backward(loss_g, amp.scaler_g)
        D.requires_grad_(True)
        return loss_g

    def train_step(self) -> dict[str, torch.Tensor]:
        """n_critic D updates, then one G update. Returns detached scalars (no host sync).

        ``updates: simultaneous`` (one D step) takes G's gradient from the same D that scored the batch,
        before D's update, as the ALI/PacGAN code does (one gradient step on both players at once);
        the default alternating order takes it from the updated D.

        Conditional runs generate fakes with the real batch's labels rather than uniformly drawn ones:
        every D step then compares real and fake batches with identical class counts (no class-frequency
        signal, lower variance), fakes follow the data's class prior even when it is not uniform, and no
        extra random numbers are consumed.
        """
        G, D, cfg, amp = self.generator, self.discriminator, self.config, self.precision
        if cfg.lr_decay != "none":
            set_lr(self.opt_g, scheduled_lr(cfg.lr_g, self.step, cfg.steps, cfg.lr_decay))
            set_lr(self.opt_d, scheduled_lr(cfg.lr_d, self.step, cfg.steps, cfg.lr_decay))
        for critic_step in range(cfg.n_critic):
            real, labels = self.next_real()
            cond = labels if cfg.conditional else None
            last = critic_step == cfg.n_critic - 1
            # The last critic step's fakes keep their graph so the G update reuses them (one G
            # forward per step, as in the reference DCGAN loop).
            with torch.set_grad_enabled(last), amp.autocast():
                fake = self.g_net(self.noise(), cond)
            real_in, fake_in = self.d_input(real), self.d_input(fake.detach())
            with amp.autocast():
                real_scores = self.d_net(real_in, cond)
                fake_scores = self.d_net(fake_in, cond)
            loss_d = self.loss.d_loss(amp.scores(real_scores), amp.scores(fake_scores))
            # float32, outside autocast, on the unwrapped D; its gradients join the loss's in the same
            # backward, so DDP averages each D parameter's (loss + penalty) gradient once
            penalty = self.d_penalty(real_in, fake_in, cond) if self.penalized else None
            if last and cfg.updates == "simultaneous":
                loss_g = self.g_backward(fake, cond)
            self.opt_d.zero_grad(set_to_none=True)
            amp.backward_and_step(loss_d if penalty is None else loss_d + penalty, self.opt_d, amp.scaler_d)
            if cfg.clip:
                clip_weights_(D, cfg.clip)
        if cfg.updates == "alternating":
            loss_g = self.g_backward(fake, cond)
        amp.step(self.opt_g, amp.scaler_g)
        if self.generator_ema is not None:
            update_ema(self.generator_ema, G, self.ema_beta)
        self.step += 1
        scalars = {
            "loss_d": loss_d.detach(),
            "loss_g": loss_g.detach(),
            "d_real": self.loss.d_output(amp.scores(real_scores.detach())).mean(),
            "d_fake": self.loss.d_output(amp.scores(fake_scores.detach())).mean(),
        }
        if penalty is not None:
            scalars["penalty"] = penalty.detach()
        return scalars

    # -- sampling ----------------------------------------------------------------------------------
    @torch.no_grad()
    def fixed_samples(self) -> torch.Tensor:
        """The sample grid's fixed latents (and, when conditional, one class per row) through G or its EMA."""
        generator = self.sampling_generator
        was_training = generator.training
        generator.eval()
        samples = generator(self.fixed_z, self.fixed_labels)
        generator.train(was_training)
        return samples.cpu()

    # -- state ---------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "batches_drawn": self.sampler.batches_drawn,
            "generator": self.generator.state_dict(),
            "discriminator": self.discriminator.state_dict(),
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
            "noise_rng": self.noise_rng.get_state(),
            "aux_rng": self.aux_rng.get_state(),
            "torch_rng": torch.get_rng_state(),
            "spec": self.spec.to_dict(),
            **({"generator_ema": self.generator_ema.state_dict()} if self.generator_ema is not None else {}),
            **({"scalers": scalers} if (scalers := self.precision.state_dict()) else {}),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.generator.load_state_dict(state["generator"])
        self.discriminator.load_state_dict(state["discriminator"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        self.noise_rng.set_state(state["noise_rng"])
        if "aux_rng" in state:  # checkpoints written before augmentation/penalties existed lack it
            self.aux_rng.set_state(state["aux_rng"])
        if self.generator_ema is not None:
            self.generator_ema.load_state_dict(state["generator_ema"])
        self.precision.load_state_dict(state.get("scalers", {}))
        torch.set_rng_state(state["torch_rng"])
        self.step = int(state["step"])
        self.sampler.batches_drawn = int(state["batches_drawn"])


class ScalarWindow:
    """Sums of step scalars kept on the device; read (one host sync) only when a row is logged."""

    def __init__(self) -> None:
        self.sums: dict[str, torch.Tensor] = {}
        self.count = 0

    def add(self, scalars: dict[str, torch.Tensor]) -> None:
        for key, value in scalars.items():
            self.sums[key] = self.sums[key] + value if key in self.sums else value.clone()
        self.count += 1

    def mean_and_reset(self) -> dict[str, float]:
        values = {key: float(total) / self.count for key, total in self.sums.items()}
        self.sums, self.count = {}, 0
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
        scale = max(self.count, 1) * dist.world_size
        means = {key: totals[i] / scale for i, key in enumerate(keys)}
        self.sums, self.count = {}, 0
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
        return {"sums": {k: v.cpu() for k, v in sums.items()}, "count": self.count}

    def load_state_dict(self, state: dict[str, Any], device: torch.device) -> None:
        self.sums = {k: v.to(device) for k, v in state["sums"].items()}
        self.count = int(state["count"])


@contextmanager
def stop_signals():
    """Turn Ctrl-C / SIGTERM into a flag the loop checks between steps (never mid-update)."""
    received: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield received
        return

    def handler(signum, frame):
        received.append(signum)

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield received
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _meta() -> dict[str, str]:
    return {"ganforge_version": __version__, "torch_version": str(torch.__version__)}


class TrainingRun:
    """A Trainer plus its run folder: history, samples, checkpoints, TensorBoard and final artifacts.

    In a multi-process run every rank builds a TrainingRun and trains; only rank 0 (``is_main``) touches
    the run folder, runs the callbacks (evaluation) and shows progress. Everything that involves all ranks
    (the logged means, stop requests, the checkpoint's window) happens at steps every rank can compute
    from the config, so no rank ever waits for a collective another rank skips.
    """

    def __init__(self, config: TrainConfig, *, resume: bool = False, overwrite: bool = False,
                 callbacks: Sequence[Callback] = (), progress: bool = True, dist: DistInfo = SINGLE) -> None:
        self.dist = dist
        self.is_main = dist.is_main

        def run_folder() -> Path:  # rank 0 decides (a default name has a timestamp) and checks it
            root = Path(config.run_dir).expanduser() if config.run_dir else default_run_dir(config.model, config.data)
            check_run_dir(root, resume=resume, overwrite=overwrite)
            return root

        root = from_main(run_folder, dist)
        self.paths = RunPaths(root)
        self.config = config = dataclasses.replace(config, run_dir=str(root))
        self.resume = resume
        self.callbacks = list(callbacks) if self.is_main else []
        self.progress = progress and self.is_main
        device = resolve_device(config.device, dist)
        # rank 0 first: a dataset that needs downloading is fetched once, not once per process
        dataset = main_first(lambda: load_dataset(
            config.data, cache_dir=Path(config.cache_dir) if config.cache_dir else None,
            resolution=config.resolution), dist)
        # Everything that can fail on bad input happens before the run folder is touched.
        self.trainer = Trainer(config, dataset, device, dist)
        self.window = ScalarWindow()
        self.elapsed_before = 0.0
        # rank 0 reads the checkpoint and hands it to the others: no shared filesystem needed
        checkpoint = from_main(lambda: load_checkpoint(self.paths.last_checkpoint), dist) if resume else None
        if checkpoint is not None:
            self.trainer.load_state_dict(checkpoint)
            self.window.load_state_dict(checkpoint["window"], device)
            self.elapsed_before = float(checkpoint["elapsed"])
        if self.is_main:
            self._open_run_folder(overwrite)
        barrier(dist)  # nobody trains (and may fail) while rank 0 is still setting up the folder

    def _open_run_folder(self, overwrite: bool) -> None:
        config, root = self.config, self.paths.root
        if overwrite and root.is_dir():
            clear_run_dir(root)
        for folder in (root, self.paths.samples, self.paths.checkpoints):
            folder.mkdir(parents=True, exist_ok=True)
        dump_config(config, self.paths.config, _meta())
        if config.eval_every:
            from ganforge.training.evaluation import EvalSettings, MetricCallback

            settings = EvalSettings(every=config.eval_every, num_samples=config.eval_samples,
                                    metrics=config.eval_metrics, reference=config.eval_reference, seed=config.seed)
            self.callbacks.append(MetricCallback(settings, self))
        self.columns = (HISTORY_COLUMNS + self.trainer.columns
                        + tuple(c for cb in self.callbacks for c in cb.columns))
        log_every = config.log_every
        self.history = HistoryWriter(
            self.paths.history, self.columns,
            resume_step=self.trainer.step if self.resume else None,
            # A final row logged off the log grid at the checkpoint step is re-logged after resume.
            keep_row=lambda row: int(row["step"]) < self.trainer.step or int(row["step"]) % log_every == 0,
        )

    # -- artifacts ----------------------------------------------------------------------------------
    def _tensorboard(self):
        from torch.utils.tensorboard import SummaryWriter

        return SummaryWriter(str(self.paths.tensorboard), purge_step=self.trainer.step + 1 if self.resume else None)

    def save_samples(self, step: int, final: bool = False) -> Any:
        from ganforge.viz import render_samples, save_png

        reference = None if self.trainer.dataset.is_image else self.trainer.dataset.data
        picture = render_samples(self.trainer.fixed_samples(), nrow=GRID_COLUMNS, reference=reference)
        save_png(picture, self.paths.samples / "final.png" if final else self.paths.sample_grid(step))
        return picture

    def save_checkpoint(self) -> None:
        """checkpoints/last.pt and the generator; every rank calls it (the window is averaged over ranks)."""
        window = self.window.state_dict(self.dist)
        if not self.is_main:
            return
        state = self.trainer.state_dict()
        state.update(window=window, elapsed=self.elapsed(), config=self.config.to_dict())
        save_checkpoint(state, self.paths.last_checkpoint)
        self.save_generator()

    def save_best(self) -> None:
        """checkpoints/best.pt and best/ (a loadable generator folder) for the best evaluation so far.

        Called by the evaluation callback, which runs on rank 0 only: no collective here.
        """
        state = self.trainer.state_dict()
        state.update(window=self.window.state_dict(), elapsed=self.elapsed(), config=self.config.to_dict())
        save_checkpoint(state, self.paths.checkpoints / "best.pt")
        self.save_generator(self.paths.root / "best")

    def save_generator(self, folder: Path | None = None) -> None:
        trainer = self.trainer
        meta = {"step": trainer.step, "ema": trainer.generator_ema is not None, "dataset": self.config.data,
                "class_names": trainer.dataset.class_names, "config": self.config.to_dict(), **_meta()}
        save_generator(folder or self.paths.root, trainer.sampling_generator, trainer.spec, meta)

    def finish_artifacts(self) -> None:
        from ganforge.viz import plot_loss_curves, save_gif

        frames = sorted(self.paths.samples.glob("step_*.png"))
        if self.trainer.step % self.config.sample_every:  # else final.png repeats the last step grid
            frames.append(self.paths.samples / "final.png")
        save_gif(frames, self.paths.progress_gif)
        plot_loss_curves(self.paths.history, self.paths.loss_curves,
                         title=f"{self.config.model} / {self.config.loss} on {self.config.data}")

    def elapsed(self) -> float:
        return self.elapsed_before + (time.perf_counter() - self._started)

    # -- the loop -----------------------------------------------------------------------------------
    def is_log_step(self, step: int, extra: dict[str, float]) -> bool:
        """Rows at every --log-every step and at evaluation steps; in one process also whenever a
        callback returns values. Ranks other than 0 run no callbacks, so a multi-process run keeps to
        what the config says (a callback's values off that schedule join the next row)."""
        cfg = self.config
        scheduled = step % cfg.log_every == 0 or bool(cfg.eval_every and step % cfg.eval_every == 0)
        return scheduled or (bool(extra) and not self.dist.enabled)

    def run(self) -> TrainResult:
        from tqdm.auto import tqdm

        cfg, trainer, dist = self.config, self.trainer, self.dist
        tb = self._tensorboard() if self.is_main else None
        self._started = time.perf_counter()
        start_step = trainer.step
        window_started, window_step = time.perf_counter(), trainer.step
        last: dict[str, float] = {}
        pending: dict[str, float] = {}  # callback values waiting for the next row (multi-process only)
        bar = tqdm(total=cfg.steps, initial=start_step, desc="train", unit="step", dynamic_ncols=True,
                   disable=not self.progress)
        try:
            with stop_signals() as stop:
                while trainer.step < cfg.steps:
                    self.window.add(trainer.train_step())
                    step = trainer.step
                    for callback in self.callbacks:
                        pending.update(callback.on_step_end(trainer, step) or {})
                    stop_signal = stop[0] if stop and not dist.enabled else 0
                    if self.is_log_step(step, pending):
                        now = time.perf_counter()
                        rate = (step - window_step) * cfg.batch_size / max(now - window_started, 1e-9)
                        window_started, window_step = now, step
                        last, agreed_stop = self._log_row(step, rate, pending, tb, stop)
                        stop_signal = agreed_stop or stop_signal
                        pending = {}
                        if self.progress:
                            bar.set_postfix(loss_d=f"{last['loss_d']:.3f}", loss_g=f"{last['loss_g']:.3f}",
                                            D_x=f"{last['d_real']:.2f}", D_G_z=f"{last['d_fake']:.2f}",
                                            img_s=f"{rate:.0f}", refresh=False)
                    if self.is_main and step % cfg.sample_every == 0:
                        tb.add_image("samples", self.save_samples(step), step, dataformats="HWC")
                    if step % cfg.checkpoint_every == 0:
                        self.save_checkpoint()
                        if self.is_main:
                            link_or_copy(self.paths.last_checkpoint, self.paths.step_checkpoint(step))
                    bar.update(1)
                    if stop_signal:
                        self.save_checkpoint()
                        barrier(dist)  # the others wait for rank 0's checkpoint before anyone exits
                        raise TrainingInterrupted(step, self.paths.root, stop_signal)
            self.save_checkpoint()
            if self.window.count:  # the last steps when --steps is not a multiple of --log-every
                rate = (trainer.step - window_step) * cfg.batch_size / max(time.perf_counter() - window_started, 1e-9)
                last, _ = self._log_row(trainer.step, rate, pending, tb, [])
            if self.is_main:
                tb.add_image("samples", self.save_samples(trainer.step, final=True), trainer.step, dataformats="HWC")
                self.finish_artifacts()
                for callback in self.callbacks:
                    callback.on_train_end(trainer)
        finally:
            bar.close()
            if self.is_main:
                tb.close()
                self.history.close()
        seconds = self.elapsed()
        trained = trainer.step - start_step
        rate = trained * cfg.batch_size / max(time.perf_counter() - self._started, 1e-9)
        device = trainer.device
        peak = torch.cuda.max_memory_allocated(device) if device.type == "cuda" else None
        return TrainResult(self.paths.root, trainer.step, seconds, rate, last, is_main=self.is_main,
                           peak_gpu_bytes=peak)

    def _window_means(self, stop: Sequence[int]) -> tuple[dict[str, float], int]:
        """The window's means and, in a multi-process run, the stop request of any rank (0: none)."""
        if not self.dist.enabled:
            return (self.window.mean_and_reset() if self.window.count else {}), 0
        flags = [float(signal.SIGINT in stop), float(signal.SIGTERM in stop)]
        means, (interrupts, terminations) = self.window.reduce_and_reset(self.dist, self.trainer.device, flags)
        if interrupts:
            return means, signal.SIGINT
        return means, signal.SIGTERM if terminations else 0

    def _log_row(self, step: int, rate: float, extra: dict[str, float], tb,
                 stop: Sequence[int]) -> tuple[dict[str, float], int]:
        means, stop_signal = self._window_means(stop)
        if self.is_main:
            row = {"step": step, "epoch": round(self.trainer.sampler.epoch, 4), **means,
                   "lr": self.trainer.opt_g.param_groups[0]["lr"], "seconds": round(self.elapsed(), 3), "images_per_s": round(rate, 1),
                   **extra}
            self.history.write(row)
            for key, value in {**means, **extra, "images_per_s": rate}.items():
                tb.add_scalar(key, value, step)
        return {**means, **extra}, stop_signal


def train(config: TrainConfig, *, resume: bool = False, overwrite: bool = False,
          callbacks: Sequence[Callback] = (), progress: bool = True) -> TrainResult:
    """Train as ``config`` says and write the run folder; the library entry point behind the CLI.

    Under torchrun (RANK/WORLD_SIZE in the environment) this process joins the job's process group for
    the duration of the run and leaves it however the run ends.
    """
    dist = info_from_env()
    with process_group(dist, resolve_device(config.device, dist)):
        return TrainingRun(config, resume=resume, overwrite=overwrite, callbacks=callbacks, progress=progress,
                           dist=dist).run()
