"""FD_DINOv2 on a tiny ViT with DINOv2's layout and state-dict names, written by the test into a weights file
and given through ``--extractor-weights dinov2=PATH`` (the real ``dinov2_vitl14_pretrain.pth`` is 1.2 GB)."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ganforge.cli import main
from ganforge.errors import GanforgeError
from ganforge.metrics.dinov2 import WEIGHTS_ENV, DinoV2Extractor
from ganforge.metrics.evaluate import score_images
from ganforge.metrics.specs import metrics_on, resolve_metrics

DIM, DEPTH, PATCH, GRID, HEADS = 128, 2, 14, 4, 2  # 128 channels = 2 heads of 64, as DINOv2 splits them


def dinov2_state(registers: int = 0, seed: int = 0) -> dict[str, torch.Tensor]:
    """A DINOv2-style state dict (names as in facebookresearch/dinov2's DinoVisionTransformer, blocks unchunked)."""
    g = torch.Generator().manual_seed(seed)

    def r(*shape: int, scale: float = 0.05) -> torch.Tensor:
        return torch.randn(*shape, generator=g) * scale

    state = {"cls_token": r(1, 1, DIM), "pos_embed": r(1, GRID * GRID + 1, DIM), "mask_token": torch.zeros(1, DIM),
             "patch_embed.proj.weight": r(DIM, 3, PATCH, PATCH), "patch_embed.proj.bias": r(DIM),
             "norm.weight": 1 + r(DIM), "norm.bias": r(DIM)}
    if registers:
        state["register_tokens"] = r(1, registers, DIM)
    for i in range(DEPTH):
        for norm in ("norm1", "norm2"):
            state[f"blocks.{i}.{norm}.weight"], state[f"blocks.{i}.{norm}.bias"] = 1 + r(DIM), r(DIM)
        for name, (out, inp) in {"attn.qkv": (3 * DIM, DIM), "attn.proj": (DIM, DIM),
                                 "mlp.fc1": (4 * DIM, DIM), "mlp.fc2": (DIM, 4 * DIM)}.items():
            state[f"blocks.{i}.{name}.weight"] = r(out, inp, scale=1 / math.sqrt(inp))
            state[f"blocks.{i}.{name}.bias"] = r(out)
        state[f"blocks.{i}.ls1.gamma"], state[f"blocks.{i}.ls2.gamma"] = 0.5 + r(DIM), 0.5 + r(DIM)
    return state


def reference_features(state: dict[str, torch.Tensor], images: torch.Tensor) -> torch.Tensor:
    """DINOv2's forward written out op by op: the CLS token after the final norm, at 224x224."""
    x = F.interpolate(images.float().expand(-1, 3, -1, -1), size=(224, 224), mode="bicubic", antialias=True) / 255
    x = (x - torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)) / torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    t = F.conv2d(x, state["patch_embed.proj.weight"], state["patch_embed.proj.bias"], stride=PATCH)
    t = t.flatten(2).transpose(1, 2)  # (N, 256, DIM)
    t = torch.cat([state["cls_token"].expand(len(t), -1, -1), t], 1)
    grid_pos = state["pos_embed"][:, 1:].reshape(1, GRID, GRID, DIM).permute(0, 3, 1, 2)
    scale = (16 + 0.1) / GRID  # 224 / 14 = 16 patches a side, DINOv2's +0.1
    grid_pos = F.interpolate(grid_pos, scale_factor=(scale, scale), mode="bicubic").permute(0, 2, 3, 1).reshape(1, 256, DIM)
    t = t + torch.cat([state["pos_embed"][:, :1], grid_pos], 1)
    if "register_tokens" in state:
        t = torch.cat([t[:, :1], state["register_tokens"].expand(len(t), -1, -1), t[:, 1:]], 1)
    for i in range(DEPTH):
        p = {k.removeprefix(f"blocks.{i}."): v for k, v in state.items() if k.startswith(f"blocks.{i}.")}
        h = F.layer_norm(t, (DIM,), p["norm1.weight"], p["norm1.bias"], eps=1e-6)
        q, k, v = F.linear(h, p["attn.qkv.weight"], p["attn.qkv.bias"]).chunk(3, dim=-1)
        q, k, v = (z.reshape(len(t), -1, HEADS, DIM // HEADS).transpose(1, 2) for z in (q, k, v))
        attn = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(DIM // HEADS), -1) @ v
        attn = F.linear(attn.transpose(1, 2).reshape(len(t), -1, DIM), p["attn.proj.weight"], p["attn.proj.bias"])
        t = t + p["ls1.gamma"] * attn
        h = F.layer_norm(t, (DIM,), p["norm2.weight"], p["norm2.bias"], eps=1e-6)
        h = F.linear(F.gelu(F.linear(h, p["mlp.fc1.weight"], p["mlp.fc1.bias"])), p["mlp.fc2.weight"], p["mlp.fc2.bias"])
        t = t + p["ls2.gamma"] * h
    return F.layer_norm(t, (DIM,), state["norm.weight"], state["norm.bias"], eps=1e-6)[:, 0]


@pytest.fixture(autouse=True)
def _no_dinov2_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(WEIGHTS_ENV, raising=False)


@pytest.fixture
def weights(tmp_path: Path) -> Path:
    path = tmp_path / "tiny_dinov2_pretrain.pth"
    torch.save(dinov2_state(), path)
    return path


def random_images(n: int, seed: int, channels: int = 3) -> torch.Tensor:
    return torch.randint(0, 256, (n, channels, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("registers", [0, 4])
def test_the_vit_loads_dinov2_names_strictly_and_computes_dinov2s_forward(tmp_path: Path, registers: int) -> None:
    state = dinov2_state(registers)
    torch.save(state, tmp_path / "w.pth")
    extractor = DinoV2Extractor(tmp_path / "w.pth", batch_size=4)
    images = random_images(3, seed=1, channels=1)  # grayscale is repeated to RGB
    features, logits = extractor.batch_features(images)
    assert features.shape == (3, DIM) and logits is None
    torch.testing.assert_close(features, reference_features(state, images), atol=2e-4, rtol=2e-4)
    assert extractor.protocol()["feature_dim"] == DIM and extractor.protocol()["extractor"] == "dinov2"


def test_fd_dinov2_is_zero_for_identical_sets_and_positive_for_different_ones(
        weights: Path, tmp_path: Path, write_images: Callable[..., Path], capsys: pytest.CaptureFixture[str]) -> None:
    a = write_images(tmp_path / "a", [(32, 32)] * 6, seed=1)
    b = write_images(tmp_path / "b", [(24, 24)] * 6, seed=2)
    common = ["--metrics", "fd_dinov2", "--extractor-weights", f"dinov2={weights}", "--cache-dir",
              str(tmp_path / "cache"), "--no-progress", "--device", "cpu", "--json"]
    assert main(["fid", str(a), str(a), *common]) == 0
    same = json.loads(capsys.readouterr().out)
    assert main(["fid", str(a), str(b), *common]) == 0
    different = json.loads(capsys.readouterr().out)
    assert abs(same["fd_dinov2"]) < 1e-6 and different["fd_dinov2"] > 1e-3
    section = different["protocol"]["dinov2"]
    assert section["num_a"] == 6 and section["num_b"] == 6 and section["feature_dim"] == DIM
    assert section["resize"].startswith("bicubic antialiased to 224") and "ImageNet" in section["normalization"]
    assert "fid" not in different  # FID is not measured unless asked for

    # the Python API takes the same weights by extractor name, and statistics files of DINOv2 features too
    result = score_images(b, "fd_dinov2", a, weights={"dinov2": weights}, cache_dir=tmp_path / "cache")
    assert result["fd_dinov2"] == pytest.approx(different["fd_dinov2"], rel=1e-6)
    assert main(["stats", str(a), "--out", str(tmp_path / "a.npz"), "--extractor", "dinov2", "--extractor-weights",
                 f"dinov2={weights}", "--cache-dir", str(tmp_path / "cache"), "--no-progress"]) == 0
    assert "dinov2 weights" in capsys.readouterr().out
    with np.load(tmp_path / "a.npz") as data:
        assert data["mu"].shape == (DIM,) and str(data["extractor"]) == "dinov2"
    assert main(["fid", str(tmp_path / "a.npz"), str(b), *common]) == 0
    assert json.loads(capsys.readouterr().out)["fd_dinov2"] == pytest.approx(different["fd_dinov2"], rel=1e-6)


def one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("ganforge: ")]
    assert len(lines) == 1 and lines[0].startswith("ganforge: error: ") and "Traceback" not in err, err
    return lines[0]


def test_missing_or_wrong_weights_are_one_line_naming_the_flag(
        tmp_path: Path, write_images: Callable[..., Path], capsys: pytest.CaptureFixture[str]) -> None:
    a = write_images(tmp_path / "a", [(16, 16)] * 3, seed=1)
    common = [str(a), str(a), "--metrics", "fd_dinov2", "--cache-dir", str(tmp_path / "cache"), "--no-progress"]
    assert main(["fid", *common]) == 2
    line = one_error_line(capsys)
    assert "--extractor-weights dinov2=PATH" in line and "dinov2_vitl14_pretrain.pth" in line

    assert main(["fid", *common, "--extractor-weights", f"dinov2={tmp_path / 'absent.pth'}"]) == 2
    line = one_error_line(capsys)
    assert "absent.pth" in line and "does not exist" in line and "--extractor-weights dinov2=PATH" in line

    wrong = {"not a checkpoint": b"\x00garbage", "an Inception-like state dict": None}
    for label, content in wrong.items():
        path = tmp_path / "wrong.pth"
        if content is None:
            torch.save({"Conv2d_1a_3x3.conv.weight": torch.zeros(32, 3, 3, 3)}, path)
        else:
            path.write_bytes(content)
        assert main(["fid", *common, "--extractor-weights", f"dinov2={path}"]) == 2, label
        line = one_error_line(capsys)
        assert "--extractor-weights dinov2=PATH" in line and "wrong.pth" in line, label

    state = dinov2_state()
    del state["blocks.1.ls2.gamma"]  # not strictly DINOv2's layout: refused, not half loaded
    torch.save(state, tmp_path / "partial.pth")
    assert main(["fid", *common, "--extractor-weights", f"dinov2={tmp_path / 'partial.pth'}"]) == 2
    assert "ls2.gamma" in one_error_line(capsys)

    assert main(["fid", *common, "--extractor-weights", "dinov2"]) == 2
    assert "takes NAME=PATH" in one_error_line(capsys)
    assert main(["fid", *common, "--extractor-weights", "dinov3=x.pth"]) == 2
    assert "dinov2" in one_error_line(capsys)


def test_fd_dinov2_is_registered_with_its_extractor() -> None:
    from ganforge.metrics.extractors import EXTRACTORS

    spec = EXTRACTORS.get("dinov2")
    assert (spec.input_size, spec.feature_dim) == (224, 1024) and "bicubic" in spec.resize
    assert metrics_on(spec.name) == ("fd_dinov2",) and metrics_on("inception") == ("is", "fid", "kid", "pr", "dc")
    assert "fd_dinov2" not in [s.name for s in resolve_metrics("all")]  # it needs a weights file the user gives


def test_evaluate_scores_a_run_with_fid_and_fd_dinov2_in_one_pass(
        weights: Path, trunk_path: Path, tmp_path: Path, write_images: Callable[..., Path],
        capsys: pytest.CaptureFixture[str]) -> None:
    from ganforge.metrics.run import evaluate_run
    from ganforge.models import MODELS, ModelSpec, save_generator

    spec = ModelSpec(family="dcgan", z_dim=8, resolution=32, channels=3, width=8)
    generator, _ = MODELS.get("dcgan").build(spec)
    run = tmp_path / "run"
    save_generator(run, generator, spec, {"step": 1, "ema": False, "dataset": "digits5k", "config": {}})
    reference = write_images(tmp_path / "ref", [(32, 32)] * 5, seed=3)
    assert main(["evaluate", str(run), "--metrics", "fid,fd_dinov2", "--num-samples", "4", "--reference",
                 str(reference), "--inception-weights", str(trunk_path), "--extractor-weights", f"dinov2={weights}",
                 "--device", "cpu", "--no-progress"]) == 0
    assert "FID" in capsys.readouterr().out
    record = json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])
    assert np.isfinite(record["fid"]) and record["fd_dinov2"] > 0
    assert record["protocol"]["resize"] == "tf1-legacy-bilinear-299"  # Inception's protocol at the top level
    assert record["protocol"]["dinov2"]["num_fake"] == 4 and record["protocol"]["dinov2"]["num_real"] == 5
    # the same seed and weights through the Python path give the same value
    again = evaluate_run(run, "fd_dinov2", num_samples=4, reference=str(reference), weights={"dinov2": weights})
    assert again["fd_dinov2"] == pytest.approx(record["fd_dinov2"], rel=1e-6)


def test_training_time_evaluation_takes_the_weights_from_the_flag_and_the_api_from_weights(
        weights: Path, tmp_path: Path, write_images: Callable[..., Path], capsys: pytest.CaptureFixture[str]) -> None:
    import ganforge

    run = tmp_path / "run"
    reference = write_images(tmp_path / "ref", [(32, 32)] * 6, seed=5)
    assert main(["train", "--model", "dcgan", "--width", "8", "--z-dim", "8", "--batch-size", "4", "--steps", "2",
                 "--eval-every", "2", "--eval-metrics", "fd_dinov2", "--eval-samples", "4",
                 "--eval-reference", str(reference), "--extractor-weights", f"dinov2={weights}",
                 "--run-dir", str(run), "--threads", "1", "--no-progress"]) == 0
    record = json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])
    assert record["step"] == 2 and record["fd_dinov2"] > 0
    # the run folder keeps the file it was given, so a resume reads the same weights
    assert f"dinov2: {weights}" in (run / "config.yaml").read_text()
    # the API's evaluate takes them the same way; the same seed gives the same value as ganforge evaluate
    table = ganforge.evaluate(run, metrics="fd_dinov2", num_samples=4, reference=str(reference),
                              weights={"dinov2": weights})
    assert table["fd_dinov2"] > 0
    assert main(["evaluate", str(run), "--metrics", "fd_dinov2", "--num-samples", "4", "--reference",
                 str(reference), "--extractor-weights", f"dinov2={weights}", "--no-progress"]) == 0
    last = json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])
    assert last["fd_dinov2"] == pytest.approx(table["fd_dinov2"], rel=1e-6)
    capsys.readouterr()
    # a wrong name, or the Inception file named twice, is one line before anything is written
    for extra, words in ((["--extractor-weights", "dinov3=x.pth"], "unknown"),
                         (["--extractor-weights", f"inception={weights}", "--inception-weights", str(weights)],
                          "both name the Inception")):
        assert main(["train", "--steps", "2", "--run-dir", str(tmp_path / "other"), "--no-progress", *extra]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and words in err[0], err
        assert not (tmp_path / "other").exists()
    with pytest.raises(GanforgeError, match="unknown"):
        ganforge.evaluate(run, metrics="fd_dinov2", weights={"dinov3": weights})
