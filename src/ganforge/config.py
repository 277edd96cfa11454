"""Training configuration: one typed dataclass whose fields carry their facts (help, range, choices,
registry, resumable), YAML in and out. Building a config from its layers and checking it live in
``ganforge.config_build`` and ``ganforge.config_checks``, which read the registries above this module.

Precedence: dataclass defaults < ``--preset NAME`` < ``--config FILE`` < command-line flags. Unknown
keys are errors with the closest valid key suggested, so a typo never silently trains the wrong thing.
The resolved values (preset included) are all written to config.yaml, so a run folder always says
exactly what was trained, whatever preset produced it.
"""

from __future__ import annotations

import dataclasses
import importlib
import typing
from dataclasses import Field, dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from ganforge.errors import GanforgeError
from ganforge.fileio import atomic_write_text
from ganforge.presets import TEXTBOOK

# --threads of every command: the TrainConfig field's help and the other commands' flag (commands/options.py)
THREADS_HELP = ("CPU threads torch may use (torch.set_num_threads; 0 = torch's default, one per core); on "
                "shared or busy cores 1 is often faster")

# Keys written into config.yaml for provenance; accepted (and ignored) when a config is read back.
META_KEYS = ("ganforge_version", "torch_version")


RUN, FAMILY, SPEED = "run", "family", "speed"  # the --help groups of the training flags
PRECISIONS = ("auto", "fp32", "bf16", "fp16")  # --precision; auto: bf16 where the device has it natively
# Two keys for one setting (G's EMA as a per-step decay or as a half-life): naming one turns the other's
# default off, so `--ema-kimg 10` works although the default recipe sets --ema.
ALTERNATIVE_SPELLINGS = (("ema", "ema_kimg"),)
AUGMENTS = ("none", "diffaug", "ada")  # --augment (training.augment, training.ada)
EMA_BN_MODES = ("standing", "averaged", "live")  # --ema-bn: the EMA copy's BatchNorm statistics (training.ema)

# Upper bounds of the size fields, checked before any dataset is read or weight allocated: beyond them a
# run fails with an allocation error (or takes days) instead of training, so they are input errors.
MAX_STEPS = 10**9
MAX_BATCH = 65_536
MAX_WIDTH = 2048  # r3gan's ImageNet width is 1536; each family bounds it further (ModelFamily.max_width)
MAX_Z_DIM = 4096
MAX_RESOLUTION = 1024
MAX_SEED = 2**32 - 1  # NumPy's legacy limit; the data order stream multiplies the seed (training.feed)
MAX_EVAL_SAMPLES = 1_000_000
MAX_THREADS = 1024
DATA_MODES = ("auto", "resident", "stream")
SQUARINGS = ("center", "pad")  # as ganforge.data.images.CROPS (config imports no torch/PIL module)
CROPS = (*SQUARINGS, "random")  # random: ganforge.data.crops.RANDOM, a crop drawn afresh at each step


def option(default: Any, help: str, *, group: str = RUN, metavar: str | None = None,
           choices: tuple[str, ...] = (), registry: str | None = None, resumable: bool = False,
           minimum: float | None = None, above: float | None = None, maximum: float | None = None,
           off: bool = False, component: str | None = None, repeatable: bool = False) -> Any:
    """A TrainConfig field plus every fact the CLI, validation and resume read about it.

    ``choices`` is a fixed set of values; ``registry`` names a registry (:data:`REGISTRIES`) whose names are
    the valid values. ``minimum``/``maximum`` are inclusive bounds, ``above`` an exclusive lower bound;
    ``off`` says that 0 switches the feature off. ``resumable``: ``--resume`` may change the value.
    ``component``: the field holds the options a registry's entry declares (``ganforge.component_options``).
    ``repeatable``: its flag may be given more than once, each time one ``NAME=VALUE`` item.
    """
    metadata = {
        "help": help, "group": group, "metavar": metavar, "choices": choices, "registry": registry,
        "resumable": resumable, "minimum": minimum, "above": above, "maximum": maximum, "off": off,
        "component": component, "repeatable": repeatable}
    if isinstance(default, dict):  # a mutable default: each config gets its own copy
        return field(default_factory=lambda: dict(default), metadata=metadata)
    return field(default=default, metadata=metadata)


