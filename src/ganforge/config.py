"""Training configuration: one typed dataclass, strict validation, YAML in and out, paper presets.

Precedence: dataclass defaults < ``--preset NAME`` < ``--config FILE`` < command-line flags. Unknown
keys are errors with the closest valid key suggested, so a typo never silently trains the wrong thing.
The resolved values (preset included) are all written to config.yaml, so a run folder always says
exactly what was trained, whatever preset produced it.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import yaml

from ganforge.errors import GanforgeError, did_you_mean
from ganforge.fileio import atomic_write_text

# Keys written into config.yaml for provenance; accepted (and ignored) when a config is read back.
META_KEYS = ("ganforge_version", "torch_version")


@dataclass
class TrainConfig:
    """Everything that defines a training run. Field names are the YAML keys; flags use dashes."""

    model: str = "dcgan"
    data: str = "digits5k"
    loss: str = "bce"
    steps: int = 1500
    batch_size: int = 64
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    optimizer: str = "adam"
    lr_decay: str = "none"  # "linear": both learning rates fall linearly to 0 at the last step (SNGAN code)
    z_dim: int = 100
    width: int = 64
    resolution: int | None = None  # None: the dataset's native resolution
    n_critic: int = 1
    # "simultaneous": D and G step on gradients from the same forward pass (the ALI/PacGAN code's update;
    # needs n_critic 1); "alternating": G's gradient comes from the D just updated
    updates: str = "alternating"
    seed: int = 0
    run_dir: str | None = None  # None: runs/<model>-<data>-<timestamp>
    cache_dir: str | None = None  # None: $GANFORGE_CACHE or ~/.cache/ganforge
    sample_every: int = 250
    checkpoint_every: int = 500
    log_every: int = 10
    device: str = "auto"
    # -- families, regularizers and tricks (0 / false / none = off) --------------------------------
    preset: str | None = None  # provenance: the preset these values started from (see PRESETS)
    arch: str | None = None  # a family's architecture variant, e.g. "pacgan" for the mlp 2-D nets
    conditional: bool = False  # feed the dataset's class labels to G and D
    spectral_norm: bool = False  # force spectral normalisation on D's layers
    gp: float = 0.0  # WGAN-GP gradient penalty weight lambda (Gulrajani et al. 2017; paper: 10)
    r1: float = 0.0  # R1 penalty weight gamma on real data (Mescheder et al. 2018)
    clip: float = 0.0  # WGAN weight clipping: D's parameters clamped to [-clip, clip] after each D step
    ema_kimg: float = 0.0  # EMA of G with this half-life in thousands of images (StyleGAN2-ADA: 10)
    ema: float = 0.0  # EMA of G with this per-step decay, e.g. 0.999 (the other spelling of ema_kimg)
    augment: str = "none"  # "diffaug": DiffAugment color,translation,cutout on D's inputs
    eval_every: int = 0  # 0: no evaluation during training
    eval_samples: int = 1000  # generated images per evaluation (and reference images, unless set)
    eval_metrics: str = "auto"  # fid,kid,is,pr,dc for images; toy2d for the 2-D mixtures; auto: fid / toy2d
    eval_reference: str | None = None  # None: the training dataset
    pack: int = 1  # PacGAN: D judges `pack` samples at once (concatenated along channels)
    # -- speed and scale (how fast a run trains, not what it trains; docs/SPEED_AND_SCALE.md) --------
    precision: str = "fp32"  # "bf16" / "fp16": autocast for G and D; penalties and spectral norm stay fp32
    channels_last: bool = False  # NHWC weights and batches (image models)
    compile: bool = False  # torch.compile G and D; falls back to eager with a note where unsupported
    data_on_host: bool = False  # keep the dataset in host memory (pinned batches); automatic when too big
    sync_bn: bool = False  # multi-process runs: BatchNorm statistics over the global batch

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["betas"] = list(self.betas)
        return out


POSITIVE_INTS = ("steps", "batch_size", "z_dim", "width", "n_critic", "sample_every", "checkpoint_every",
                 "log_every", "pack")
POSITIVE_FLOATS = ("lr_g", "lr_d")
NON_NEGATIVE_FLOATS = ("gp", "r1", "clip", "ema_kimg")
OPTIONAL_TEXT = ("run_dir", "cache_dir", "preset", "arch")
CHOICES = {"device": ("auto", "cpu", "cuda"), "optimizer": ("adam", "rmsprop"), "augment": ("none", "diffaug"),
           "lr_decay": ("none", "linear"), "updates": ("alternating", "simultaneous"),
           "precision": ("fp32", "bf16", "fp16")}


@dataclass(frozen=True)
class Preset:
    """A paper's published training setup, applied under the config file and the flags."""

    description: str
    values: dict[str, Any]


