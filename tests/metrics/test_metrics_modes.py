"""The Stacked-MNIST ``modes`` metric: modes covered, KL to uniform, and the checked digit classifier."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file
from torch import nn

from ganforge.config_build import build_config
from ganforge.data import IMAGE, load_dataset, to_model_range
from ganforge.errors import GanforgeError
from ganforge.metrics import modes as modes_module
from ganforge.metrics import score_generator
from ganforge.metrics.digits import DigitNet, accuracy_of, digits5k_inputs
from ganforge.metrics.modes import (
    MIN_ACCURACY,
    MODES_SAMPLES,
    channel_digits,
    held_out_split,
    load_or_train_mode_classifier,
    mode_classifier_path,
    mode_scores,
)
from ganforge.metrics.specs import HIGHER, LOWER, METRICS, resolve_metrics


@pytest.fixture(scope="module")
def classifier() -> DigitNet:
    """The real classifier, trained once per machine into the ganforge cache (~1 min the first time)."""
    net, _, _ = load_or_train_mode_classifier()
    return net


def test_mode_scores_closed_form() -> None:
    ten = torch.arange(26_000) % 10 * 37  # 10 modes, 2,600 samples each
    scores = mode_scores(ten)
    assert (scores.modes, scores.num_modes) == (10, 1000)
    assert scores.kl == pytest.approx(math.log(1000 / 10), abs=1e-12)  # sum 0.1 log(0.1 / 0.001)
    uneven = mode_scores(torch.tensor([5, 5, 5, 999]))
    assert uneven.modes == 2
    assert uneven.kl == pytest.approx(0.75 * math.log(750) + 0.25 * math.log(250), abs=1e-12)
    assert mode_scores(torch.arange(1000)).kl == pytest.approx(0.0, abs=1e-12)


def test_registry_entry() -> None:
    spec = METRICS.get("modes")
    assert spec.protocol_samples == MODES_SAMPLES == 26_000 and spec.channels == 3 and spec.data_kind == IMAGE
    assert spec.value("stacked_modes").better == HIGHER and spec.value("stacked_kl").better == LOWER
    assert spec.total("stacked_modes").key == "stacked_num_modes"
    assert not spec.needs_real and not spec.in_all and not spec.default


def test_modes_needs_three_channel_data() -> None:
    assert [s.name for s in resolve_metrics("modes", IMAGE, data="stacked:digits5k")] == ["modes"]
    with pytest.raises(GanforgeError, match=r"modes scores 3-channel images \(Stacked MNIST\), but digits5k has 1 channel; "
                                            "choose other metrics or 3-channel data$"):
        resolve_metrics("modes", IMAGE, data="digits5k")
    with pytest.raises(GanforgeError, match="--eval-metrics modes scores 3-channel images"):
        build_config({"data": "digits5k", "eval_every": 10, "eval_metrics": "modes"})
    with pytest.raises(GanforgeError, match="three channels"):
        channel_digits(DigitNet(), torch.zeros(2, 1, 32, 32, dtype=torch.uint8))


def test_the_cached_classifier_passes_its_recorded_held_out_check(classifier: DigitNet) -> None:
    _, _, recorded = load_or_train_mode_classifier()
    x, y = digits5k_inputs()
    _, held = held_out_split(y)
    assert len(held) == 500 and torch.equal(torch.bincount(y[held]), torch.full((10,), 50))
    assert recorded >= MIN_ACCURACY == 0.98
    assert accuracy_of(classifier, x[held], y[held]) == pytest.approx(recorded, abs=1e-4)


class TenModes(nn.Module):
    """Draws exactly 10 digit triples, in turn: each mode the same number of times."""

    def __init__(self, triples: torch.Tensor) -> None:
        super().__init__()
        self.z_dim, self.num_classes = 4, 0
        self.register_buffer("triples", triples)  # (10, 3, 32, 32) in [-1, 1]
        self.drawn = 0

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        index = (torch.arange(len(z)) + self.drawn) % len(self.triples)
        self.drawn += len(z)
        return self.triples[index]


def test_a_generator_of_exactly_ten_modes_scores_ten_and_log_100(classifier: DigitNet) -> None:
    base = load_dataset("digits5k")
    _, held = held_out_split(base.labels)
    images = base.data[held]
    predicted = channel_digits(classifier, images.expand(-1, 3, -1, -1)).T[0]
    # per digit, a held-out image the classifier reads as that digit
    digit_image = {d: images[(predicted == d) & (base.labels[held] == d)][0] for d in range(10)}
    triples = [(k, (3 * k + 1) % 10, (7 * k + 2) % 10) for k in range(10)]
    stacked = torch.stack([torch.cat([digit_image[d] for d in triple]) for triple in triples])
    result = score_generator(TenModes(to_model_range(stacked)), "modes", data="stacked:digits5k")
    assert result["protocol"]["num_fake"] == 26_000
    assert result["stacked_modes"] == 10 and result["stacked_num_modes"] == 1000
    assert result["stacked_kl"] == pytest.approx(math.log(100), abs=1e-9)
    section = result["protocol"]["modes"]
    assert section["name"] == "stacked-mnist" and section["held_out_accuracy"] >= 0.98


def test_a_classifier_below_the_threshold_fails_loudly_and_is_not_cached(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def untrained(x: torch.Tensor, y: torch.Tensor, **kwargs: object) -> DigitNet:
        torch.manual_seed(0)
        return DigitNet().eval()

    monkeypatch.setattr(modes_module, "fit_digit_net", untrained)  # its held-out accuracy is measured for real
    with pytest.raises(GanforgeError) as failure:
        load_or_train_mode_classifier(tmp_path)
    message = str(failure.value)
    assert "\n" not in message and "held-out accuracy" in message and "below the 98%" in message
    assert not mode_classifier_path(tmp_path).exists()


def test_a_cached_classifier_below_the_threshold_is_refused(
        classifier: DigitNet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = mode_classifier_path(tmp_path)
    path.parent.mkdir(parents=True)
    state = {k: v.contiguous() for k, v in DigitNet().state_dict().items()}
    save_file(state, str(path), metadata={"held_out_accuracy": "0.9500"})
    with pytest.raises(GanforgeError, match="reached only 95.0% held-out accuracy.*; delete .* to train a new one$"):
        load_or_train_mode_classifier(tmp_path)
    monkeypatch.setattr(modes_module, "MIN_ACCURACY", 1.01)  # a bar the real classifier cannot pass
    with pytest.raises(GanforgeError, match="below the 101%"):
        load_or_train_mode_classifier()
