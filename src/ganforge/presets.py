"""Paper presets: each one a published training setup, and where ganforge departs from the paper, why.

A preset is the lowest layer of a configuration (``--preset NAME``, under ``--config`` and the flags);
``ganforge.config`` applies it and re-exports :data:`PRESETS`. Steps, sampling and logging intervals are
deliberately absent: schedules depend on the hardware. Batch sizes are the papers' (pass --batch-size to
trade fidelity for speed on a CPU). ``differences`` names every deliberate departure from the paper, so
a preset never claims more fidelity than it has; it is shown wherever the presets are listed.

This module imports nothing heavy: ``--help`` lists the presets from here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ganforge.registry import Registry


@dataclass(frozen=True)
class Preset:
    """A paper's published training setup, applied under the config file and the flags."""

    description: str
    values: dict[str, Any]
    differences: str = ""  # what is not as in the paper, and why; "" when nothing is

    @property
    def summary(self) -> str:
        """The description, and the departures from the paper when there are any."""
        return f"{self.description}; differs from the paper: {self.differences}" if self.differences \
            else self.description


# -- R3GAN (Huang et al. 2024; brownvc/R3GAN train.py) ------------------------------------------------
# ganforge's --r1 W adds W/2 * E||grad D(x)||^2 (regularizers.r1_penalty); R3GAN's D loss adds
# gamma/2 * (R1 + R2) with R = ||grad D||^2 (Trainer.py), so r1 = r2 = gamma.
R3GAN_COMMON: dict[str, Any] = {
    "model": "r3gan", "loss": "rpgan", "optimizer": "adam", "lr_g": 2e-4, "lr_d": 2e-4, "betas": (0.0, 0.9),
    "n_critic": 1, "z_dim": 64, "width": 768, "ema_kimg": 0.0, "precision": "auto"}
R3GAN_DIFFERENCES = (
    "the paper decays lr 2e-4 -> 5e-5, Adam beta2 0.9 -> 0.99 and gamma by a cosine over decay_nimg images and "
    "raises the EMA half-life from 0 and the augmentation p from 0 along the same cosine: all scheduled "
    "here the same way (R3GAN_SCHEDULES, over R3GAN_SCHEDULE_KIMG), with StyleGAN2-ADA's pipeline at the "
    "scheduled p (ganforge's ADA resamples with one bilinear grid_sample, without ADA's 2x wavelet "
    "supersampling); bf16 in the high-resolution stages only under "
    "--precision bf16/auto on a device with native bf16 (fp32 elsewhere); G's unbounded output is clamped "
    "to [-1, 1] where images are made")
# name: (description, its own values, its differences beyond R3GAN_DIFFERENCES)
R3GAN_PRESETS: dict[str, tuple[str, dict[str, Any], str]] = {
    "r3gan-cifar10": (
        "R3GAN CIFAR-10 (class-conditional, FID 1.96): width 768 at 4..32 px, gamma 0.05, batch 512",
        {"data": "cifar10", "conditional": True, "r1": 0.05, "r2": 0.05, "batch_size": 512}, ""),
    "r3gan-ffhq64": (
        "R3GAN FFHQ 64 px (FID 1.95): widths 768 to 32 px, 384 at 64 px, gamma 2, batch 256 (--data folder:FFHQ)",
        {"resolution": 64, "r1": 2.0, "r2": 2.0, "batch_size": 256}, ""),
    "r3gan-ffhq256": (
        "R3GAN FFHQ 256 px (FID 2.75): widths 768 to 32 px, halved per doubling to 96 at 256 px, gamma 150, "
        "batch 256 (--data folder:FFHQ)",
        {"resolution": 256, "r1": 150.0, "r2": 150.0, "batch_size": 256}, ""),
    "r3gan-imagenet32": (
        "R3GAN ImageNet 32 px (class-conditional, FID 1.27): width 1536, 32 channels per group, gamma 0.5, "
        "batch 4096 (--data folder:IMAGENET with class subfolders)",
        {"resolution": 32, "conditional": True, "width": 1536, "group_channels": 32, "r1": 0.5, "r2": 0.5,
         "batch_size": 4096}, ""),
    "r3gan-imagenet64": (
        "R3GAN ImageNet 64 px (class-conditional, FID 2.09): width 1536 at every stage, 32 channels per "
        "group, gamma 1, batch 4096 (--data folder:IMAGENET with class subfolders)",
        {"resolution": 64, "conditional": True, "width": 1536, "stage_widths": "1536,1536,1536,1536,1536",
         "group_channels": 32, "r1": 1.0, "r2": 1.0, "batch_size": 4096}, ""),
    "r3gan-stacked": (
        "R3GAN on Stacked MNIST (the paper: all 1000 modes): CIFAR-10's networks and gamma, unconditional, "
        "batch 512",
        {"data": "stacked:mnist", "r1": 0.05, "r2": 0.05, "batch_size": 512},
        "; the paper's code has no Stacked MNIST preset: CIFAR-10's networks, gamma and schedules here"),
    "r3gan-digits": (
        "R3GAN sized for a CPU on digits5k (not a paper setup): stage widths 64, 32, 16, 8 from 4x4 to "
        "32x32, 8 channels per group, gamma 0.1, batch 32, EMA half-life 10 kimg; a few thousand steps on "
        "2 cores",
        {"data": "digits5k", "stage_widths": "64,32,16,8", "group_channels": 8, "r1": 0.1, "r2": 0.1,
         "batch_size": 32, "ema_kimg": 10.0, "precision": "fp32"},
        "; a CPU configuration, not one of the paper's: stage widths 64, 32, 16, 8 (the paper: 768 at every "
        "stage up to 32 px), 8 channels per group (16), gamma 0.1, batch 32, constant lr 2e-4 and betas "
        "(0, 0.9), a fixed EMA half-life of 10 kimg, fp32"),
}
# The paper's schedules, cosine from the preset's value to the end value over R3GAN_SCHEDULE_KIMG[name]
# thousand images, in the format of TrainConfig's `schedule` field (KIND:START:END); r3gan_schedule puts
# them into the presets, with augment "ada" at the scheduled p.
_R3GAN_GAMMA = {"r3gan-cifar10": (0.05, 0.005), "r3gan-ffhq64": (2, 0.2), "r3gan-ffhq256": (150, 15),
                "r3gan-imagenet32": (0.5, 0.05), "r3gan-imagenet64": (1, 0.1), "r3gan-stacked": (0.05, 0.005)}