# Steps, sampling and logging intervals are deliberately absent: schedules depend on the hardware.
# Batch sizes are the papers' (pass --batch-size to trade fidelity for speed on a CPU).
PRESETS: dict[str, Preset] = {
    "gan": Preset("vanilla GAN (Goodfellow et al. 2014): MLP G and D, non-saturating loss",
                  {"model": "mlp", "loss": "bce", "optimizer": "adam", "lr_g": 2e-4, "lr_d": 2e-4,
                   "betas": (0.5, 0.999), "batch_size": 64, "n_critic": 1}),
    "dcgan": Preset("DCGAN (Radford et al. 2016): Adam 2e-4, beta1 0.5, batch 128",
                    {"model": "dcgan", "loss": "bce", "optimizer": "adam", "lr_g": 2e-4, "lr_d": 2e-4,
                     "betas": (0.5, 0.999), "batch_size": 128, "z_dim": 100, "n_critic": 1}),
    "wgan": Preset("WGAN (Arjovsky et al. 2017): RMSprop 5e-5, clip 0.01, 5 critic steps",
                   {"model": "dcgan", "loss": "wasserstein", "optimizer": "rmsprop", "lr_g": 5e-5,
                    "lr_d": 5e-5, "clip": 0.01, "n_critic": 5, "batch_size": 64}),
    # The paper's CIFAR ResNet; ganforge's resnet critic also carries spectral norm (the paper's has no
    # normalisation), which is closer than a BatchNorm critic, whose penalty would not be per-sample.
    "wgan-gp": Preset("WGAN-GP (Gulrajani et al. 2017): ResNet, Adam 1e-4 betas (0, 0.9), lambda 10, "
                      "5 critic steps",
                      {"model": "resnet", "loss": "wasserstein", "optimizer": "adam", "lr_g": 1e-4,
                       "lr_d": 1e-4, "betas": (0.0, 0.9), "gp": 10.0, "n_critic": 5, "batch_size": 64}),
    "lsgan": Preset("LSGAN (Mao et al. 2017): least squares, Adam 2e-4 beta1 0.5",
                    {"model": "dcgan", "loss": "lsgan", "optimizer": "adam", "lr_g": 2e-4, "lr_d": 2e-4,
                     "betas": (0.5, 0.999), "batch_size": 64, "n_critic": 1}),
    "hinge": Preset("hinge loss with spectral norm (Miyato et al. 2018, standard CNN, setting C)",
                    {"model": "dcgan", "loss": "hinge", "spectral_norm": True, "optimizer": "adam",
                     "lr_g": 2e-4, "lr_d": 2e-4, "betas": (0.5, 0.999), "batch_size": 64, "n_critic": 1}),
    "sagan": Preset("SAGAN (Zhang et al. 2019): hinge, TTUR lr_d 4e-4 lr_g 1e-4, betas (0, 0.9)",
                    {"model": "sagan", "loss": "hinge", "spectral_norm": True, "optimizer": "adam",
                     "lr_g": 1e-4, "lr_d": 4e-4, "betas": (0.0, 0.9), "batch_size": 256, "n_critic": 1}),
    # The ResNet runs of SNGAN's official code (and Mimicry's reproduction) decay both rates linearly to 0.
    "sngan": Preset("SNGAN (Miyato et al. 2018): ResNet, hinge, Adam 2e-4 betas (0, 0.9), 5 D steps, "
                    "linear lr decay",
                    {"model": "resnet", "loss": "hinge", "spectral_norm": True, "optimizer": "adam",
                     "lr_g": 2e-4, "lr_d": 2e-4, "betas": (0.0, 0.9), "n_critic": 5, "batch_size": 64,
                     "lr_decay": "linear"}),
    "cgan": Preset("conditional GAN (Mirza & Osindero 2014) on the DCGAN recipe: class-conditional BN in G, "
                   "projection D (Miyato & Koyama 2018)",
                   {"model": "dcgan", "loss": "bce", "conditional": True, "optimizer": "adam", "lr_g": 2e-4,
                    "lr_d": 2e-4, "betas": (0.5, 0.999), "batch_size": 64, "n_critic": 1}),
    # PacGAN's Table 1 "GAN" row; PacGAN2/PacGAN4 are this preset with --pack 2 / --pack 4.
    "pacgan2d": Preset("PacGAN 2-D protocol (Lin et al. 2018): PacGAN's MLPs, Adam 1e-4 betas (0.8, 0.999), "
                       "batch 100, z_dim 2, pack 1, simultaneous D and G updates (= the GAN row)",
                       {"model": "mlp", "arch": "pacgan", "data": "toy2d:ring", "loss": "bce",
                        "optimizer": "adam", "lr_g": 1e-4, "lr_d": 1e-4, "betas": (0.8, 0.999),
                        "batch_size": 100, "z_dim": 2, "n_critic": 1, "pack": 1, "updates": "simultaneous"}),
}


