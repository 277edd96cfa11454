"""A training run: a Trainer plus its run folder, from ``train(config)`` to the finished artifacts.

Each step's scalars are summed on the device (``training.scalars.ScalarWindow``); at a logged row ``TrainingRun.report``
hands one dict to every logger (``training.loggers``: history.csv, TensorBoard, ...). Sample grids go the
same way; checkpoints are ``training.checkpoint.RunCheckpoints``. Ctrl-C / SIGTERM stop between steps
with a checkpoint on disk, or, during start-up, at once with one line (``training.stopping``).

Start-up is atomic from the user's view: everything that can fail on input is checked before the run
folder is touched, the step-0 checkpoint is written before the first step, and a folder left by a start
that never got that far (no checkpoint, no sample grid) is reused by the same command.
"""

from __future__ import annotations

import dataclasses
import signal
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from ganforge import __version__
from ganforge.config import TrainConfig, dump_config
from ganforge.data import load_dataset
from ganforge.devices import BusyCoresWatch, resolve_device, torch_threads
from ganforge.errors import GanforgeError
from ganforge.models import save_generator
from ganforge.notebook import result_html, show_result
from ganforge.progress import progress_bar
from ganforge.runfolder import RunFolder, clear_startup_leftovers, never_started
from ganforge.runlock import RunLock
from ganforge.training.checkpoint import RunCheckpoints, read_training_checkpoint
from ganforge.training.distributed import (
    SINGLE,
    DistInfo,
    barrier,
    from_main,
    info_from_env,
    main_first,
    peer_failures,
    process_group,
)
from ganforge.training.evaluation import EvalSettings, MetricCallback
from ganforge.training.grid import GRID_COLUMNS
from ganforge.training.loggers import (
    FINAL_SAMPLES,
    SAMPLES,
    LoggerContext,
    Loggers,
    RunEnd,
    SampleGrids,
    build_loggers,
)
from ganforge.training.loggers.live import live_displays
from ganforge.training.rundir import check_run_dir, clear_run_dir, default_run_dir
from ganforge.training.scalars import ScalarWindow
from ganforge.training.step import TrainStep
from ganforge.training.stopping import StartupInterrupted, StopSignals, TrainingInterrupted, handle_signals
from ganforge.training.update import Trainer
from ganforge.viz import render_samples

__all__ = ["Callback", "TrainResult", "TrainingInterrupted", "TrainingRun", "train"]


class Callback(Protocol):
    """Hooks for work that runs alongside training (evaluation, extra logging).

    Values returned by ``on_step_end`` are logged at that step like the step's own scalars (a key seen
    for the first time becomes a new history.csv column).
    """

    def on_step_end(self, trainer: Trainer, step: int) -> dict[str, float] | None: ...

    def on_train_end(self, trainer: Trainer) -> None: ...


@dataclass(frozen=True)
class TrainResult:
    run_dir: Path
    steps: int
    seconds: float
    images_per_s: float
    last: dict[str, float]
    is_main: bool = True  # False on the other ranks of a multi-process run (they report nothing)
    peak_gpu_bytes: int | None = None  # torch.cuda.max_memory_allocated on CUDA runs

    def _repr_html_(self) -> str:
        """In a notebook: the numbers, the final sample grid and the loss curves (ganforge.notebook)."""
        return result_html(self)

    def show(self) -> None:
        show_result(self)


# What the progress bar shows of a row: ganforge's update's scalars under short labels, with their digits.
POSTFIX = {"loss_d": ("loss_d", 3), "loss_g": ("loss_g", 3), "d_real": ("D_x", 2), "d_fake": ("D_G_z", 2)}
POSTFIX_MAX = 4  # scalars of a training step of one's own shown (its first ones)


def progress_postfix(values: dict[str, float], rate: float) -> dict[str, str]:
    """The bar's postfix: the losses and D's outputs, or the first scalars of a step that has other names."""
    shown = {label: f"{values[key]:.{digits}f}" for key, (label, digits) in POSTFIX.items() if key in values}
    if not shown:
        shown = {key: f"{value:.4g}" for key, value in list(values.items())[:POSTFIX_MAX]}
    return {**shown, "img_s": f"{rate:.0f}"}