@dataclass
class TrainConfig:
    """Everything that defines a training run. Field names are the YAML keys; flags use dashes."""

    model: str = option("dcgan", "model family", registry="model", metavar="FAMILY")
    data: str = option("digits5k", "dataset (see: ganforge data list)", registry="dataset", metavar="DATA")
    loss: str = option("bce", "GAN loss", registry="loss", metavar="LOSS")
    steps: int = option(8000, "generator updates to train for (the default recipe: about 4 min on 2 CPU "
                               f"cores; paper presets: {TEXTBOOK['steps']})", minimum=1, maximum=MAX_STEPS, resumable=True,
                        metavar="N")
    batch_size: int = option(64, "samples per batch (the global batch under torchrun)", minimum=1,
                             maximum=MAX_BATCH, metavar="N")
    lr_g: float = option(4e-4, "generator learning rate", above=0, metavar="LR")
    lr_d: float = option(4e-4, "discriminator learning rate", above=0, metavar="LR")
    betas: tuple[float, float] = option((0.5, 0.999), "Adam betas, each in [0, 1)", metavar="B1,B2")
    optimizer: str = option("adam", "optimizer of both players", choices=("adam", "rmsprop"), metavar="NAME")
    lr_decay: str = option("none", "linear: both learning rates fall linearly to 0 at the last step "
                           "(SNGAN's code; the same as --schedule lr_g=linear:LR_G:0,lr_d=linear:LR_D:0)",
                           choices=("none", "linear"), metavar="SCHEDULE")
    schedule: dict[str, str] = option({}, "hyperparameter schedules over the images seen, comma list of "
                                      "KEY=KIND:START:END[:WARMUP_KIMG] with KIND constant, linear or cosine, "
                                      "e.g. lr_g=cosine:2e-4:5e-5,r1=cosine:0.05:0.005 (beta2: Adam's; the "
                                      "others as their flags); a scheduled key replaces its flag's value",
                                      registry="schedulable", metavar="KEY=SPEC,...")
    schedule_kimg: float = option(0.0, "the schedules' span in thousands of images (0 = the whole run, "
                                  "steps * batch size); after it each holds its END value", minimum=0,
                                  off=True, metavar="KIMG")
    z_dim: int = option(100, "latent dimension", minimum=1, maximum=MAX_Z_DIM, metavar="N")
    width: int = option(32, "base channel count of G and D", minimum=1, maximum=MAX_WIDTH, metavar="N")
    resolution: int | None = option(None, "image side length (default: the dataset's; the model family "
                                    "says which it builds)", minimum=1, maximum=MAX_RESOLUTION, metavar="PX")
    n_critic: int = option(1, "discriminator steps per generator step", minimum=1, maximum=100, metavar="N")
    updates: str = option(
        "alternating", "alternating: G steps against the updated D; simultaneous: D and G step on gradients "
        "from one forward pass (the ALI/PacGAN code; needs --n-critic 1)",
        choices=("alternating", "simultaneous"), metavar="ORDER")
    seed: int = option(0, f"random seed, 0..{MAX_SEED}", minimum=0, maximum=MAX_SEED, metavar="N")
    run_dir: str | None = option(None, "output folder (default runs/<model>-<data>-<timestamp>)",
                                 resumable=True, metavar="DIR")
    cache_dir: str | None = option(None, "dataset cache (default $GANFORGE_CACHE or ~/.cache/ganforge)",
                                   resumable=True, metavar="DIR")
    # -- how the data reaches the run (data/, training/feed.py); the batches are the same in every mode --
    data_mode: str = option("auto", "resident: the whole set in memory (on the GPU when it fits); stream: "
                            "DataLoader workers read each batch (from the memory-mapped decoded cache, or "
                            "through a Python Dataset's __getitem__); auto: stream when the set takes more "
                            "than half the free memory, or is a Python Dataset", choices=DATA_MODES,
                            resumable=True, metavar="MODE")
    data_workers: int = option(2, "DataLoader worker processes of --data-mode stream (0 = read in the "
                               "training process)", minimum=0, maximum=64, resumable=True, metavar="N")
    crop: str = option("center", "how non-square image files become square: center crop, pad the short "
                       "side with black, or random: a random crop of the middle square (stored 1/8 larger) "
                       "drawn afresh each time an image is drawn", choices=CROPS, metavar="MODE")
    sample_every: int = option(250, "save a sample grid every N steps", minimum=1, maximum=MAX_STEPS,
                               resumable=True, metavar="N")
    checkpoint_every: int = option(500, "checkpoint every N steps", minimum=1, maximum=MAX_STEPS, resumable=True,
                                   metavar="N")
    keep_checkpoints: int = option(0, "keep only the K newest checkpoints/step_XXXXXXX.pt (0 = keep all; "
                                   "last.pt and best.pt are always kept)", minimum=0, maximum=MAX_STEPS,
                                   off=True, resumable=True, metavar="K")
    log_every: int = option(10, "history/TensorBoard row every N steps", minimum=1, maximum=MAX_STEPS,
                            resumable=True, metavar="N")
    device: str = option("auto", "training device", choices=("auto", "cpu", "cuda"), resumable=True,
                         metavar="DEVICE")
    threads: int = option(0, THREADS_HELP, minimum=0,
                          maximum=MAX_THREADS, off=True, resumable=True, metavar="N")
    log: str = option("tensorboard,csv", "optional loggers, comma list or none (sample grids and checkpoints "
                      "are always written)", registry="logger", resumable=True, metavar="LIST")
    # -- families, regularizers and tricks (0 / false / none = off) --------------------------------
    preset: str | None = option(None, "a paper's settings, applied under --config and flags", group=FAMILY,
                                registry="preset", metavar="NAME")
    conditional: bool = option(False, "feed the dataset's class labels to G and D; grids get one row per "
                               "class", group=FAMILY)
    gp: float = option(0.0, "WGAN-GP gradient penalty weight lambda (Gulrajani et al. 2017; paper: 10)",
                       group=FAMILY, minimum=0, off=True, metavar="LAMBDA")
    r1: float = option(0.0, "R1 penalty weight gamma on real data (Mescheder et al. 2018)", group=FAMILY,
                       minimum=0, off=True, metavar="GAMMA")
    r2: float = option(0.0, "R2 penalty weight gamma on generated data (R3GAN: R1 + R2 with the rpgan loss)",
                       group=FAMILY, minimum=0, off=True, metavar="GAMMA")
    reg_every: int = option(1, "lazy regularization (StyleGAN2): penalties every K-th step with weight "
                            "times K; 1 = every step", group=FAMILY, minimum=1, maximum=MAX_STEPS,
                            metavar="K")
    clip: float = option(0.0, "WGAN weight clipping: D's parameters clamped to [-C, C] after each D step "
                         "(paper: 0.01)", group=FAMILY, minimum=0, off=True, metavar="C")
    ema_kimg: float = option(0.0, "EMA of G with this half-life in thousands of images (StyleGAN2-ADA: 10); "
                             "samples use it", group=FAMILY, minimum=0, off=True, metavar="KIMG")
    ema: float = option(0.999, "EMA of G with this per-step decay in [0, 1), e.g. 0.999 (the other spelling "
                        "of --ema-kimg)", group=FAMILY, metavar="DECAY")
    ema_rampup: float = option(0.05, "EMA ramp-up (StyleGAN2-ADA's ema_rampup): the EMA half-life is at most "
                               "this fraction of the images seen so far, so a short run is not averaged with "
                               "its random start; 0 = off", group=FAMILY, minimum=0, off=True, metavar="RATIO")
    ema_bn: str = option("standing", "BatchNorm statistics of the EMA copy: standing = recomputed for the averaged "
                         "weights (16 batches of fixed seeded latents) before it is sampled, saved or "
                         "evaluated; averaged = a moving average of G's running statistics; live = G's own",
                         group=FAMILY, choices=EMA_BN_MODES, metavar="STATS")
    augment: str = option("none", "augmentation of everything D sees: diffaug = DiffAugment color,translation,"
                          "cutout; ada = StyleGAN2-ADA's pipeline (--ada-groups) with probability p, adaptive "
                          "(--ada-target) or fixed / scheduled (--augment-p)", group=FAMILY,
                          choices=AUGMENTS, metavar="POLICY")
    augment_p: float = option(0.0, "ADA's probability p of each transform: where adaptive p starts, else "
                              "its fixed value (schedulable: --schedule augment_p=...)", group=FAMILY,
                              minimum=0, maximum=1, metavar="P")
    ada_target: float = option(0.6, "ADA's target for the overfitting heuristic r_t = E[sign(D(real))]: p "
                               "rises while r_t is above it, falls below it; 0 = p not adapted", group=FAMILY,
                               minimum=0, maximum=1, off=True, metavar="R")
    ada_interval: int = option(4, "adjust ADA's p every N training steps", group=FAMILY, minimum=1,
                               maximum=MAX_STEPS, metavar="N")
    ada_kimg: float = option(500.0, "ADA's adjustment speed: p can go from 0 to 1 in this many thousand "
                             "images", group=FAMILY, above=0, metavar="KIMG")
    ada_groups: str = option("blit,geom,color", "ADA's transform groups, a comma list: blit = x-flip, "
                             "rotate90, integer translation; geom = scale, rotation, anisotropic scale, "
                             "fractional translation; color = brightness, contrast, luma flip, hue, "
                             "saturation; cutout", group=FAMILY, registry="ada_group", metavar="LIST")
    eval_every: int = option(0, "evaluate every K steps (history, TensorBoard, metric curve, best "
                             "checkpoint)", group=FAMILY, minimum=0, maximum=MAX_STEPS, off=True, resumable=True,
                             metavar="K")
    eval_samples: int = option(1000, "generated samples per evaluation (and reference images unless set); "
                               "toy2d runs use the protocol's 2,500", group=FAMILY, resumable=True,
                               minimum=2, maximum=MAX_EVAL_SAMPLES, metavar="N")
    eval_metrics: str = option("auto", "comma list of metrics for --eval-every; auto: the data kind's "
                               "default", group=FAMILY, registry="metrics", resumable=True, metavar="LIST")
    eval_reference: str | None = option(None, "reference dataset/folder for --eval-every (default: the "
                                        "training data)", group=FAMILY, resumable=True, metavar="DATA")
    inception_weights: str | None = option(None, "FID Inception weights for --eval-every: pytorch-fid .pth or "
                                           "NVIDIA TorchScript (default: $GANFORGE_INCEPTION_WEIGHTS, the cache, "
                                           "or a download)", group=FAMILY, resumable=True, metavar="PATH")
    extractor_weights: dict[str, str] = option({}, "a feature extractor's weight file for --eval-every, NAME=PATH, "
                                               "repeatable (e.g. dinov2=dinov2_vitl14_pretrain.pth for "
                                               "fd_dinov2; inception=PATH is --inception-weights)", group=FAMILY,
                                               resumable=True, metavar="NAME=PATH", repeatable=True)
    # -- the components' own options, declared in their registry entries (ganforge.options) -----------
    model_options: dict[str, Any] = option({}, "an option the model family declares, KEY=VALUE, repeatable",
                                           group=FAMILY, component="model", metavar="KEY=VALUE")
    loss_options: dict[str, Any] = option({}, "an option the loss declares, KEY=VALUE, repeatable", group=FAMILY,
                                          component="loss", metavar="KEY=VALUE")
    reg_options: dict[str, Any] = option({}, "an option of a regularizer, NAME.KEY=VALUE, repeatable (YAML: "
                                         "NAME: {KEY: VALUE}); a plugin regularizer's weight is one of them",
                                         group=FAMILY, component="regularizer", metavar="NAME.KEY=VALUE")
    train_step: str = option("ganforge.training.update:gan_update", "the training step, as module:function "
                             "(README 'Your own training step'); the default is ganforge's update, which the "
                             "loss, regularizer, n-critic and augment keys configure", group=FAMILY,
                             metavar="MODULE:NAME")
    # -- speed and scale (how fast a run trains, not what it trains; docs/SPEED_AND_SCALE.md) --------
    precision: str = option("auto", "bf16 / fp16: autocast for G and D; penalties and spectral norm stay "
                            "fp32; auto = bf16 where the device computes it natively (CUDA GPUs from Ampere on, "
                            "CPUs with AVX512-BF16 or AMX), else fp32", group=SPEED, choices=PRECISIONS, resumable=True, metavar="P")
    channels_last: bool = option(True, "NHWC weights and batches (image models)", group=SPEED,
                                 resumable=True)
    compile: bool = option(False, "torch.compile G and D (eager fallback where unsupported)", group=SPEED,
                           resumable=True)
    data_on_host: bool = option(False, "keep the dataset in host memory and copy pinned batches (automatic "
                                "when it does not fit the GPU)", group=SPEED, resumable=True)
    sync_bn: bool = option(False, "multi-process runs: BatchNorm statistics over the global batch",
                           group=SPEED, resumable=True)

    @property
    def pack(self) -> int:
        """PacGAN's packing degree, a model option the trainer reads too: it packs D's batches itself."""
        return int(self.model_options.get("pack", 1))

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["betas"] = list(self.betas)
        out["schedule"] = dict(self.schedule)
        return out


