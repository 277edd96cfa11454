"""A run of your own networks (ganforge.train(generator=..., discriminator=...)) whose classes live in an
importable module: the command line rebuilds the generator from the recorded class path and arguments, so
generate, export (onnx, web), serve and ganforge.export work on it; the loader refuses damaged files in
one line."""

from __future__ import annotations

import json
import sys
import textwrap
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from PIL import Image

import ganforge
from ganforge.cli import main
from ganforge.errors import GanforgeError
from ganforge.loader import load_generator
from ganforge.web.server import start_in_thread

MODULE = "ganforge_test_user_networks"
NETWORKS = '''
import torch
from torch import nn


class SmallGenerator(nn.Module):
    def __init__(self, z_dim, size=8):
        super().__init__()
        self.z_dim, self.size, self.num_classes = z_dim, size, 0
        self.net = nn.Linear(z_dim, size * size)

    def forward(self, z, labels=None):
        return torch.tanh(self.net(z)).view(-1, 1, self.size, self.size)


class SmallDiscriminator(nn.Module):
    def __init__(self, size=8):
        super().__init__()
        self.net = nn.Linear(size * size, 1)

    def forward(self, x, labels=None):
        return self.net(x.flatten(1)).squeeze(1)
'''


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """RUNS/mine: 2 steps of the module's pair on 8x8 gray images (z_dim 6: a constructor argument)."""
    folder = tmp_path_factory.mktemp("user-networks")
    (folder / f"{MODULE}.py").write_text(textwrap.dedent(NETWORKS))
    sys.path.insert(0, str(folder))
    try:
        networks = __import__(MODULE)
        ganforge.train(networks.SmallGenerator(6), networks.SmallDiscriminator(), data=torch.rand(32, 1, 8, 8),
                       z_dim=6, steps=2, batch_size=16, log_every=1, run_dir=str(folder / "runs" / "mine"),
                       progress=False)
        yield folder / "runs"
    finally:
        sys.path.remove(str(folder))
        sys.modules.pop(MODULE, None)


def test_the_run_records_the_class_path_and_its_arguments(runs: Path) -> None:
    document = json.loads((runs / "mine" / "generator.json").read_text())
    assert document["spec"]["family"] == "custom"
    assert document["spec"]["options"]["network"] == {"class": f"{MODULE}:SmallGenerator",
                                                       "kwargs": {"z_dim": 6, "size": 8}}
    assert "custom" not in ganforge.MODELS  # rebuilt from the record, not from a registration
    generator, info = load_generator(runs / "mine")
    assert type(generator).__name__ == "SmallGenerator" and generator.z_dim == 6 and info.spec.z_dim == 6


def test_generate_draws_the_runs_samples(runs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "grid.png"
    assert main(["generate", str(runs / "mine"), "--out", str(out), "--num", "4", "--seed", "3"]) == 0, \
        capsys.readouterr().err
    picture = Image.open(out)
    assert picture.size == (22, 22)  # 2 x 2 tiles of 8 px with a 2 px gutter
    expected = ganforge.sample(runs / "mine", 4, seed=3)  # the same generator, read by the Python API
    assert (Image.open(out).convert("RGB").tobytes() == Image.fromarray(expected.array).tobytes())


def test_export_onnx_and_web_and_the_python_export(runs: Path, web_runtime: Path, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    onnx_file = tmp_path / "g.onnx"
    assert main(["export", str(runs / "mine"), "--format", "onnx", "--out", str(onnx_file)]) == 0, \
        capsys.readouterr().err
    assert onnx_file.stat().st_size > 0  # the exporter ran it against the PyTorch generator before writing
    site = tmp_path / "site"
    assert main(["export", str(runs / "mine"), "--format", "web", "--out", str(site), "--runtime",
                 str(web_runtime)]) == 0, capsys.readouterr().err
    manifest = json.loads((site / "manifest.json").read_text())
    assert manifest["model"]["family"] == "custom" and (site / "generator.onnx").is_file()
    checkpoint = runs / "mine" / "checkpoints" / "last.pt"
    out = ganforge.export(checkpoint, format="onnx", out=tmp_path / "from_python.onnx", quiet=True)
    assert out.is_file() and out.stat().st_size > 0


def test_serve_shows_the_run(runs: Path) -> None:
    server = start_in_thread(runs)
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/"
        [run] = json.loads(urllib.request.urlopen(url + "api/runs", timeout=60).read())["runs"]
        with urllib.request.urlopen(f"{url}api/generate?run={run['id']}&num=4&seed=3", timeout=60) as reply:
            assert reply.status == 200 and Image.open(reply).size == (22, 22)
    finally:
        server.shutdown()
        server.server_close()


def test_the_loader_refuses_damaged_files_in_one_line(runs: Path, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    cut = tmp_path / "cut"
    cut.mkdir()
    (cut / "generator.json").write_bytes((runs / "mine" / "generator.json").read_bytes())
    whole = (runs / "mine" / "generator.safetensors").read_bytes()
    (cut / "generator.safetensors").write_bytes(whole[:-40])  # a valid header over truncated data
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"PK\x03\x04 not really a zip")
    for source, message in ((cut, "generator.safetensors"), (garbage, "cannot be read as a ganforge checkpoint"),
                            (tmp_path / "missing", "no run, checkpoint or generator at")):
        with pytest.raises(GanforgeError, match=message) as caught:
            load_generator(source)
        assert "\n" not in str(caught.value)
        assert main(["generate", str(source), "--out", str(tmp_path / "x.png")]) == 2
        err = capsys.readouterr().err
        assert err.startswith("ganforge: error:") and err.count("\n") == 1, err
