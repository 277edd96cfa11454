"""The default recipe and the paper presets: one departs from the textbook loop, the others do not inherit it."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from ganforge.config import TrainConfig
from ganforge.config_build import build_config
from ganforge.errors import GanforgeError
from ganforge.presets import PRESETS, TEXTBOOK
from ganforge.training import precision
from ganforge.training.precision import Precision, resolve_precision

CPU = torch.device("cpu")


def test_textbook_names_exactly_where_the_default_recipe_departs() -> None:
    defaults = {field.name: field.default for field in dataclasses.fields(TrainConfig)}
    for key, textbook in TEXTBOOK.items():
        assert defaults[key] != textbook, f"{key}: the recipe keeps the textbook value, so TEXTBOOK need not list it"


@pytest.mark.parametrize("name", list(PRESETS))
def test_a_paper_preset_starts_from_the_textbook_not_from_the_recipe(name: str) -> None:
    config = build_config({"preset": name})
    own = PRESETS[name].values
    for key, textbook in TEXTBOOK.items():
        assert getattr(config, key) == own.get(key, textbook), key


def test_the_default_recipe_is_what_no_flags_train() -> None:
    config = build_config({})
    assert (config.width, config.precision, config.channels_last, config.ema) == (32, "auto", True, 0.999)
    assert config.steps == 8000 and build_config({"preset": "dcgan"}).steps == 1500
    assert (config.lr_g, config.lr_d) == (4e-4, 4e-4)
    assert (config.model, config.loss, config.batch_size, config.betas) == ("dcgan", "bce", 64, (0.5, 0.999))


def test_naming_one_ema_spelling_replaces_the_default_one() -> None:
    assert (build_config({"ema_kimg": 10}).ema, build_config({"ema_kimg": 10}).ema_kimg) == (0.0, 10.0)
    assert (build_config({"ema": 0.99}).ema, build_config({"ema": 0.99}).ema_kimg) == (0.99, 0.0)
    with pytest.raises(GanforgeError, match="both set G's moving average"):
        build_config({"ema": 0.99, "ema_kimg": 10})


@pytest.mark.parametrize(("amx", "avx512_bf16", "expected"), [
    (True, False, "bf16"), (False, True, "bf16"), (False, False, "fp32")])
def test_auto_precision_is_bf16_only_where_the_cpu_has_it(monkeypatch: pytest.MonkeyPatch, amx: bool,
                                                          avx512_bf16: bool, expected: str) -> None:
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16, raising=False)
    assert resolve_precision("auto", CPU) == expected
    assert Precision("auto", CPU).name == expected
    assert resolve_precision("fp32", CPU) == "fp32" and resolve_precision("bf16", CPU) == "bf16"


def test_auto_precision_elsewhere_is_fp32(monkeypatch: pytest.MonkeyPatch) -> None:
    assert precision.native_bf16(torch.device("meta")) is False
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert precision.native_bf16(torch.device("cuda")) is False
