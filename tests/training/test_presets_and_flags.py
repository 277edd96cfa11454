"""Presets resolve to the papers' values; precedence; strict validation of the new flags and keys."""

from __future__ import annotations

import pytest
import torch
import yaml
from torch import nn
from torch.nn.utils import parametrize

from ganforge.cli import main
from ganforge.component_options import shorthand_options
from ganforge.config import TrainConfig
from ganforge.config_build import build_config
from ganforge.errors import GanforgeError
from ganforge.models import ModelSpec, build_gan
from ganforge.presets import PRESETS, presets_help


def test_cli_lists_every_preset(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    preset_help = " ".join(capsys.readouterr().out.split()).split("options:", 1)[1].split("--preset NAME", 1)[1].split("--arch", 1)[0]
    assert all(name in preset_help for name in PRESETS)


def test_presets_live_in_their_own_module_and_the_config_builder_reads_them() -> None:
    import ganforge.config_build
    import ganforge.presets

    assert ganforge.config_build.PRESETS is ganforge.presets.PRESETS


R3GAN = {"model": "r3gan", "loss": "rpgan", "optimizer": "adam", "lr_g": 2e-4, "lr_d": 2e-4, "betas": (0.0, 0.9),
         "n_critic": 1, "z_dim": 64}

PAPER_VALUES = {
    "gan": {"model": "mlp", "loss": "bce"},
    "dcgan": {"model": "dcgan", "loss": "bce", "lr_g": 2e-4, "lr_d": 2e-4, "betas": (0.5, 0.999),
              "batch_size": 128, "optimizer": "adam"},
    "wgan": {"loss": "wasserstein", "optimizer": "rmsprop", "lr_g": 5e-5, "lr_d": 5e-5, "clip": 0.01,
             "n_critic": 5, "gp": 0.0},
    # the paper's CIFAR-10 ResNet run: its code's LR 2e-4 decayed linearly, 128-d z, no norm in the critic
    "wgan-gp": {"model": "sngan", "spectral_norm": False, "loss": "wasserstein", "optimizer": "adam",
                "lr_g": 2e-4, "lr_d": 2e-4, "betas": (0.0, 0.9), "lr_decay": "linear", "gp": 10.0,
                "n_critic": 5, "clip": 0.0, "batch_size": 64, "z_dim": 128},
    "lsgan": {"loss": "lsgan", "betas": (0.5, 0.999), "lr_g": 2e-4},
    "hinge": {"loss": "hinge", "spectral_norm": True, "lr_g": 2e-4, "lr_d": 2e-4, "betas": (0.5, 0.999),
              "n_critic": 1, "z_dim": 128},
    "sagan": {"model": "sagan", "loss": "hinge", "lr_d": 4e-4, "lr_g": 1e-4, "betas": (0.0, 0.9), "n_critic": 1},
    "sngan": {"model": "sngan", "loss": "hinge", "lr_g": 2e-4, "lr_d": 2e-4, "betas": (0.0, 0.9),
              "n_critic": 5, "spectral_norm": True, "lr_decay": "linear", "batch_size": 64, "z_dim": 128},
    "cgan": {"conditional": True},
    "pacgan2d": {"model": "mlp", "arch": "pacgan", "loss": "bce", "optimizer": "adam", "lr_g": 1e-4,
                 "lr_d": 1e-4, "betas": (0.8, 0.999), "batch_size": 100, "z_dim": 2, "n_critic": 1,
                 "pack": 1, "data": "toy2d:ring", "updates": "simultaneous"},
    # brownvc/R3GAN train.py: Adam betas [0, beta2 from 0.9], lr 2e-4, NoiseDimension 64, r1 = r2 = gamma
    # (ganforge's --r1 W adds W/2 ||grad||^2, the code gamma/2 (R1 + R2)); widths 768 (ImageNet 1536)
    "r3gan-cifar10": {**R3GAN, "data": "cifar10", "conditional": True, "width": 768, "r1": 0.05, "r2": 0.05,
                      "batch_size": 512},
    "r3gan-ffhq64": {**R3GAN, "resolution": 64, "width": 768, "r1": 2.0, "r2": 2.0, "batch_size": 256},
    "r3gan-ffhq256": {**R3GAN, "resolution": 256, "width": 768, "r1": 150.0, "r2": 150.0, "batch_size": 256},
    "r3gan-imagenet32": {**R3GAN, "resolution": 32, "conditional": True, "width": 1536, "group_channels": 32,
                         "r1": 0.5, "r2": 0.5, "batch_size": 4096},
    "r3gan-imagenet64": {**R3GAN, "resolution": 64, "conditional": True, "stage_widths": [1536] * 5,
                         "group_channels": 32, "r1": 1.0, "r2": 1.0, "batch_size": 4096},
    "r3gan-stacked": {**R3GAN, "data": "stacked:mnist", "width": 768, "r1": 0.05, "r2": 0.05, "batch_size": 512},
    "r3gan-digits": {**R3GAN, "data": "digits5k", "stage_widths": [64, 32, 16, 8], "group_channels": 8},
}


@pytest.mark.parametrize("name", list(PAPER_VALUES))
def test_preset_resolves_to_paper_values(name: str) -> None:
    config = build_config({"preset": name})
    assert config.preset == name
    model_options = shorthand_options()  # pack, spectral_norm, ...: the family's declared options
    for key, value in PAPER_VALUES[name].items():
        expected = pytest.approx(value) if isinstance(value, (float, tuple)) else value
        if key in model_options:
            assert config.model_options.get(key, model_options[key].default) == expected, key
        else:
            assert getattr(config, key) == expected, key


def test_every_preset_is_checked() -> None:
    assert set(PAPER_VALUES) == set(PRESETS)


def preset_networks(name: str) -> tuple[nn.Module, nn.Module]:
    """The networks a preset builds, straight through ganforge.models (small widths, 32 px RGB).

    ``spectral_norm`` reaches the spec only when the preset sets it: unset means the family's default.
    """
    config = build_config({"preset": name})
    values = PRESETS[name].values
    options = {key: values[key] for key in ("spectral_norm", "arch") if key in values}
    points = config.data.startswith("toy2d:")
    spec = ModelSpec(config.model, config.z_dim, 0 if points else 32, 2 if points else 3,
                     4 if config.conditional else 0, 8, options)
    torch.manual_seed(0)
    return build_gan(spec)


def spectral_norm_layers(net: nn.Module) -> list[nn.Module]:
    return [m for m in net.modules() if parametrize.is_parametrized(m)]


def test_wgan_gp_critic_has_no_normalisation_at_all() -> None:
    """The paper's CIFAR critic has neither spectral norm nor BatchNorm/LayerNorm (its penalty is per
    sample)."""
    G, critic = preset_networks("wgan-gp")
    assert spectral_norm_layers(critic) == []
    assert not any(isinstance(m, (nn.BatchNorm2d, nn.LayerNorm, nn.GroupNorm)) for m in critic.modules())
    assert any(isinstance(m, nn.BatchNorm2d) for m in G.modules())  # G keeps its BatchNorm, as in the paper
    # the same ResNet under the sngan preset is spectrally normalised, layer by layer
    _, sngan_critic = preset_networks("sngan")
    assert type(sngan_critic) is type(critic) and len(spectral_norm_layers(sngan_critic)) > 5


@pytest.mark.parametrize(("name", "normalised"), [
    ("gan", ()), ("dcgan", ()), ("wgan", ()), ("wgan-gp", ()), ("lsgan", ()), ("cgan", ()), ("pacgan2d", ()),
    ("hinge", ("D",)), ("sngan", ("D",)), ("sagan", ("G", "D")),
])
def test_each_preset_builds_spectral_norm_where_its_paper_puts_it(name: str, normalised: tuple) -> None:
    G, D = preset_networks(name)
    assert bool(spectral_norm_layers(G)) is ("G" in normalised)
    assert bool(spectral_norm_layers(D)) is ("D" in normalised)


def test_preset_listing_shows_each_description_and_difference() -> None:
    lines = presets_help().splitlines()
    assert [line.split(":")[0] for line in lines] == list(PRESETS)
    for line, preset in zip(lines, PRESETS.values(), strict=True):
        assert preset.description in line
        assert (preset.differences in line and "differs from the paper" in line) if preset.differences \
            else "differs" not in line
    assert "no BatchNorm or LayerNorm" in PRESETS["wgan-gp"].differences


def test_precedence_defaults_preset_file_flags() -> None:
    config = build_config({"preset": "wgan"}, {"lr_d": 1e-3, "n_critic": 3}, {"n_critic": 2})
    assert config.optimizer == "rmsprop"  # preset over defaults
    assert config.lr_d == 1e-3  # file over preset
    assert config.n_critic == 2  # flags over file
    assert config.lr_g == 5e-5
    # A preset named in the config file applies under the file's own values, too.
    config = build_config({"preset": "sagan", "lr_g": 3e-4}, {})
    assert (config.model, config.lr_g, config.lr_d) == ("sagan", 3e-4, 4e-4)


def test_preset_values_are_written_to_config_yaml(tmp_path) -> None:
    from ganforge.config import dump_config

    dump_config(build_config({"preset": "wgan-gp"}), tmp_path / "config.yaml", {})
    saved = yaml.safe_load((tmp_path / "config.yaml").read_text())
    assert saved["preset"] == "wgan-gp" and saved["gp"] == 10.0 and saved["betas"] == [0.0, 0.9]
    assert saved["n_critic"] == 5 and saved["lr_d"] == 2e-4 and saved["model_options"] == {"spectral_norm": False}
    # Reading it back (as --resume does) reproduces the same config even though the preset is named.
    assert build_config(saved) == build_config({"preset": "wgan-gp"})


def test_defaults_are_off() -> None:
    config = TrainConfig()
    assert (config.gp, config.r1, config.clip, config.ema_kimg, config.pack) == (0.0, 0.0, 0.0, 0.0, 1)
    assert config.ema == 0.999  # the default recipe's one trick that changes what is sampled
    # spectral norm None: each family as its paper has it (sngan and sagan on, dcgan and mlp off)
    assert (config.conditional, config.model_options, config.augment, config.preset) == (False, {}, "none", None)


@pytest.mark.parametrize(("layer", "message"), [
    ({"preset": "wgan-gpp"}, "unknown preset 'wgan-gpp' (did you mean 'wgan-gp'?)"),
    ({"gp": -1}, "gp must be a number >= 0"),
    ({"r1": float("nan")}, "r1 must be a number >= 0"),
    ({"clip": "small"}, "clip must be a number"),
    ({"ema_kimg": -5}, "ema-kimg must be a number >= 0"),
    ({"pack": 0}, "model option pack must be a whole number in [1, 64], got 0"),
    ({"pack": 1.5}, "pack must be a whole number"),
    ({"augment": "diffaugment"}, "augment must be one of none, diffaug"),
    ({"conditional": "yes"}, "conditional must be true or false"),
    ({"spectral_norm": 1}, "spectral_norm must be true or false"),
    ({"clip": 0.01, "gp": 10}, "--clip 0.01 and --gp 10 are two ways"),
    ({"pack": 3, "batch_size": 64}, "--pack 3 must divide --batch-size 64"),
    ({"pack": 2, "conditional": True}, "--pack and --conditional cannot be combined"),
    ({"ema": 10}, "ema must be a per-step decay in [0, 1) such as 0.999"),
    ({"ema": -0.5}, "ema must be a per-step decay in [0, 1)"),
    ({"ema": 0.999, "ema_kimg": 10}, "--ema 0.999 and --ema-kimg 10 both set G's moving average; use one"),
    ({"emma": 0.9}, "unknown config key 'emma' in the options (did you mean 'ema'?)"),
    ({"updates": "together"}, "updates must be one of alternating, simultaneous"),
    ({"updates": "simultaneous", "n_critic": 5}, "--updates simultaneous takes one D step per G step, but "
                                                  "--n-critic is 5; use --n-critic 1 or --updates alternating"),
])
def test_invalid_values_are_one_line_errors(layer: dict, message: str) -> None:
    with pytest.raises(GanforgeError) as info:
        build_config(layer)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(("argv", "message"), [
    (["--clip", "0.01", "--gp", "10"], "are two ways to keep the critic Lipschitz"),
    (["--preset", "nope"], "unknown preset 'nope'"),
    (["--pack", "3"], "--pack 3 must divide --batch-size 64"),
    (["--preset", "wgan", "--gp", "10"], "--clip 0.01 and --gp 10"),  # the preset's clip conflicts too
    (["--augment", "mixup"], "augment must be one of none, diffaug"),
    (["--preset", "cgan", "--pack", "2"], "--pack and --conditional cannot be combined"),
    (["--preset", "pacgan2d", "--n-critic", "3"], "--updates simultaneous takes one D step per G step"),
])
def test_cli_rejects_bad_flags_before_training(argv: list[str], message: str, tmp_path, capsys) -> None:
    run_dir = tmp_path / "run"
    assert main(["train", "--run-dir", str(run_dir), *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ganforge: error: ") and message in err and err.count("\n") == 1
    assert not run_dir.exists()


def test_preset_flag_can_be_overridden(tmp_path) -> None:
    from ganforge.cli import build_parser
    from ganforge.commands.train import resolve_config

    args = build_parser().parse_args(["train", "--preset", "wgan", "--no-progress", "--clip", "0.02",
                                      "--run-dir", str(tmp_path / "r")])
    config = resolve_config(args)
    assert (config.clip, config.optimizer, config.preset) == (0.02, "rmsprop", "wgan")
    args = build_parser().parse_args(["train", "--preset", "cgan", "--no-conditional"])
    assert resolve_config(args).conditional is False


# the end values of brownvc/R3GAN train.py's schedulers (gamma, augmentation p, EMA kimg) and decay_nimg
R3GAN_ENDS = {"r3gan-cifar10": (0.005, 0.55, 5000, 2e7), "r3gan-ffhq64": (0.2, 0.3, 500, 2e7),
              "r3gan-ffhq256": (15, 0.3, 500, 2e7), "r3gan-imagenet32": (0.05, 0.5, 50000, 2e8),
              "r3gan-imagenet64": (0.1, 0.4, 50000, 2e8), "r3gan-stacked": (0.005, 0.55, 5000, 2e7)}


@pytest.mark.parametrize("name", list(R3GAN_ENDS))
def test_r3gan_schedules_start_at_the_preset_and_end_at_the_papers_values(name: str) -> None:
    from ganforge.presets import R3GAN_SCHEDULE_KIMG, R3GAN_SCHEDULES

    config = build_config({"preset": name})
    schedule = {key: spec.split(":") for key, spec in R3GAN_SCHEDULES[name].items()}
    assert all(kind == "cosine" for kind, *_ in schedule.values())
    starts = {key: float(start) for key, (_, start, _) in schedule.items()}
    ends = {key: float(end) for key, (_, _, end) in schedule.items()}
    assert starts == {"lr_g": config.lr_g, "lr_d": config.lr_d, "beta2": config.betas[1], "r1": config.r1,
                      "r2": config.r2, "ema_kimg": config.ema_kimg, "augment_p": 0.0}
    gamma, augment_p, ema_kimg, decay_nimg = R3GAN_ENDS[name]
    assert ends == pytest.approx({"lr_g": 5e-5, "lr_d": 5e-5, "beta2": 0.99, "r1": gamma, "r2": gamma,
                                  "ema_kimg": ema_kimg, "augment_p": augment_p})
    assert R3GAN_SCHEDULE_KIMG[name] * 1000 == decay_nimg
    # the preset trains them: every key scheduled as listed, over the paper's span, with ADA at that p
    applied = {key: [float(part) for part in spec.split(":")[1:]] for key, spec in config.schedule.items()}
    assert applied == {key: [float(start), float(end)] for key, (_, start, end) in schedule.items()}
    assert config.schedule_kimg == R3GAN_SCHEDULE_KIMG[name] and config.augment == "ada"
