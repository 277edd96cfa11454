"""FD_digits: the cheap digit-classifier Fréchet distance (never to be confused with FID)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from ganforge.cli import main
from ganforge.errors import GanforgeError
from ganforge.metrics.digits import digit_input, get_digit_extractor, train_digit_classifier
from ganforge.metrics.evaluate import score_images
from ganforge.metrics.extractor import FeatureExtractor
from ganforge.metrics.sources import generator_source
from ganforge.metrics.specs import resolve_metrics


def test_digit_input_luma_resize_and_range() -> None:
    gray = torch.tensor([0, 255, 128], dtype=torch.uint8).repeat(32 * 11)[: 32 * 32].view(1, 1, 32, 32)
    torch.testing.assert_close(digit_input(gray), gray.float() / 127.5 - 1)  # 32x32 gray: untouched
    rgb = torch.zeros(1, 3, 28, 28, dtype=torch.uint8)
    rgb[:, 1] = 200  # pure green -> luma 0.587 * 200
    out = digit_input(rgb)
    assert out.shape == (1, 1, 32, 32)
    torch.testing.assert_close(out, torch.full((1, 1, 32, 32), 0.587 * 200 / 127.5 - 1))


def test_training_is_seeded_and_learns() -> None:
    a, accuracy = train_digit_classifier(epochs=2, num_images=300)
    b, _ = train_digit_classifier(epochs=2, num_images=300)
    assert all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values(), strict=True))
    assert accuracy > 0.3  # well above chance (0.1) after two short epochs


def test_fd_digits_is_opt_in_and_separate_from_fid(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert "fd_digits" not in [s.name for s in resolve_metrics("all")]
    assert [s.name for s in resolve_metrics("fd_digits")] == ["fd_digits"]
    # `ganforge fid` scores it through the one scoring path too: an empty folder is the one error here
    assert main(["fid", str(tmp_path), str(tmp_path), "--metrics", "fd_digits"]) == 2
    assert "no images" in capsys.readouterr().err


def test_fd_digits_end_to_end_and_cached(untrained_classifier: None, tmp_path: Path) -> None:
    from ganforge.data import load_dataset

    real = load_dataset("digits5k").data
    noise = torch.randint(0, 256, (200, 1, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    digits_vs_digits = score_images(real[1::25], "fd_digits", "digits5k", reference_samples=400,
                                       cache_dir=tmp_path)
    noise_vs_digits = score_images(noise, "fd_digits", "digits5k", reference_samples=400, cache_dir=tmp_path)
    assert 0 < digits_vs_digits["fd_digits"] < noise_vs_digits["fd_digits"] / 10
    section = noise_vs_digits["protocol"]["digits"]
    assert section["reference_cached"] is True and section["num_real"] == 400 and section["num_fake"] == 200
    assert "not FID" in section["feature_extractor"] and len(section["weights_sha256"]) == 64
    assert "fid" not in noise_vs_digits and "weights_sha256" not in noise_vs_digits["protocol"]
    assert (tmp_path / "metrics" / "digits-classifier-v1.safetensors").is_file()


def test_generated_images_are_drawn_once_for_inception_and_digits(
        untrained_classifier: None, extractor: FeatureExtractor, tmp_path: Path) -> None:
    calls: list[int] = []
    generator = torch.Generator().manual_seed(1)

    def sample(n: int) -> torch.Tensor:
        calls.append(n)
        return torch.rand(n, 1, 32, 32, generator=generator) * 2 - 1

    with pytest.warns(UserWarning):
        result = score_images(generator_source(sample, 3), "fid,fd_digits", "digits5k", reference_samples=3,
                              extractors={"inception": extractor}, cache_dir=tmp_path)
    assert sum(calls) == 3  # one pass feeds both feature extractors
    assert np.isfinite(result["fid"]) and np.isfinite(result["fd_digits"])
    assert result["protocol"]["weights_sha256"] == extractor.weights_sha256
    assert result["protocol"]["digits"]["weights_sha256"] != extractor.weights_sha256


def test_digit_extractor_has_no_logits(untrained_classifier: None, tmp_path: Path) -> None:
    extractor = get_digit_extractor(tmp_path)
    with pytest.raises(GanforgeError, match="FD_digits only"):
        extractor.batch_features(torch.zeros(1, 1, 32, 32, dtype=torch.uint8), with_logits=True)
