"""The one training loop every model, loss and regularizer plugs into.

``Trainer.train_step`` runs ``n_critic`` discriminator updates and one generator update. Everything
random (batch order, latents, augmentations, penalty interpolates) comes from state the checkpoint
stores, so a resumed run continues exactly where an uninterrupted one would be.

What D sees is ``pack(augment(x))``: DiffAugment (optional) on every real and fake batch, in D's and G's
updates alike, then PacGAN packing (optional) of ``pack`` consecutive samples into one D input.
Conditional runs give G and D the real batch's labels, and G's samples use those same labels (see
``Trainer.train_step``).
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
from ganforge.training.augment import diff_augment
from ganforge.training.checkpoint import link_or_copy, load_checkpoint, save_checkpoint
from ganforge.training.ema import ema_beta, make_ema, update_ema
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


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise GanforgeError("--device cuda was requested but no CUDA GPU is visible; use --device cpu or auto")
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
    if config.spectral_norm:
        options["spectral_norm"] = True
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


def make_optimizer(config: TrainConfig, params, lr: float) -> torch.optim.Optimizer:
    if config.optimizer == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr)
    return torch.optim.Adam(params, lr=lr, betas=config.betas)


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
            self._perm = torch.randperm(self.size, generator=rng).to(self.device)
            self._epoch = epoch
        self.batches_drawn += 1
        start = position * self.batch_size
        return self._perm[start:start + self.batch_size]

    @property
    def epoch(self) -> float:
        return self.batches_drawn / self.batches_per_epoch


class Trainer:
    """Holds the networks, optimizers and data on one device and runs GAN updates."""

    def __init__(self, config: TrainConfig, dataset: TensorDataset, device: torch.device) -> None:
        self.config = config
        self.device = device
        self.dataset = dataset
        self.loss = LOSSES.get(config.loss)
        self.spec = model_spec(config, dataset)
        torch.manual_seed(config.seed)
        generator, discriminator = build_gan(self.spec)
        self.generator: nn.Module = generator.to(device)
        self.discriminator: nn.Module = discriminator.to(device)
        # Samples, the saved generator and metrics use the EMA copy when there is one.
        self.generator_ema: nn.Module | None = make_ema(self.generator) if config.ema_kimg else None
        self.ema_beta = ema_beta(config.batch_size, config.ema_kimg) if config.ema_kimg else 0.0
        self.opt_g = make_optimizer(config, self.generator.parameters(), config.lr_g)
        self.opt_d = make_optimizer(config, self.discriminator.parameters(), config.lr_d)
        # The whole dataset lives on the training device; batches are gathered by index.
        self.data = dataset.data.to(device)
        self.labels = dataset.labels.to(device)
        self.sampler = EpochSampler(len(dataset), config.batch_size, config.seed, device)
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

    @property
    def sampling_generator(self) -> nn.Module:
        """The generator to sample from: the EMA copy when ``--ema-kimg`` is on, else G itself."""
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
        index = self.sampler.next_indices()
        return to_model_range(self.data[index]), self.labels[index]

    def noise(self, num: int) -> torch.Tensor:
        return torch.randn(num, self.config.z_dim, generator=self.noise_rng, device=self.device)

    def d_input(self, x: torch.Tensor) -> torch.Tensor:
        """What D judges: the batch augmented (DiffAugment, when on) and packed (PacGAN, when on)."""
        if self.config.augment == "diffaug":
            x = diff_augment(x, self.aux_rng)
        return pack_samples(x, self.config.pack)

    def d_penalty(self, real: torch.Tensor, fake: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        """The weighted gradient penalties on D's inputs (already augmented and packed)."""
        D, cfg = self.discriminator, self.config
        penalty = real.new_zeros((), dtype=torch.float32)
        if cfg.gp:
            penalty = penalty + gradient_penalty(D, real, fake, cfg.gp, labels, generator=self.aux_rng)
        if cfg.r1:
            penalty = penalty + r1_penalty(D, real, cfg.r1, labels)
        return penalty

    def train_step(self) -> dict[str, torch.Tensor]:
        """n_critic D updates, then one G update. Returns detached scalars (no host sync).

        Conditional runs generate fakes with the real batch's labels rather than uniformly drawn ones:
        every D step then compares real and fake batches with identical class counts (no class-frequency
        signal, lower variance), fakes follow the data's class prior even when it is not uniform, and no
        extra random numbers are consumed.
        """
        G, D, cfg = self.generator, self.discriminator, self.config
        D.requires_grad_(True)
        for critic_step in range(cfg.n_critic):
            real, labels = self.next_real()
            cond = labels if cfg.conditional else None
            last = critic_step == cfg.n_critic - 1
            # The last critic step's fakes keep their graph so the G update reuses them (one G
            # forward per step, as in the reference DCGAN loop).
            with torch.set_grad_enabled(last):
                fake = G(self.noise(cfg.batch_size), cond)
            real_in, fake_in = self.d_input(real), self.d_input(fake.detach())
            real_scores = D(real_in, cond)
            fake_scores = D(fake_in, cond)
            loss_d = self.loss.d_loss(real_scores, fake_scores)
            penalty = self.d_penalty(real_in, fake_in, cond) if self.penalized else None
            self.opt_d.zero_grad(set_to_none=True)
            (loss_d if penalty is None else loss_d + penalty).backward()
            self.opt_d.step()
            if cfg.clip:
                clip_weights_(D, cfg.clip)
        D.requires_grad_(False)  # G's update needs gradients through D, not for D's weights
        loss_g = self.loss.g_loss(D(self.d_input(fake), cond))
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        self.opt_g.step()
        if self.generator_ema is not None:
            update_ema(self.generator_ema, G, self.ema_beta)
        self.step += 1
        scalars = {
            "loss_d": loss_d.detach(),
            "loss_g": loss_g.detach(),
            "d_real": self.loss.d_output(real_scores.detach()).mean(),
            "d_fake": self.loss.d_output(fake_scores.detach()).mean(),
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

    def state_dict(self) -> dict[str, Any]:
        return {"sums": {k: v.cpu() for k, v in self.sums.items()}, "count": self.count}

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
    """A Trainer plus its run folder: history, samples, checkpoints, TensorBoard and final artifacts."""

    def __init__(self, config: TrainConfig, *, resume: bool = False, overwrite: bool = False,
                 callbacks: Sequence[Callback] = (), progress: bool = True) -> None:
        root = Path(config.run_dir).expanduser() if config.run_dir else default_run_dir(config.model, config.data)
        check_run_dir(root, resume=resume, overwrite=overwrite)
        self.paths = RunPaths(root)
        self.config = config = dataclasses.replace(config, run_dir=str(root))
        self.resume = resume
        self.callbacks = list(callbacks)
        self.progress = progress
        device = resolve_device(config.device)
        dataset = load_dataset(config.data, cache_dir=Path(config.cache_dir) if config.cache_dir else None,
                               resolution=config.resolution)
        # Everything that can fail on bad input happens before the run folder is touched.
        self.trainer = Trainer(config, dataset, device)
        self.window = ScalarWindow()
        self.elapsed_before = 0.0
        checkpoint = load_checkpoint(self.paths.last_checkpoint) if resume else None
        if overwrite and root.is_dir():
            clear_run_dir(root)
        for folder in (root, self.paths.samples, self.paths.checkpoints):
            folder.mkdir(parents=True, exist_ok=True)
        if checkpoint is not None:
            self.trainer.load_state_dict(checkpoint)
            self.window.load_state_dict(checkpoint["window"], device)
            self.elapsed_before = float(checkpoint["elapsed"])
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
            resume_step=self.trainer.step if resume else None,
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
        state = self.trainer.state_dict()
        state.update(window=self.window.state_dict(), elapsed=self.elapsed(), config=self.config.to_dict())
        save_checkpoint(state, self.paths.last_checkpoint)
        self.save_generator()

    def save_best(self) -> None:
        """checkpoints/best.pt and best/ (a loadable generator folder) for the best evaluation so far."""
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
    def run(self) -> TrainResult:
        from tqdm.auto import tqdm

        cfg, trainer = self.config, self.trainer
        tb = self._tensorboard()
        self._started = time.perf_counter()
        start_step = trainer.step
        window_started, window_step = time.perf_counter(), trainer.step
        last: dict[str, float] = {}
        bar = tqdm(total=cfg.steps, initial=start_step, desc="train", unit="step", dynamic_ncols=True,
                   disable=not self.progress)
        try:
            with stop_signals() as stop:
                while trainer.step < cfg.steps:
                    self.window.add(trainer.train_step())
                    step = trainer.step
                    extra: dict[str, float] = {}
                    for callback in self.callbacks:
                        extra.update(callback.on_step_end(trainer, step) or {})
                    if step % cfg.log_every == 0 or extra:
                        now = time.perf_counter()
                        rate = (step - window_step) * cfg.batch_size / max(now - window_started, 1e-9)
                        window_started, window_step = now, step
                        last = self._log_row(step, rate, extra, tb)
                        bar.set_postfix(loss_d=f"{last['loss_d']:.3f}", loss_g=f"{last['loss_g']:.3f}",
                                        D_x=f"{last['d_real']:.2f}", D_G_z=f"{last['d_fake']:.2f}",
                                        img_s=f"{rate:.0f}", refresh=False)
                    if step % cfg.sample_every == 0:
                        tb.add_image("samples", self.save_samples(step), step, dataformats="HWC")
                    if step % cfg.checkpoint_every == 0:
                        self.save_checkpoint()
                        link_or_copy(self.paths.last_checkpoint, self.paths.step_checkpoint(step))
                    bar.update(1)
                    if stop:
                        self.save_checkpoint()
                        raise TrainingInterrupted(step, self.paths.root, stop[0])
            self.save_checkpoint()
            if self.window.count:  # the last steps when --steps is not a multiple of --log-every
                rate = (trainer.step - window_step) * cfg.batch_size / max(time.perf_counter() - window_started, 1e-9)
                last = self._log_row(trainer.step, rate, {}, tb)
            tb.add_image("samples", self.save_samples(trainer.step, final=True), trainer.step, dataformats="HWC")
            self.finish_artifacts()
            for callback in self.callbacks:
                callback.on_train_end(trainer)
        finally:
            bar.close()
            tb.close()
            self.history.close()
        seconds = self.elapsed()
        trained = trainer.step - start_step
        rate = trained * cfg.batch_size / max(time.perf_counter() - self._started, 1e-9)
        return TrainResult(self.paths.root, trainer.step, seconds, rate, last)

    def _log_row(self, step: int, rate: float, extra: dict[str, float], tb) -> dict[str, float]:
        means = self.window.mean_and_reset() if self.window.count else {}
        row = {"step": step, "epoch": round(self.trainer.sampler.epoch, 4), **means,
               "lr": self.config.lr_g, "seconds": round(self.elapsed(), 3), "images_per_s": round(rate, 1),
               **extra}
        self.history.write(row)
        for key, value in {**means, **extra, "images_per_s": rate}.items():
            tb.add_scalar(key, value, step)
        return {**means, **extra}


def train(config: TrainConfig, *, resume: bool = False, overwrite: bool = False,
          callbacks: Sequence[Callback] = (), progress: bool = True) -> TrainResult:
    """Train as ``config`` says and write the run folder; the library entry point behind the CLI."""
    return TrainingRun(config, resume=resume, overwrite=overwrite, callbacks=callbacks, progress=progress).run()