_R3GAN_AUGMENT_P = {"r3gan-cifar10": 0.55, "r3gan-ffhq64": 0.3, "r3gan-ffhq256": 0.3, "r3gan-imagenet32": 0.5,
                    "r3gan-imagenet64": 0.4, "r3gan-stacked": 0.55}
_R3GAN_EMA_KIMG = {"r3gan-cifar10": 5000, "r3gan-ffhq64": 500, "r3gan-ffhq256": 500, "r3gan-imagenet32": 50000,
                   "r3gan-imagenet64": 50000, "r3gan-stacked": 5000}
R3GAN_SCHEDULE_KIMG = {"r3gan-cifar10": 20_000, "r3gan-ffhq64": 20_000, "r3gan-ffhq256": 20_000,
                       "r3gan-imagenet32": 200_000, "r3gan-imagenet64": 200_000, "r3gan-stacked": 20_000}
R3GAN_SCHEDULES: dict[str, dict[str, str]] = {
    name: {"lr_g": "cosine:2e-4:5e-5", "lr_d": "cosine:2e-4:5e-5", "beta2": "cosine:0.9:0.99",
           "r1": f"cosine:{gamma[0]:g}:{gamma[1]:g}", "r2": f"cosine:{gamma[0]:g}:{gamma[1]:g}",
           "ema_kimg": f"cosine:0:{_R3GAN_EMA_KIMG[name]}", "augment_p": f"cosine:0:{_R3GAN_AUGMENT_P[name]}"}
    for name, gamma in _R3GAN_GAMMA.items()}



def r3gan_schedule(name: str) -> dict[str, Any]:
    """The schedule keys of an R3GAN paper preset (none for the CPU-sized r3gan-digits)."""
    if name not in R3GAN_SCHEDULES:
        return {}
    return {"augment": "ada", "schedule": dict(R3GAN_SCHEDULES[name]), "schedule_kimg": R3GAN_SCHEDULE_KIMG[name]}


