"""Image sources, the reference cache, the metric registry and score_images (few real forward passes)."""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from ganforge.errors import GanforgeError
from ganforge.metrics import sources as sources_module
from ganforge.metrics.evaluate import score_images
from ganforge.metrics.extractor import FeatureExtractor, FeatureSet
from ganforge.metrics.frechet import feature_statistics
from ganforge.metrics.reference import reference_features, save_stats
from ganforge.metrics.sources import as_source, files_source, generator_source
from ganforge.metrics.specs import resolve_metrics


def test_metric_names_resolve_in_order_and_unknown_lists_valid() -> None:
    assert [s.name for s in resolve_metrics("kid, fid,kid")] == ["kid", "fid"]
    assert [s.name for s in resolve_metrics("all")] == ["is", "fid", "kid", "pr", "dc"]
    with pytest.raises(GanforgeError, match=r"unknown metric 'fdi' \(did you mean 'fid'\?\); choose one of: "
                                            r"is, fid, kid, pr, dc"):
        resolve_metrics("fdi")
    spec = resolve_metrics("is")[0]
    assert spec.needs_logits and not spec.needs_real


def test_folder_source_skips_unreadable_and_handles_mixed_images(tmp_path: Path,
                                                                 write_images: Callable[..., Path]) -> None:
    folder = write_images(tmp_path / "imgs", [(8, 8), (10, 6), (8, 8)], ["L", "RGBA", "RGB"])
    (folder / "broken.png").write_bytes(b"not a png")
    (folder / "notes.txt").write_text("ignored: not an image extension")
    source = files_source(folder)
    assert source.count == 4
    with pytest.warns(UserWarning, match="skipped 1 unreadable"):
        batches = list(source.batches(2))
    images = [im for batch in batches for im in batch]
    assert [tuple(im.shape) for im in images] == [(3, 8, 8), (3, 10, 6), (3, 8, 8)]
    assert all(im.dtype == torch.uint8 for im in images)
    assert torch.equal(images[0][0], images[0][1])  # grayscale decoded to RGB
    assert source.skipped == ["broken.png"]


def test_zip_source_matches_folder(tmp_path: Path, write_images: Callable[..., Path]) -> None:
    folder = write_images(tmp_path / "imgs", [(8, 8), (8, 8)])
    archive = tmp_path / "imgs.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for f in sorted(folder.iterdir()):
            zf.write(f, f"sub/{f.name}")
    from_zip = [im for b in files_source(archive).batches(8) for im in b]
    from_dir = [im for b in files_source(folder).batches(8) for im in b]
    assert all(torch.equal(a, b) for a, b in zip(from_zip, from_dir, strict=True))


def test_sources_reject_bad_inputs(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="to_uint8"):
        as_source(torch.zeros(2, 3, 8, 8))
    with pytest.raises(GanforgeError, match="does not exist"):
        as_source(tmp_path / "nope")
    with pytest.raises(GanforgeError, match="unknown dataset"):
        as_source("no-such-dataset")
    (tmp_path / "empty").mkdir()
    with pytest.raises(GanforgeError, match="no images"):
        as_source(tmp_path / "empty")


def test_batch_features_mixed_sizes_equal_one_by_one(extractor: FeatureExtractor) -> None:
    g = torch.Generator().manual_seed(0)
    a = torch.randint(0, 256, (3, 12, 12), dtype=torch.uint8, generator=g)
    b = torch.randint(0, 256, (3, 20, 9), dtype=torch.uint8, generator=g)
    together, _ = extractor.batch_features([a, b])
    alone, _ = extractor.batch_features(b.unsqueeze(0))
    assert together.shape == (2, 2048)
    torch.testing.assert_close(together[1], alone[0], rtol=1e-4, atol=1e-5)


