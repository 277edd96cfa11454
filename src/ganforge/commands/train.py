"""``ganforge train``: train a GAN and write its run folder.

Every training flag is generated from a :class:`ganforge.config.TrainConfig` field: its help, default,
value names and the valid names of registry-backed keys (models, losses, datasets, presets, metrics) come
from the field's metadata and the registries, so a new key or a new registered entry shows up here with
no edit to this module.
"""

from __future__ import annotations

import argparse
from dataclasses import MISSING
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ganforge.commands import Subparsers
from ganforge.commands.dry_run import describe
from ganforge.component_options import declaring, option_flag, options_help, shorthand_options
from ganforge.config import base_type, config_fields, field_types, flag, registry_for
from ganforge.config_build import build_config, read_yaml_config, resumed_config
from ganforge.training import train

if TYPE_CHECKING:
    from ganforge.config import TrainConfig

FAMILY_GROUP = "family"  # where the components' option flags go
GROUP_TITLES = {
    "run": None,  # the parser's own options section
    "family": ("families, regularizers and tricks (0 / off by default)", None),
    "speed": ("speed and scale", "multi-process: torchrun --nproc_per_node N -m ganforge train ... "
              "(--batch-size is the global batch); see docs/SPEED_AND_SCALE.md"),
}


def registered_names(kind: str) -> list[str]:
    entries = registry_for(kind)
    if kind in ("dataset", "model"):  # folder:PATH, toy2d:ring|grid; a family with its sizes
        return [entries.get(name).usage for name in entries]
    return list(entries)


def flag_help(name: str, default: Any, facts: dict[str, Any]) -> str:
    """A field's help line: what it does, then its valid values and its default in brackets."""
    parts = []
    if facts.get("component"):  # the options each registered entry declares
        parts.append(options_help(facts["component"]))
    elif facts.get("registry"):
        parts.append(", ".join(registered_names(facts["registry"])))
    elif facts.get("choices"):
        parts.append(", ".join(facts["choices"]))
    if default not in (None, {}, MISSING) and not isinstance(default, bool):
        shown = ",".join(str(v) for v in default) if isinstance(default, tuple) else default
        parts.append(f"default {shown}")
    return facts["help"] + (f" [{'; '.join(parts)}]" if parts else "")


def add_training_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per TrainConfig field. Defaults are suppressed so that only flags the user typed override
    the config file; values stay text until :func:`ganforge.config_build.build_config` converts and checks them,
    so a bad number gets the same one-line message from a flag as from a YAML file."""
    types = field_types()
    groups: dict[str, Any] = {}
    for name, spec in config_fields().items():
        facts = dict(spec.metadata)
        group_name = facts["group"]
        if group_name not in groups:
            title = GROUP_TITLES[group_name]
            groups[group_name] = parser if title is None else parser.add_argument_group(*title)
        kwargs: dict[str, Any] = {"default": argparse.SUPPRESS, "help": flag_help(name, spec.default, facts)}
        if facts.get("component"):  # --model-opt KEY=VALUE, repeated
            groups[group_name].add_argument(option_flag(name), dest=name, action="append", metavar=facts["metavar"],
                                            **kwargs)
            continue
        if facts.get("repeatable"):  # --extractor-weights NAME=PATH, repeated
            kwargs["action"] = "append"
        if base_type(types[name]) is bool:
            kwargs["action"] = argparse.BooleanOptionalAction
        else:
            kwargs["metavar"] = facts["metavar"] or name.upper()
        groups[group_name].add_argument(f"--{flag(name)}", **kwargs)
    add_shorthand_flags(groups[FAMILY_GROUP])


def add_shorthand_flags(group: Any) -> None:
    """``--pack 2``, ``--spectral-norm``, ...: the model options declared with a flag of their own."""
    for name, spec in shorthand_options().items():
        families = ", ".join(declaring("model", name))
        kwargs: dict[str, Any] = {"default": argparse.SUPPRESS, "dest": name,
                                  "help": f"model option {spec.describe()} [families: {families}]"}
        if spec.kind == "bool":
            kwargs["action"] = argparse.BooleanOptionalAction
        else:
            kwargs["metavar"] = spec.metavar or name.upper()
        group.add_argument(f"--{flag(name)}", **kwargs)


def register(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "train", help="train a GAN and write its run folder",
        description="Train a GAN. With no flags: a DCGAN on the embedded digits5k set (about 5 minutes on 2 CPU cores).",
    )
    parser.add_argument("--config", type=Path, help="YAML file with the same keys as the flags (flags override it)")
    add_training_flags(parser)
    parser.add_argument("--lr", default=argparse.SUPPRESS, metavar="LR",
                        help="both players' learning rate: sets --lr-g and --lr-d (either of them given too wins)")
    parser.add_argument("--resume", action="store_true", help="continue --run-dir from checkpoints/last.pt")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing run folder")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.add_argument("--dry-run", action="store_true",
                        help="print the fully resolved config (presets written out) and the network sizes, "
                             "then exit without training")
    parser.set_defaults(run=run)


CONTROL_KEYS = {"config", "resume", "overwrite", "no_progress", "dry_run", "run", "command"}


def flag_values(args: argparse.Namespace) -> dict[str, Any]:
    """The config keys the user typed; ``--lr`` is written out as lr_g and lr_d."""
    values = {k: v for k, v in vars(args).items() if k not in CONTROL_KEYS}
    both = values.pop("lr", None)
    if both is not None:
        values.setdefault("lr_g", both)
        values.setdefault("lr_d", both)
    return values


def resolve_config(args: argparse.Namespace) -> TrainConfig:
    flags = flag_values(args)
    file_values = read_yaml_config(args.config) if args.config else {}
    return resumed_config(file_values, flags) if args.resume else build_config(file_values, flags)


def run(args: argparse.Namespace) -> int:
    config = resolve_config(args)
    if args.dry_run:
        print(describe(config), end="")
        return 0

    result = train(config, resume=args.resume, overwrite=args.overwrite, progress=not args.no_progress)
    if not result.is_main:  # the other processes of a torchrun job: rank 0 reports for all
        return 0
    last = result.last
    memory = "" if result.peak_gpu_bytes is None else f"; peak GPU memory {result.peak_gpu_bytes / 2**30:.2f} GiB"
    # no losses when this launch only finished the artifacts of a run killed after its last checkpoint
    losses = f"loss_d {last['loss_d']:.3f} loss_g {last['loss_g']:.3f}; " if "loss_d" in last else ""
    print(f"done: {result.steps} steps in {result.seconds:.0f}s ({result.images_per_s:.0f} img/s){memory}; "
          f"{losses}run folder: {result.run_dir}")
    return 0