_PAPER_PRESETS: dict[str, Preset] = {
    "gan": Preset(
        "vanilla GAN (Goodfellow et al. 2014): MLP G and D, non-saturating loss",
        {"model": "mlp", "loss": "bce", "optimizer": "adam", "lr_g": 2e-4, "lr_d": 2e-4,
         "betas": (0.5, 0.999), "batch_size": 64, "n_critic": 1},
        "the paper's MNIST nets (G 2 x 1200 ReLU units with a sigmoid output; D 2 x maxout(240 units, 5 "
        "pieces) with dropout) trained with SGD, lr 0.1, momentum 0.5 -> 0.7, batch 100; here ganforge's mlp "
        "(LeakyReLU, BatchNorm in G, tanh output) with DCGAN's Adam settings"),
    "dcgan": Preset(
        "DCGAN (Radford et al. 2016): Adam 2e-4, beta1 0.5, batch 128",
        {"model": "dcgan", "loss": "bce", "optimizer": "adam", "lr_g": 2e-4, "lr_d": 2e-4,
         "betas": (0.5, 0.999), "batch_size": 128, "z_dim": 100, "n_critic": 1},
        "width 64 as in the reference code (512 channels at 4x4 for 64 px; the paper's LSUN figure has 1024: "
        "--width 128); z ~ N(0, I) where the paper draws uniform noise"),
    "wgan": Preset(
        "WGAN (Arjovsky et al. 2017): DCGAN networks with BatchNorm in the critic, RMSprop 5e-5, clip 0.01, "
        "5 critic steps, batch 64",
        {"model": "dcgan", "loss": "wasserstein", "optimizer": "rmsprop", "lr_g": 5e-5,
         "lr_d": 5e-5, "clip": 0.01, "n_critic": 5, "batch_size": 64},
        "always 5 critic steps: the reference code's 100 critic steps for the first 25 generator steps and "
        "every 500th are not reproduced"),
    # The paper's CIFAR-10 ResNet run (gan_cifar_resnet.py of its code): LR 2e-4 decayed linearly to 0,
    # Adam (0, 0.9), 5 critic steps, batch 64, 128-d normal z, no normalisation in the critic.
    "wgan-gp": Preset(
        "WGAN-GP (Gulrajani et al. 2017, CIFAR-10 ResNet): Adam 2e-4 betas (0, 0.9) decayed linearly, "
        "lambda 10, 5 critic steps, a critic without normalisation",
        {"model": "sngan", "spectral_norm": False, "loss": "wasserstein", "optimizer": "adam",
         "lr_g": 2e-4, "lr_d": 2e-4, "betas": (0.0, 0.9), "lr_decay": "linear", "gp": 10.0, "n_critic": 5,
         "batch_size": 64, "z_dim": 128},
        "the ResNet is SNGAN's with spectral norm off: the critic has the paper's blocks and 128 "
        "channels and, as the paper's CIFAR critic, no BatchNorm or LayerNorm (the layer norm the paper "
        "recommends is in its 64x64 models), but sums its last feature map where the paper's averages "
        "it; G has 256 channels where the paper's has 128; G steps on 64 samples where the paper's code "
        "uses 128; real images are not dequantised with uniform noise"),
    "lsgan": Preset(
        "LSGAN (Mao et al. 2017): least squares with 0-1 targets, Adam beta1 0.5, batch 64",
        {"model": "dcgan", "loss": "lsgan", "optimizer": "adam", "lr_g": 2e-4, "lr_d": 2e-4,
         "betas": (0.5, 0.999), "batch_size": 64, "n_critic": 1},
        "DCGAN's G and D at 32/64/128 px, with DCGAN's lr 2e-4; the paper's scene model is a 112 px VGG-style G "
        "(3x3 transposed convs, 1024-d uniform z) with DCGAN's D, trained at lr 1e-3"),
    "hinge": Preset(
        "hinge loss with spectral norm (Miyato et al. 2018, standard-CNN setting C: Adam 2e-4, betas "
        "(0.5, 0.999), 1 D step)",
        {"model": "dcgan", "loss": "hinge", "spectral_norm": True, "optimizer": "adam",
         "lr_g": 2e-4, "lr_d": 2e-4, "betas": (0.5, 0.999), "batch_size": 64, "n_critic": 1, "z_dim": 128},
        "DCGAN's networks (4x4 stride-2 convs, LeakyReLU 0.2, a 4x4 conv head) with spectral norm replacing "
        "D's BatchNorm, not SNGAN's standard CNN (3x3/4x4 conv pairs up to 512 channels, LeakyReLU 0.1, a "
        "linear head)"),
    "sagan": Preset(
        "SAGAN (Zhang et al. 2019): hinge, spectral norm in G and D, TTUR lr_d 4e-4 lr_g 1e-4, "
        "betas (0, 0.9), batch 256",
        {"model": "sagan", "loss": "hinge", "spectral_norm": True, "optimizer": "adam",
         "lr_g": 1e-4, "lr_d": 4e-4, "betas": (0.0, 0.9), "batch_size": 256, "n_critic": 1},
        "a DCGAN-shaped SAGAN for 32/64/128 px with one attention block in G and D (at resolution/2, 32x32 at "
        "128 px as in the paper); the paper's model is a 128 px residual network trained class-conditionally "
        "on ImageNet (add --conditional)"),
    # The ResNet runs of SNGAN's official code (and Mimicry's reproduction) decay both rates linearly to 0.
    "sngan": Preset(
        "SNGAN (Miyato et al. 2018): ResNet, hinge, Adam 2e-4 betas (0, 0.9), 5 D steps, linear lr decay "
        "(over 50k steps in the paper: --steps 50000)",
        {"model": "sngan", "loss": "hinge", "spectral_norm": True, "optimizer": "adam",
         "lr_g": 2e-4, "lr_d": 2e-4, "betas": (0.0, 0.9), "n_critic": 5, "batch_size": 64,
         "lr_decay": "linear", "z_dim": 128},
        "G steps on 64 samples where the reference code draws 128; at 64 px G and D get one more block each; "
        "at 48 and 128 px the STL-10 / ImageNet ResNets as Mimicry builds them, with nearest upsampling where "
        "Mimicry's is bilinear"),
    "cgan": Preset(
        "conditional GAN (Mirza & Osindero 2014) on the DCGAN recipe: class-conditional BN in G, "
        "projection D (Miyato & Koyama 2018)",
        {"model": "dcgan", "loss": "bce", "conditional": True, "optimizer": "adam", "lr_g": 2e-4,
         "lr_d": 2e-4, "betas": (0.5, 0.999), "batch_size": 64, "n_critic": 1},
        "the paper's MNIST nets are MLPs (the label one-hot into G's and D's input layers, maxout D with "
        "dropout) trained with SGD and momentum, batch 100; here DCGAN's networks and Adam settings, with a "
        "class code on z and conditional BN in G and a projection D"),
    # PacGAN's Table 1 "GAN" row; PacGAN2/PacGAN4 are this preset with --pack 2 / --pack 4.
    "pacgan2d": Preset(
        "PacGAN 2-D protocol (Lin et al. 2018): PacGAN's MLPs, Adam 1e-4 betas (0.8, 0.999), batch 100, "
        "z_dim 2, pack 1, simultaneous D and G updates (= the GAN row; --pack 2 / 4: PacGAN2 / 4)",
        {"model": "mlp", "arch": "pacgan", "data": "toy2d:ring", "loss": "bce",
         "optimizer": "adam", "lr_g": 1e-4, "lr_d": 1e-4, "betas": (0.8, 0.999),
         "batch_size": 100, "z_dim": 2, "n_critic": 1, "pack": 1, "updates": "simultaneous"}),
    **{name: Preset(description, {**R3GAN_COMMON, **values, **r3gan_schedule(name)}, R3GAN_DIFFERENCES + extra)
       for name, (description, values, extra) in R3GAN_PRESETS.items()},
}


