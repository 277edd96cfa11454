"""Fixtures for generate / serve / export: run folders (synthetic and really trained) and a live server."""

from __future__ import annotations

import http.client
import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch
from torch import nn

from ganforge.cli import main
from ganforge.models import MODELS, ModelSpec, save_generator
from ganforge.web.server import GanforgeServer, start_in_thread


def _reset(module: nn.Module) -> None:
    """PyTorch's default init instead of DCGAN's N(0, 0.02): an untrained net whose output visibly
    depends on z, so pixel-level assertions mean something without training."""
    torch.manual_seed(0)
    for layer in module.modules():
        if layer is not module and hasattr(layer, "reset_parameters"):
            layer.reset_parameters()


def write_run(folder: Path, *, family: str = "dcgan", resolution: int = 32, channels: int = 1,
              num_classes: int = 0, z_dim: int = 16, width: int = 8, ema: bool = False,
              dataset: str = "digits5k", class_names: list[str] | None = None, step: int = 7) -> Path:
    """A run folder with an untrained generator.safetensors + generator.json, written in milliseconds."""
    spec = ModelSpec(family=family, z_dim=z_dim, resolution=resolution, channels=channels,
                     num_classes=num_classes, width=width)
    generator, _ = MODELS.get(family).build(spec)
    _reset(generator)
    meta = {"step": step, "ema": ema, "dataset": dataset, "class_names": class_names,
            "config": {"model": family, "data": dataset, "loss": "bce"}}
    save_generator(folder, generator, spec, meta)
    return folder


@pytest.fixture
def image_run(tmp_path: Path) -> Path:
    return write_run(tmp_path / "image-run")


@pytest.fixture
def points_run(tmp_path: Path) -> Path:
    names = [f"mode{i}" for i in range(8)]
    return write_run(tmp_path / "points-run", family="mlp", resolution=0, channels=2, num_classes=8, z_dim=4,
                     dataset="toy2d:ring", class_names=names)


def _train(args: list[str]) -> None:
    code = main(["train", "--no-progress", *args])
    assert code == 0, f"training the test run failed with exit code {code}"


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real (tiny) DCGAN run: every artifact the trainer writes, curves and progress.gif included."""
    folder = tmp_path_factory.mktemp("trained") / "dcgan-digits"
    _train(["--steps", "4", "--batch-size", "16", "--width", "8", "--z-dim", "16", "--sample-every", "2",
            "--log-every", "1", "--run-dir", str(folder)])
    return folder


@pytest.fixture(scope="session")
def conditional_toy_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A conditional mlp trained on toy2d:ring long enough for each class to land on its own mode."""
    folder = tmp_path_factory.mktemp("trained") / "cgan-ring"
    _train(["--model", "mlp", "--data", "toy2d:ring", "--conditional", "--steps", "120", "--batch-size", "128",
            "--width", "16", "--z-dim", "4", "--lr-g", "1e-3", "--lr-d", "1e-3", "--sample-every", "60",
            "--run-dir", str(folder)])
    return folder


@pytest.fixture
def runs_dir(tmp_path: Path, trained_run: Path) -> Path:
    """RUNS_DIR with a trained image run (plus metrics), a synthetic conditional toy run, a nested run."""
    root = tmp_path / "runs"
    root.mkdir()
    shutil.copytree(trained_run, root / "digits")
    lines = [{"kind": "images", "step": 2, "fid": 250.0, "precision": 0.1},
             {"kind": "images", "step": 4, "fid": 180.5, "precision": 0.05}]
    (root / "digits" / "metrics.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines) + "not json\n")
    write_run(root / "toy", family="mlp", resolution=0, channels=2, num_classes=8, z_dim=4, dataset="toy2d:ring",
              class_names=[f"mode{i}" for i in range(8)])
    write_run(root / "sweep" / "colour", channels=3, ema=True)
    return root


@pytest.fixture
def server(runs_dir: Path) -> Iterator[GanforgeServer]:
    live = start_in_thread(runs_dir)
    yield live
    live.shutdown()
    live.server_close()


Response = tuple[int, dict[str, str], bytes]


@pytest.fixture
def fetch(server: GanforgeServer) -> Callable[..., Response]:
    """GET a raw path (sent byte for byte, no client-side normalisation of ../ or %2e)."""

    def get(path: str, headers: dict[str, str] | None = None, method: str = "GET") -> Response:
        host, port = server.server_address[:2]
        connection = http.client.HTTPConnection(host, port, timeout=120)
        try:
            connection.request(method, path, headers=headers or {})
            response = connection.getresponse()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
        finally:
            connection.close()

    return get


@pytest.fixture
def error_of() -> Callable[[bytes], str]:
    """The message of a JSON error body, which must hold exactly {"error": message}."""

    def parse(body: bytes) -> str:
        document = json.loads(body)
        assert set(document) == {"error"}, document
        return document["error"]

    return parse
