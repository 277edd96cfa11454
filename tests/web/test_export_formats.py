"""``ganforge export``: TorchScript and ONNX files reproduce the PyTorch generator; unconditional ones take z alone."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from ganforge.cli import main
from ganforge.loader import load_generator


def reference(run: Path, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    loaded = load_generator(run)
    with torch.inference_mode():
        return loaded.module(z, labels if loaded.spec.num_classes else None)


def inputs(z_dim: int, num_classes: int, batch: int = 5) -> tuple[torch.Tensor, torch.Tensor]:
    rng = torch.Generator().manual_seed(123)
    return torch.randn(batch, z_dim, generator=rng), torch.arange(batch, dtype=torch.int64) % max(num_classes, 1)


def exported_inputs(z: torch.Tensor, labels: torch.Tensor, num_classes: int) -> tuple[torch.Tensor, ...]:
    """What an exported generator takes: the latent alone, or latent and labels when conditional."""
    return (z, labels) if num_classes else (z,)


@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:DeprecationWarning")
@pytest.mark.parametrize("run_fixture", ["image_run", "points_run", "r3gan_run"])
def test_torchscript_matches_pytorch(run_fixture: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    run = request.getfixturevalue(run_fixture)
    out = tmp_path / "g.pt"
    assert main(["export", str(run), "--format", "torchscript", "--out", str(out)]) == 0
    spec = json.loads((run / "generator.json").read_text())["spec"]
    z, labels = inputs(spec["z_dim"], spec["num_classes"], batch=5)  # not the traced batch size (4)
    extra = {"generator.json": ""}
    module = torch.jit.load(str(out), _extra_files=extra)
    assert json.loads(extra["generator.json"])["spec"] == spec
    with torch.inference_mode():
        got = module(*exported_inputs(z, labels, spec["num_classes"]))
    torch.testing.assert_close(got, reference(run, z, labels), atol=1e-5, rtol=1e-5)
    if spec["num_classes"]:  # the labels really are used
        with torch.inference_mode():
            assert not torch.allclose(module(z, (labels + 1) % spec["num_classes"]), got)
    else:  # no dummy labels: a second input is refused
        with pytest.raises(RuntimeError), torch.inference_mode():
            module(z, labels)


@pytest.mark.parametrize("run_fixture", ["image_run", "points_run", "r3gan_run"])
def test_onnx_matches_pytorch_under_onnxruntime(run_fixture: str, request: pytest.FixtureRequest,
                                                tmp_path: Path) -> None:
    import onnx
    import onnxruntime

    run = request.getfixturevalue(run_fixture)
    out = tmp_path / "g.onnx"
    assert main(["export", str(run), "--format", "onnx", "--out", str(out)]) == 0
    spec = json.loads((run / "generator.json").read_text())["spec"]
    model = onnx.load(str(out))
    metadata = {p.key: p.value for p in model.metadata_props}
    assert json.loads(metadata["ganforge.generator"])["spec"] == spec
    session = onnxruntime.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    names = ["z", "labels"] if spec["num_classes"] else ["z"]
    assert [i.name for i in session.get_inputs()] == names
    assert [o.name for o in session.get_outputs()] == ["samples"]
    for batch in (1, 7):
        z, labels = inputs(spec["z_dim"], spec["num_classes"], batch)
        feed = dict(zip(names, (t.numpy() for t in exported_inputs(z, labels, spec["num_classes"])), strict=True))
        got = session.run(None, feed)[0]
        np.testing.assert_allclose(got, reference(run, z, labels).numpy(), atol=1e-4, rtol=1e-4)


def test_export_refuses_to_overwrite_and_checks_the_suffix(image_run: Path, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "g.pt"
    out.write_bytes(b"keep")
    assert main(["export", str(image_run), "--format", "torchscript", "--out", str(out)]) == 2
    assert "already exists" in capsys.readouterr().err and out.read_bytes() == b"keep"
    assert main(["export", str(image_run), "--format", "onnx", "--out", str(tmp_path / "g.pt")]) == 2
    assert ".onnx" in capsys.readouterr().err


def test_onnx_without_the_extra_names_the_install_command(image_run: Path, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(sys.modules, "onnxscript", None)  # as if it were not installed
    assert main(["export", str(image_run), "--format", "onnx", "--out", str(tmp_path / "g.onnx")]) == 2
    err = capsys.readouterr().err
    assert "pip install 'ganforge[onnx]'" in err
    assert not (tmp_path / "g.onnx").exists()
