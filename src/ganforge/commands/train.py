"""``ganforge train``: train a GAN and write its run folder."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

# Kept in sync with ganforge.config.PRESETS by a test; listed here so --help imports nothing heavy.
PRESET_NAMES = ("gan", "dcgan", "wgan", "wgan-gp", "lsgan", "hinge", "sagan", "sngan", "cgan", "pacgan2d")

# Options a resumed run may change; everything else must match the run being continued.
RESUMABLE_CHANGES = {"steps", "device", "sample_every", "checkpoint_every", "log_every", "cache_dir",
                     "eval_every", "eval_samples", "eval_metrics", "eval_reference",
                     "precision", "channels_last", "compile", "data_on_host", "sync_bn", "log"}


def add_training_flags(parser: argparse.ArgumentParser) -> None:
    """The flags that map 1:1 onto TrainConfig keys. Defaults are suppressed so that only flags the
    user typed override the config file."""
    S = argparse.SUPPRESS
    add = parser.add_argument
    add("--model", default=S, help="model family (default dcgan)")
    add("--data", default=S, help="dataset: digits5k, mnist, fashion-mnist, cifar10, celeba, folder:PATH, toy2d:ring")
    add("--loss", default=S, help="loss: bce, minimax, lsgan, hinge, wasserstein, rpgan (default bce)")
    add("--steps", type=int, default=S, help="generator updates to train for (default 1500)")
    add("--batch-size", type=int, default=S, help="images per batch (default 64)")
    add("--lr-g", type=float, default=S, help="generator learning rate (default 2e-4)")
    add("--lr-d", type=float, default=S, help="discriminator learning rate (default 2e-4)")
    add("--betas", default=S, help="Adam betas as 'b1,b2' (default 0.5,0.999)")
    add("--optimizer", default=S, help="adam or rmsprop (default adam)")
    add("--lr-decay", default=S, metavar="SCHEDULE",
        help="none, or linear: both learning rates fall linearly to 0 at the last step (default none)")
    add("--z-dim", type=int, default=S, help="latent dimension (default 100)")
    add("--width", type=int, default=S, help="base channel count of G and D (default 64)")
    add("--resolution", type=int, default=S, help="image side length (default: the dataset's)")
    add("--n-critic", type=int, default=S, help="discriminator steps per generator step (default 1)")
    add("--updates", default=S, metavar="ORDER",
        help="alternating (default: G steps against the updated D) or simultaneous (D and G step from the "
             "same forward pass, as PacGAN's code; needs --n-critic 1)")
    add("--seed", type=int, default=S, help="random seed (default 0)")
    add("--run-dir", default=S, help="output folder (default runs/<model>-<data>-<timestamp>)")
    add("--cache-dir", default=S, help="dataset cache (default $GANFORGE_CACHE or ~/.cache/ganforge)")
    add("--sample-every", type=int, default=S, help="save a sample grid every N steps (default 250)")
    add("--checkpoint-every", type=int, default=S, help="checkpoint every N steps (default 500)")
    add("--log-every", type=int, default=S, help="history/TensorBoard row every N steps (default 10)")
    add("--device", default=S, help="auto, cpu or cuda (default auto)")
    add("--log", default=S, metavar="LIST", help="loggers: tensorboard,csv (default), a subset, or none; grids and checkpoints always")
    group = parser.add_argument_group("families, regularizers and tricks (0 / off by default)")
    add = group.add_argument
    add("--preset", default=S, metavar="NAME",
        help="a paper's settings, under --config and flags: " + ", ".join(PRESET_NAMES))
    add("--arch", default=S, help="architecture variant of the model family (e.g. pacgan for mlp)")
    add("--conditional", action=argparse.BooleanOptionalAction, default=S,
        help="feed the dataset's class labels to G and D; grids get one row per class")
    add("--spectral-norm", action=argparse.BooleanOptionalAction, default=S,
        help="spectral normalisation on D's layers (Miyato et al. 2018)")
    add("--gp", type=float, default=S, metavar="LAMBDA", help="WGAN-GP gradient penalty weight (paper: 10)")
    add("--r1", type=float, default=S, metavar="GAMMA", help="R1 penalty weight on real data")
    add("--r2", type=float, default=S, metavar="GAMMA", help="R2 penalty weight on generated data (R3GAN: with --r1)")
    add("--reg-every", type=int, default=S, metavar="K", help="lazy regularization: penalties every K steps, weight x K (default 1)")
    add("--clip", type=float, default=S, metavar="C", help="WGAN weight clipping of D to [-C, C] (paper: 0.01)")
    add("--ema-kimg", type=float, default=S, metavar="KIMG",
        help="EMA of G with a half-life of KIMG thousand images (StyleGAN2-ADA: 10); samples use it")
    add("--ema", type=float, default=S, metavar="DECAY",
        help="EMA of G with this decay per step, e.g. 0.999 (instead of --ema-kimg); samples use it")
    add("--augment", default=S, metavar="POLICY", help="none or diffaug (DiffAugment color,translation,cutout)")
    add("--pack", type=int, default=S, metavar="M", help="PacGAN: D judges M samples at once (default 1)")
    add("--eval-every", type=int, default=S, metavar="K",
        help="evaluate every K steps (history, TensorBoard, fid_curve.png, checkpoints/best.pt); 0 = off")
    add("--eval-samples", type=int, default=S, metavar="N",
        help="generated images per evaluation (default 1000; toy2d runs use the protocol's 2,500 samples)")
    add("--eval-metrics", default=S, metavar="LIST",
        help="metrics for --eval-every: fid,kid,is,pr,dc for images, toy2d for 2-D mixtures (default auto: fid "
             "for images, toy2d for toy2d data)")
    add("--eval-reference", default=S, metavar="DATA",
        help="reference dataset/folder for --eval-every (default: the training data)")
    group = parser.add_argument_group(
        "speed and scale", "multi-process: torchrun --nproc_per_node N -m ganforge train ... (--batch-size is "
        "the global batch); see docs/SPEED_AND_SCALE.md")
    add = group.add_argument
    add("--precision", default=S, metavar="P",
        help="fp32 (default), bf16 or fp16: autocast for G and D (penalties and spectral norm stay fp32)")
    add("--channels-last", action=argparse.BooleanOptionalAction, default=S,
        help="NHWC memory layout for convolutions (image models)")
    add("--compile", action=argparse.BooleanOptionalAction, default=S,
        help="torch.compile G and D (first steps pay the compile time; eager fallback where unsupported)")
    add("--data-on-host", action=argparse.BooleanOptionalAction, default=S,
        help="keep the dataset in host memory and copy pinned batches (automatic when it does not fit the GPU)")
    add("--sync-bn", action=argparse.BooleanOptionalAction, default=S,
        help="multi-process runs: BatchNorm statistics over the global batch instead of each process's share")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train", help="train a GAN and write its run folder",
        description="Train a GAN. With no flags: a DCGAN on the embedded digits5k set (about 5 minutes on 2 CPU cores).",
    )
    parser.add_argument("--config", type=Path, help="YAML file with the same keys as the flags (flags override it)")
    add_training_flags(parser)
    parser.add_argument("--resume", action="store_true", help="continue --run-dir from checkpoints/last.pt")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing run folder")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.set_defaults(run=run)


CONTROL_KEYS = {"config", "resume", "overwrite", "no_progress", "run", "command"}


def flag_values(args: argparse.Namespace) -> dict[str, Any]:
    return {k: v for k, v in vars(args).items() if k not in CONTROL_KEYS}


def resolve_config(args: argparse.Namespace):
    from ganforge.config import build_config, read_yaml_config
    from ganforge.errors import GanforgeError
    from ganforge.training.rundir import RunPaths

    flags = flag_values(args)
    file_values = read_yaml_config(args.config) if args.config else {}
    if not args.resume:
        return build_config(file_values, flags)
    run_dir = flags.get("run_dir") or file_values.get("run_dir")
    if not run_dir:
        raise GanforgeError("--resume needs --run-dir pointing at the run to continue")
    saved = read_yaml_config(RunPaths(Path(run_dir).expanduser()).config)
    saved_config = build_config(saved, {"run_dir": run_dir})
    requested = build_config(saved, file_values, flags, {"run_dir": run_dir})
    changed = [k for k, v in requested.to_dict().items()
               if v != saved_config.to_dict()[k] and k not in RESUMABLE_CHANGES]
    if changed:
        raise GanforgeError(f"cannot change {', '.join(changed)} when resuming; only "
                            f"{', '.join(sorted(RESUMABLE_CHANGES))} may differ from {run_dir}/config.yaml")
    return requested


def run(args: argparse.Namespace) -> int:
    from ganforge.training import train

    config = resolve_config(args)
    result = train(config, resume=args.resume, overwrite=args.overwrite, progress=not args.no_progress)
    if not result.is_main:  # the other processes of a torchrun job: rank 0 reports for all
        return 0
    last = result.last
    memory = "" if result.peak_gpu_bytes is None else f"; peak GPU memory {result.peak_gpu_bytes / 2**30:.2f} GiB"
    print(f"done: {result.steps} steps in {result.seconds:.0f}s ({result.images_per_s:.0f} img/s){memory}; "
          f"loss_d {last.get('loss_d', float('nan')):.3f} loss_g {last.get('loss_g', float('nan')):.3f}; "
          f"run folder: {result.run_dir}")
    return 0