# Registries whose names are the valid values of a field: (module, attribute). Imported only when a
# value is checked or help is built, since most of them import torch.
REGISTRIES: dict[str, tuple[str, str]] = {
    "model": ("ganforge.models", "MODELS"),
    "loss": ("ganforge.losses", "LOSSES"),
    "preset": ("ganforge.presets", "PRESETS"),
    "dataset": ("ganforge.data", "DATASETS"),
    "metrics": ("ganforge.metrics.specs", "METRICS"),
    "logger": ("ganforge.training.loggers", "LOGGERS"),
    "schedulable": ("ganforge.training.schedules", "SCHEDULABLE_KEYS"),
    "ada_group": ("ganforge.training.ada", "GROUPS"),
    "regularizer": ("ganforge.regularizers", "REGULARIZERS"),
}


def registry_for(kind: str) -> Any:
    module, attribute = REGISTRIES[kind]
    return getattr(importlib.import_module(module), attribute)


def config_fields() -> dict[str, Field[Any]]:
    """TrainConfig's fields by name; ``metadata`` holds what :func:`option` recorded."""
    return {f.name: f for f in fields(TrainConfig)}


def field_types() -> dict[str, Any]:
    return typing.get_type_hints(TrainConfig)


def resumable_keys() -> frozenset[str]:
    """The keys ``--resume`` (and a sweep continuing a run) may change; every other key must match."""
    return frozenset(name for name, f in config_fields().items() if f.metadata.get("resumable"))