# ganforge's default recipe (the TrainConfig defaults, what `ganforge train` with no flags trains) departs
# from the textbook DCGAN loop in these keys; a preset starts from their textbook values, so no paper's
# setup inherits the recipe. tests/test_presets.py checks this lists every departure.
TEXTBOOK: dict[str, Any] = {"width": 64, "lr_g": 2e-4, "lr_d": 2e-4, "precision": "fp32", "channels_last": False,
                            "ema": 0.0,
                            # about 5 min of the textbook DCGAN on 2 CPU cores; papers' schedules need --steps
                            "steps": 1500}

DEFAULT_RECIPE = (
    "ganforge's default recipe (no --preset): the textbook DCGAN loop (DCGAN networks, non-saturating BCE, "
    "Adam betas (0.5, 0.999), batch 64) trained for more steps per minute (bf16 autocast only where the "
    "device has it natively) and sampled from an EMA of G (ramp-up, standing BatchNorm statistics); "
    "chosen by measurement on digits5k at equal wall time (BENCHMARKS.md, 'Equal wall time')")


def recipe_departures(defaults: dict[str, Any]) -> str:
    """``key recipe (textbook value)`` for every key of :data:`TEXTBOOK`, from the configuration's defaults."""
    return ", ".join(f"{key} {defaults[key]} (textbook {value})" for key, value in TEXTBOOK.items())


def preset_values(name: str) -> dict[str, Any]:
    """What ``--preset name`` sets: the textbook values of the recipe's keys, then the preset's own."""
    return {**TEXTBOOK, **PRESETS[name].values}


# Packages add presets through the ganforge.presets entry-point group (see ganforge.registry).
PRESETS: Registry[Preset] = Registry("preset", plugin_group="ganforge.presets")
for _name, _preset in _PAPER_PRESETS.items():
    PRESETS.register(_name, _preset)


def presets_help() -> str:
    """The presets, one per line (``name: description; differs from the paper: ...``), for ``--help``."""
    return "\n".join(f"{name}: {preset.summary}" for name, preset in PRESETS.items())