def field_names() -> list[str]:
    return [f.name for f in fields(TrainConfig)]


def normalize_keys(raw: dict[str, Any], source: str) -> dict[str, Any]:
    """Accept ``batch-size`` and ``batch_size``; reject unknown keys with a suggestion."""
    known = field_names()
    out: dict[str, Any] = {}
    for key, value in raw.items():
        name = str(key).replace("-", "_")
        if name in META_KEYS:
            continue
        if name not in known:
            raise GanforgeError(
                f"unknown config key '{key}' in {source}{did_you_mean(name, known)}; "
                f"valid keys: {', '.join(known)}"
            )
        out[name] = value
    return out


def read_yaml(path: Path, what: str) -> Any:
    """Parse a YAML file; an unreadable file or bad syntax is a one-line error naming ``what`` it is."""
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise GanforgeError(f"cannot read {what} {path}: {exc.strerror}; check the path") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise GanforgeError(f"{what} {path} is not valid YAML{where}; fix the syntax") from None


def read_yaml_config(path: Path) -> dict[str, Any]:
    """Read a YAML config file into normalized keys (no defaults applied)."""
    raw = read_yaml(path, "config file")
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise GanforgeError(f"config file {path} must be a mapping of key: value, got {type(raw).__name__}")
    return normalize_keys(raw, str(path))


def _coerce(name: str, value: Any, default: Any) -> Any:
    """Convert a YAML/flag value to the field's type, with a one-line error when it does not fit."""
    if name == "betas":
        if isinstance(value, str):
            value = [v for v in value.replace(",", " ").split() if v]
        try:
            beta1, beta2 = (float(v) for v in value)
        except (TypeError, ValueError):
            raise GanforgeError(f"betas must be two numbers like '0.5,0.999', got {value!r}") from None
        return (beta1, beta2)
    if value is None:
        return None
    expected = type(default) if default is not None else None
    if name in ("resolution",):
        expected = int
    if name in OPTIONAL_TEXT:
        if isinstance(value, (bool, int, float)) and name in ("preset", "arch"):
            raise GanforgeError(f"{name} must be text, got {value!r}")
        return str(value)
    if expected is bool:
        if isinstance(value, bool):
            return value
        raise GanforgeError(f"{name} must be true or false, got {value!r}")
    if expected is int:
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise GanforgeError(f"{name} must be a whole number, got {value!r}")
        try:
            return int(value)
        except (TypeError, ValueError):
            raise GanforgeError(f"{name} must be a whole number, got {value!r}") from None
    if expected is float:
        try:
            return float(value)
        except (TypeError, ValueError):
            raise GanforgeError(f"{name} must be a number, got {value!r}") from None
    if expected is str:
        if not isinstance(value, str):
            raise GanforgeError(f"{name} must be text, got {value!r}")
        return value
    return value


def preset_layer(*layers: dict[str, Any]) -> dict[str, Any]:
    """The values of the preset the layers name (the last layer naming one wins), or nothing.

    Returned as the lowest layer, so a config file and flags override what the preset sets.
    """
    name = None
    for layer in layers:
        for key, value in layer.items():
            if str(key).replace("-", "_") == "preset":
                name = value
    if name is None:
        return {}
    if not isinstance(name, str) or name not in PRESETS:
        raise GanforgeError(f"unknown preset '{name}'{did_you_mean(str(name), PRESETS)}; "
                            f"choose one of: {', '.join(PRESETS)}")
    return {**PRESETS[name].values, "preset": name}


def build_config(*layers: dict[str, Any]) -> TrainConfig:
    """Apply the named preset, then key/value layers (later wins) over the defaults, then validate."""
    defaults = TrainConfig()
    values: dict[str, Any] = {}
    for layer in (preset_layer(*layers), *layers):
        for name, value in normalize_keys(layer, "the options").items():
            values[name] = _coerce(name, value, getattr(defaults, name))
    config = dataclasses.replace(defaults, **values)
    validate(config)
    return config