def flag(name: str) -> str:
    """The flag spelling of a key, as error messages name it: ``batch_size`` -> ``batch-size``."""
    return name.replace("_", "-")


def field_names() -> list[str]:
    return [f.name for f in fields(TrainConfig)]


def read_yaml(path: Path, what: str) -> Any:
    """Parse a YAML file; an unreadable file or bad syntax is a one-line error naming ``what`` it is."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise GanforgeError(f"cannot read {what} {path}: {exc.strerror}; check the path") from None
    except UnicodeDecodeError as exc:
        raise GanforgeError(f"{what} {path} is not UTF-8 text (byte {exc.start}); save it as UTF-8 YAML") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise GanforgeError(f"{what} {path} is not valid YAML{where}; fix the syntax") from None


def base_type(kind: Any) -> Any:
    """The type a field holds when set: ``bool | None`` -> bool."""
    return optional_type(kind)[0]


def optional_type(kind: Any) -> tuple[Any, bool]:
    """``int | None`` -> (int, True); ``int`` -> (int, False)."""
    args = typing.get_args(kind)
    if type(None) in args:
        return next(a for a in args if a is not type(None)), True
    return kind, False


def dump_config(config: TrainConfig, path: Path, meta: dict[str, str]) -> None:
    """Write the fully resolved config (every default spelled out) plus provenance."""
    data = config.to_dict()
    data.update(meta)
    atomic_write_text(path, yaml.safe_dump(data, sort_keys=False))
