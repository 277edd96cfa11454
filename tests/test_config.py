"""Strict configuration: defaults, precedence, and one-line errors for bad values."""

from __future__ import annotations

import pytest

from ganforge.config_build import build_config, read_yaml_config
from ganforge.errors import GanforgeError


def test_defaults_train_dcgan_on_digits():
    config = build_config()
    assert (config.model, config.data, config.loss) == ("dcgan", "digits5k", "bce")
    assert config.betas == (0.5, 0.999)


def test_later_layers_win_and_dashes_are_accepted():
    config = build_config({"steps": 10, "batch-size": 32}, {"steps": 20})
    assert config.steps == 20 and config.batch_size == 32


def test_betas_from_text():
    assert build_config({"betas": "0,0.9"}).betas == (0.0, 0.9)


@pytest.mark.parametrize(("key", "value", "message"), [
    ("steps", 0, "steps must be a positive whole number"),
    ("steps", -5, "steps must be a positive whole number"),
    ("batch_size", 0, "batch-size must be a positive whole number"),
    ("lr_g", 0.0, "lr-g must be a positive number"),
    ("lr_d", -1e-4, "lr-d must be a positive number"),
    ("lr_d", float("nan"), "lr-d must be a positive number"),
    ("steps", 2.5, "steps must be a whole number"),
    ("steps", "many", "steps must be a whole number"),
    ("betas", "0.5", "betas must be two numbers"),
    ("betas", [0.5, 1.0], "betas must each be in [0, 1)"),
    ("device", "tpu", "device must be one of auto, cpu, cuda"),
])
def test_bad_values_are_one_line_errors(key, value, message):
    with pytest.raises(GanforgeError, match=message.replace("[", r"\[").replace(")", r"\)")) as info:
        build_config({key: value})
    assert "\n" not in str(info.value)


def test_unknown_key_suggests_the_closest(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("steps: 10\nbatch_sise: 32\n")
    with pytest.raises(GanforgeError, match="unknown config key 'batch_sise'.*did you mean 'batch_size'"):
        read_yaml_config(path)


def test_unreadable_yaml(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("steps: [10\n")
    with pytest.raises(GanforgeError, match="not valid YAML"):
        read_yaml_config(path)
    path.write_text("- just\n- a list\n")
    with pytest.raises(GanforgeError, match="must be a mapping"):
        read_yaml_config(path)
    with pytest.raises(GanforgeError, match="cannot read config file"):
        read_yaml_config(tmp_path / "missing.yaml")