def validate(config: TrainConfig) -> None:
    """Checks that need no dataset or model; those live next to the dataset and model code."""
    if config.eval_every < 0:
        raise GanforgeError(f"eval-every must be 0 (off) or a positive number of steps, got {config.eval_every}")
    if config.eval_every and config.eval_samples < 2:
        raise GanforgeError(f"eval-samples must be at least 2, got {config.eval_samples}")
    if config.eval_every:
        validate_eval_metrics(config.eval_metrics, config.data)
    for name in POSITIVE_INTS:
        value = getattr(config, name)
        if value <= 0:
            raise GanforgeError(f"{name.replace('_', '-')} must be a positive whole number, got {value}")
    for name in POSITIVE_FLOATS:
        value = getattr(config, name)
        if not (value > 0 and math.isfinite(value)):
            raise GanforgeError(f"{name.replace('_', '-')} must be a positive number, got {value}")
    for beta in config.betas:
        if not 0.0 <= beta < 1.0:
            raise GanforgeError(f"betas must each be in [0, 1), got {config.betas}")
    for name, allowed in CHOICES.items():
        value = getattr(config, name)
        if value not in allowed:
            raise GanforgeError(
                f"{name} must be one of {', '.join(allowed)}, got '{value}'{did_you_mean(value, allowed)}"
            )
    if config.resolution is not None and config.resolution <= 0:
        raise GanforgeError(f"resolution must be a positive whole number, got {config.resolution}")
    for name in NON_NEGATIVE_FLOATS:
        value = getattr(config, name)
        if not (value >= 0 and math.isfinite(value)):
            raise GanforgeError(f"{name.replace('_', '-')} must be a number >= 0 (0 = off), got {value}")
    if not 0.0 <= config.ema < 1.0:
        raise GanforgeError(f"ema must be a per-step decay in [0, 1) such as 0.999 (0 = off), got {config.ema}")
    if config.preset is not None and config.preset not in PRESETS:
        raise GanforgeError(f"unknown preset '{config.preset}'{did_you_mean(config.preset, PRESETS)}; "
                            f"choose one of: {', '.join(PRESETS)}")
    validate_combination(config)


def data_kind(data: str) -> str:
    """'image' or 'points': what the --data value's source declares; decides which models train on it and
    which metrics score it. Nothing is loaded (ganforge.data.dataset_kind)."""
    from ganforge.data import dataset_kind

    return dataset_kind(data)


def is_toy2d(data: str) -> bool:
    """Whether a --data value is 2-D point data (the toy2d mixtures)."""
    from ganforge.data import POINTS

    return data_kind(data) == POINTS


def validate_eval_metrics(metrics: str, data: str) -> None:
    """Unknown metric names, or metrics that do not score this kind of data, fail now, not after an hour
    of training; ``auto`` is whatever the metric registry picks for the data."""
    if metrics == "auto":
        return
    from ganforge.metrics.specs import resolve_metrics

    resolve_metrics(metrics, data_kind(data), option="--eval-metrics", data=data)


def validate_combination(config: TrainConfig) -> None:
    """Options that contradict each other; each is a one-line error naming both sides."""
    if config.clip and config.gp:
        raise GanforgeError(f"--clip {config.clip:g} and --gp {config.gp:g} are two ways to keep the critic "
                            "Lipschitz; use one (WGAN: --clip, WGAN-GP: --gp)")
    if config.ema and config.ema_kimg:
        raise GanforgeError(f"--ema {config.ema:g} and --ema-kimg {config.ema_kimg:g} both set G's moving "
                            "average; use one (--ema: decay per step, --ema-kimg: half-life in kimg)")
    if config.updates == "simultaneous" and config.n_critic != 1:
        raise GanforgeError(f"--updates simultaneous takes one D step per G step, but --n-critic is "
                            f"{config.n_critic}; use --n-critic 1 or --updates alternating")
    if config.batch_size % config.pack:
        raise GanforgeError(f"--pack {config.pack} must divide --batch-size {config.batch_size}: D judges "
                            "groups of pack samples")
    if config.pack > 1 and config.conditional:
        raise GanforgeError("--pack and --conditional cannot be combined: a packed D input mixes samples of "
                            "different classes; drop one")


def dump_config(config: TrainConfig, path: Path, meta: dict[str, str]) -> None:
    """Write the fully resolved config (every default spelled out) plus provenance."""
    data = config.to_dict()
    data.update(meta)
    atomic_write_text(path, yaml.safe_dump(data, sort_keys=False))