def test_reference_is_cached_and_second_evaluation_computes_only_generated_side(
        extractor: FeatureExtractor, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    g = torch.Generator().manual_seed(0)

    def sample(n: int) -> torch.Tensor:  # generator-style output in [-1, 1]
        return torch.rand(n, 1, 32, 32, generator=g) * 2 - 1

    with pytest.warns(UserWarning):  # tiny N: singular covariance and KID subset warnings
        first = score_images(generator_source(sample, 2), "fid,kid", "digits5k", reference_samples=3,
                             extractors={"inception": extractor}, cache_dir=tmp_path)
    protocol = first["protocol"]
    assert np.isfinite(first["fid"]) and first["fid"] > 0 and np.isfinite(first["kid"])
    assert protocol["num_real"] == 3 and protocol["num_fake"] == 2
    assert protocol["weights_sha256"] == extractor.weights_sha256
    assert protocol["resize"] == "tf1-legacy-bilinear-299"
    assert protocol["reference_dataset"] == "digits5k" and protocol["reference_split"] == "train"
    assert protocol["reference_resolution"] == 32 and protocol["reference_cached"] is False
    assert any("singular" in w for w in protocol["warnings"])
    assert len(list((tmp_path / "metrics" / "reference").glob("digits5k-train-*.npz"))) == 1

    def no_reload(*args, **kwargs):
        raise AssertionError("the reference was loaded again instead of coming from the cache")

    monkeypatch.setattr("ganforge.metrics.reference.dataset_source", no_reload)
    with pytest.warns(UserWarning):
        second = score_images(generator_source(sample, 2), "fid", "digits5k", reference_samples=3,
                              extractors={"inception": extractor}, cache_dir=tmp_path)
    assert second["protocol"]["reference_cached"] is True
    cached = reference_features("digits5k", num_samples=3, resolution=32, extractor=extractor, cache_dir=tmp_path)
    assert cached.from_cache and cached.count == 3 and cached.features.shape == (3, 2048)
    # a different subset is a different key: it would have to be computed
    with pytest.raises(AssertionError, match="loaded again"):
        reference_features("digits5k", num_samples=4, extractor=extractor, cache_dir=tmp_path)


def test_inception_score_end_to_end_with_a_classifier(trunk_path: Path, tmp_path: Path) -> None:
    """A .pth with the 1008-class layer gives IS; its bias is ignored and the protocol says how IS was made."""
    from ganforge.metrics.specs import MetricOptions
    from ganforge.metrics.weights import load_weights

    state = dict(load_weights(trunk_path).state_dict)
    state["fc.weight"] = torch.randn(1008, 2048, generator=torch.Generator().manual_seed(0))
    state["fc.bias"] = torch.zeros(1008)
    torch.save(state, tmp_path / "with_fc.pth")
    full = FeatureExtractor(tmp_path / "with_fc.pth", batch_size=4)
    images = torch.randint(0, 256, (4, 3, 16, 16), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    result = score_images(images, "is", options=MetricOptions(is_splits=2), extractors={"inception": full})
    assert 1.0 <= result["is"] <= 2.0 + 1e-9  # at most the number of images per split
    assert result["protocol"]["is_splits"] == 2 and "num_real" not in result["protocol"]


def test_inception_score_needs_the_classifier(extractor: FeatureExtractor) -> None:
    with pytest.raises(GanforgeError, match="1008-class output layer"):
        score_images(generator_source(lambda n: torch.zeros(n, 3, 8, 8), 10), "is", extractors={"inception": extractor})


def test_dataset_split_and_subset_are_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(GanforgeError, match="asked for 6000 reference images"):
        sources_module.dataset_source("digits5k", num_samples=6000)


def test_too_few_samples_fail_before_extraction(extractor: FeatureExtractor) -> None:
    def never(n: int) -> torch.Tensor:
        raise AssertionError("sampled although the request could never succeed")

    with pytest.raises(GanforgeError, match="'pr' needs at least 4 generated samples, got 3"):
        score_images(generator_source(never, 3), "fid,pr", extractors={"inception": extractor})


def test_per_image_metrics_and_saved_features_refuse_statistics_only_sets(tmp_path: Path) -> None:
    features = np.random.default_rng(0).random((50, 8)).astype(np.float32)
    images = FeatureSet(features, 50, "images")
    statistics = FeatureSet(None, 50, "b.npz", precomputed_stats=feature_statistics(features, warn=False))
    for real, fake in ((images, statistics), (statistics, images)):
        with pytest.raises(GanforgeError, match="'kid' needs per-image .*b.npz holds only mean and covariance"):
            score_images(fake, "kid", real)
    with pytest.raises(GanforgeError, match="b.npz holds only mean and covariance; it has no features"):
        save_stats(tmp_path / "out.npz", statistics, include_features=True)
    assert not (tmp_path / "out.npz").exists()