def finished_error(run_dir: Path, step: int) -> GanforgeError:
    return GanforgeError(f"run {run_dir} already finished at step {step}; raise --steps to continue "
                         f"(e.g. --resume --steps {2 * step})")


def _meta() -> dict[str, str]:
    return {"ganforge_version": __version__, "torch_version": str(torch.__version__)}


class TrainingRun:
    """A Trainer plus its run folder: loggers (history, TensorBoard, ...), samples, checkpoints, generator.

    In a multi-process run every rank builds a TrainingRun and trains; only rank 0 (``is_main``) touches
    the run folder, runs the callbacks (evaluation) and shows progress. Everything that involves all ranks
    (the logged means, stop requests, the checkpoint's window) happens at steps every rank can compute
    from the config, so no rank ever waits for a collective another rank skips.
    """

    def __init__(self, config: TrainConfig, *, resume: bool = False, overwrite: bool = False,
                 callbacks: Sequence[Callback] = (), progress: bool = True, dist: DistInfo = SINGLE,
                 signals: StopSignals | None = None, train_step: TrainStep | None = None) -> None:
        self.dist = dist
        self.is_main = dist.is_main
        self.signals = signals or StopSignals()

        def run_folder() -> Path:  # rank 0 decides (a default name has a timestamp) and checks it
            root = Path(config.run_dir).expanduser() if config.run_dir else default_run_dir(config.model, config.data)
            check_run_dir(root, resume=resume, overwrite=overwrite)
            return root

        root = from_main(run_folder, dist)
        self.paths = RunFolder(root)
        self.signals.run_dir = root
        self.config = config = dataclasses.replace(config, run_dir=str(root))
        self.resume = resume
        self.callbacks = list(callbacks) if self.is_main else []
        self.progress = progress and self.is_main
        device = resolve_device(config.device, dist)
        # rank 0 first: a dataset that needs downloading is fetched once, not once per process
        dataset = main_first(lambda: load_dataset(
            config.data, cache_dir=Path(config.cache_dir) if config.cache_dir else None,
            resolution=config.resolution, crop=config.crop), dist)
        # Everything that can fail on bad input happens before the run folder is touched.
        self.trainer = Trainer(config, dataset, device, dist, update=train_step)
        self.window = ScalarWindow()
        self.elapsed_before = 0.0
        self.checkpoints = RunCheckpoints(self.paths, self.save_generator, keep=config.keep_checkpoints)
        self.loggers = Loggers([])  # rank 0's are opened with the run folder
        self.lock = RunLock(root)  # rank 0 holds it from opening the folder until the run ends
        # rank 0 reads the checkpoint and hands it to the others: no shared filesystem needed
        checkpoint = from_main(lambda: read_training_checkpoint(self.paths.last_checkpoint), dist) if resume else None
        if checkpoint is not None:
            self._restore(checkpoint)
        # every rank learns from rank 0 whether the run is finished: all refuse together
        if self.trainer.step >= config.steps and from_main(lambda: self.paths.is_finished(self.trainer.step), dist):
            raise finished_error(root, self.trainer.step)
        if self.is_main and config.eval_every:
            self.callbacks.append(self._metric_callback())
        if self.is_main and device.type == "cpu":
            self.callbacks.append(BusyCoresWatch())  # one warning when busy cores starve torch's threads
        if self.is_main:
            try:
                self._open_run_folder(overwrite)
            except BaseException:
                self.lock.release()
                raise
        barrier(dist)  # nobody trains (and may fail) while rank 0 is still setting up the folder

    def _restore(self, checkpoint: dict[str, Any]) -> None:
        try:
            self.trainer.load_state_dict(checkpoint)
            self.window.load_state_dict(checkpoint["window"], self.trainer.device)
            self.elapsed_before = float(checkpoint["elapsed"])
        except (RuntimeError, KeyError, ValueError, TypeError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise GanforgeError(f"{self.paths.last_checkpoint} does not fit this run's networks and optimizers "
                                f"({first[:200]}); it was written by another run or version") from None

    def _metric_callback(self) -> Callback:
        """The --eval-every callback, built (metrics, Inception weights checked) before the folder is touched."""
        config = self.config
        settings = EvalSettings(every=config.eval_every, num_samples=config.eval_samples,
                                metrics=config.eval_metrics, reference=config.eval_reference, seed=config.seed,
                                weights={**config.extractor_weights,
                                         **({"inception": config.inception_weights} if config.inception_weights
                                            else {})})
        return MetricCallback(settings, self)

    def _open_run_folder(self, overwrite: bool) -> None:
        config, root = self.config, self.paths.root
        root.mkdir(parents=True, exist_ok=True)
        self.lock.acquire()  # a writer that started since check_run_dir wins: this one stops here
        if overwrite and root.is_dir():
            clear_run_dir(root)
        elif not self.resume and never_started(root):
            clear_startup_leftovers(root)  # an earlier start stopped before training: it is ours to redo
        for folder in (root, self.paths.samples, self.paths.checkpoints):
            folder.mkdir(parents=True, exist_ok=True)
        self.checkpoints.remove_orphans()
        dump_config(config, self.paths.config, _meta())
        update = config.loss if self.trainer.builtin_update else config.train_step.rpartition(":")[2]
        title = f"{config.model} / {update} on {config.data}"
        self.samples = SampleGrids(self.paths, config.sample_every, title=title)
        context = LoggerContext(self.paths, config, self.trainer.step if self.resume else None,
                                resume_window_open=self.resume and self.window.count > 0)
        step_scalars = None if self.trainer.builtin_update else (lambda: list(self.trainer.scalar_keys))
        self.loggers = Loggers([self.samples, *live_displays(title, self.progress, step_scalars),
                                *build_loggers(context)])
        self.loggers.log_config({**config.to_dict(), **_meta()})

    # -- artifacts ----------------------------------------------------------------------------------
    def render_samples(self) -> np.ndarray:
        """The fixed-latent sample grid (a scatter plot over the data for 2-D points), (H, W, 3) uint8."""
        reference = None if self.trainer.dataset.is_image else self.trainer.dataset.data
        return render_samples(self.trainer.fixed_samples(), nrow=GRID_COLUMNS, reference=reference)

    def checkpoint_state(self, window: dict[str, Any]) -> dict[str, Any]:
        state = self.trainer.state_dict()
        state.update(window=window, elapsed=self.elapsed(), config=self.config.to_dict())
        return state

    def save_checkpoint(self, periodic: bool = False) -> None:
        """checkpoints/last.pt (``periodic``: and its step_XXXXXXX.pt copy) and the generator; every rank
        calls it (the window is averaged over ranks)."""
        window = self.window.state_dict(self.dist)
        if self.is_main:
            self.checkpoints.save_last(self.checkpoint_state(window), periodic=periodic)

    def save_best(self) -> None:
        """checkpoints/best.pt and best/ (a loadable generator folder) for the best evaluation so far.

        Called by the evaluation callback, which runs on rank 0 only: no collective here.
        """
        self.checkpoints.save_best(self.checkpoint_state(self.window.state_dict()))

    def save_generator(self, folder: Path | None = None) -> None:
        trainer = self.trainer
        meta = {"step": trainer.step, "ema": trainer.generator_ema is not None, "dataset": self.config.data,
                "precision": trainer.precision.name,  # what --precision auto resolved to
                "class_names": trainer.dataset.class_names, "config": self.config.to_dict(), **_meta()}
        save_generator(folder or self.paths.root, trainer.sampling_generator, trainer.spec, meta)

    def finish_artifacts(self) -> None:
        """The final grid, progress.gif and the curves; every finished file goes to the loggers."""
        self.loggers.log_image(self.trainer.step, FINAL_SAMPLES, self.render_samples())
        trainer = self.trainer
        finished = self.samples.finish(None if trainer.builtin_update else list(trainer.scalar_keys))
        finished += [self.paths.config, *self.paths.generator_files()]
        for path in finished:
            self.loggers.log_artifact(path)

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
        with handle_signals(self.signals):
            return self._run()

    def _run(self) -> TrainResult:
        cfg, trainer, dist = self.config, self.trainer, self.dist
        self._started = time.perf_counter()
        stop = self.signals.received
        start_step = trainer.step
        window_started, window_step = time.perf_counter(), trainer.step
        last: dict[str, float] = {}
        pending: dict[str, float] = {}  # callback values waiting for the next row (multi-process only)
        bar = progress_bar(total=cfg.steps, initial=start_step, desc="train", unit="step", enabled=self.progress)
        ending: RunEnd = "failed"  # until the loop finishes or is stopped on request
        try:
            if trainer.step == 0 and not self.resume:
                self.save_checkpoint()  # from here on the folder is resumable, whenever a kill comes
            self.signals.training = True  # a signal now stops the loop between steps, with a checkpoint
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
                    last, agreed_stop = self.report(step, rate, pending, stop)
                    stop_signal = agreed_stop or stop_signal
                    pending = {}
                    if self.progress:
                        bar.set_postfix(progress_postfix(last, rate), refresh=False)
                if self.is_main and step % cfg.sample_every == 0:
                    self.loggers.log_image(step, SAMPLES, self.render_samples())
                if step % cfg.checkpoint_every == 0:
                    self.save_checkpoint(periodic=True)
                bar.update(1)
                if stop_signal:
                    self.save_checkpoint()
                    barrier(dist)  # the others wait for rank 0's checkpoint before anyone exits
                    ending = "killed"
                    raise TrainingInterrupted(step, self.paths.root, stop_signal)
            self.save_checkpoint()
            if self.window.count:  # the last steps when --steps is not a multiple of --log-every
                rate = (trainer.step - window_step) * cfg.batch_size / max(time.perf_counter() - window_started, 1e-9)
                last, _ = self.report(trainer.step, rate, pending, [])
            if self.is_main:
                self.finish_artifacts()
                for callback in self.callbacks:
                    callback.on_train_end(trainer)
                # the last write: from now on --resume says the run is finished instead of finishing it
                self.paths.mark_finished(trainer.step)
            ending = "finished"
        except (KeyboardInterrupt, StartupInterrupted):
            ending = "killed"
            raise
        finally:
            bar.close()
            trainer.feed.close()  # stream workers end with the run, not when the Trainer is collected
            self.loggers.close(ending)
            self.lock.release()
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

    def report(self, step: int, rate: float, extra: dict[str, float],
               stop: Sequence[int]) -> tuple[dict[str, float], int]:
        """The one place a logged row is made: the window's means, the learning rates and the other
        scheduled values, progress figures
        and the callbacks' ``extra`` values, handed to every logger. Returns (means and extra, stop signal)."""
        means, stop_signal = self._window_means(stop)
        if self.is_main:
            trainer = self.trainer
            values = {"epoch": round(trainer.sampler.epoch, 4), **means,
                      "lr_g": trainer.opt_g.param_groups[0]["lr"], "lr_d": trainer.opt_d.param_groups[0]["lr"],
                      **trainer.hyper,  # every scheduled value, as the last step used it
                      "seconds": round(self.elapsed(), 3), "images_per_s": round(rate, 1), **extra}
            self.loggers.log_scalars(step, values)
        return {**means, **extra}, stop_signal


def train(config: TrainConfig, *, resume: bool = False, overwrite: bool = False,
          callbacks: Sequence[Callback] = (), progress: bool = True,
          train_step: TrainStep | None = None) -> TrainResult:
    """Train as ``config`` says and write the run folder; the library entry point behind the CLI.

    Under torchrun (RANK/WORLD_SIZE in the environment) this process joins the job's process group for
    the duration of the run and leaves it however the run ends; a peer lost mid-run (a killed node) is a
    one-line error here, within the process group's timeout, instead of a hang or a traceback.
    ``train_step``: the object ``config.train_step`` names, when it came from Python (``training.step``).
    """
    dist = info_from_env()
    signals = StopSignals()
    with handle_signals(signals), torch_threads(config.threads), peer_failures(dist, lambda: signals.run_dir), \
            process_group(dist, resolve_device(config.device, dist)):
        return TrainingRun(config, resume=resume, overwrite=overwrite, callbacks=callbacks, progress=progress,
                           dist=dist, signals=signals, train_step=train_step).run()
