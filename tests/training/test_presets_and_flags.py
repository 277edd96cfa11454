"""Presets resolve to the papers' values; precedence; strict validation of the new flags and keys."""

from __future__ import annotations

import pytest
import yaml

from ganforge.cli import main
from ganforge.config import PRESETS, TrainConfig, build_config
from ganforge.errors import GanforgeError


def test_cli_lists_every_preset(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    preset_help = " ".join(capsys.readouterr().out.split()).split("options:", 1)[1].split("--preset NAME", 1)[1].split("--arch", 1)[0]
    assert all(name in preset_help for name in PRESETS)


PAPER_VALUES = {
    "gan": {"model": "mlp", "loss": "bce"},
    "dcgan": {"model": "dcgan", "loss": "bce", "lr_g": 2e-4, "lr_d": 2e-4, "betas": (0.5, 0.999),
              "batch_size": 128, "optimizer": "adam"},
    "wgan": {"loss": "wasserstein", "optimizer": "rmsprop", "lr_g": 5e-5, "lr_d": 5e-5, "clip": 0.01,
             "n_critic": 5, "gp": 0.0},
    "wgan-gp": {"loss": "wasserstein", "optimizer": "adam", "lr_g": 1e-4, "lr_d": 1e-4, "betas": (0.0, 0.9),
                "gp": 10.0, "n_critic": 5, "clip": 0.0},
    "lsgan": {"loss": "lsgan", "betas": (0.5, 0.999), "lr_g": 2e-4},
    "hinge": {"loss": "hinge", "spectral_norm": True},
    "sagan": {"model": "sagan", "loss": "hinge", "lr_d": 4e-4, "lr_g": 1e-4, "betas": (0.0, 0.9), "n_critic": 1},
    "sngan": {"model": "resnet", "loss": "hinge", "lr_g": 2e-4, "lr_d": 2e-4, "betas": (0.0, 0.9),
              "n_critic": 5, "spectral_norm": True, "lr_decay": "linear"},
    "cgan": {"conditional": True},
    "pacgan2d": {"model": "mlp", "arch": "pacgan", "loss": "bce", "optimizer": "adam", "lr_g": 1e-4,
                 "lr_d": 1e-4, "betas": (0.8, 0.999), "batch_size": 100, "z_dim": 2, "n_critic": 1,
                 "pack": 1, "data": "toy2d:ring", "updates": "simultaneous"},
}


@pytest.mark.parametrize("name", list(PAPER_VALUES))
def test_preset_resolves_to_paper_values(name: str) -> None:
    config = build_config({"preset": name})
    assert config.preset == name
    for key, value in PAPER_VALUES[name].items():
        expected = pytest.approx(value) if isinstance(value, (float, tuple)) else value
        assert getattr(config, key) == expected, key


def test_every_preset_is_checked() -> None:
    assert set(PAPER_VALUES) == set(PRESETS)


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
    assert saved["n_critic"] == 5 and saved["lr_d"] == 1e-4
    # Reading it back (as --resume does) reproduces the same config even though the preset is named.
    assert build_config(saved) == build_config({"preset": "wgan-gp"})


def test_defaults_are_off() -> None:
    config = TrainConfig()
    assert (config.gp, config.r1, config.clip, config.ema_kimg, config.ema, config.pack) == (0.0, 0.0, 0.0, 0.0, 0.0, 1)
    assert (config.conditional, config.spectral_norm, config.augment, config.preset) == (False, False, "none", None)


@pytest.mark.parametrize(("layer", "message"), [
    ({"preset": "wgan-gpp"}, "unknown preset 'wgan-gpp' (did you mean 'wgan-gp'?)"),
    ({"gp": -1}, "gp must be a number >= 0"),
    ({"r1": float("nan")}, "r1 must be a number >= 0"),
    ({"clip": "small"}, "clip must be a number"),
    ({"ema_kimg": -5}, "ema-kimg must be a number >= 0"),
    ({"pack": 0}, "pack must be a positive whole number"),
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
