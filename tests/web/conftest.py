"""Fixtures for generate / serve / export: run folders (synthetic and really trained), a live server,
ONNX Runtime Web fetched once per session, a static file server and headless Chromium."""

from __future__ import annotations

import functools
import http.client
import http.server
import json
import os
import shutil
import threading
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


def _measure_norms(generator: nn.Module, spec: ModelSpec) -> None:
    """BatchNorm running statistics of random latents, as training leaves them: without them the small
    default-init nets of these tests draw flat grey (outputs within +-0.02), with them the whole range."""
    norms = [m for m in generator.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for norm in norms:
        norm.momentum = None  # a cumulative average: one batch sets the statistics
    generator.train()
    labels = torch.arange(512) % spec.num_classes if spec.num_classes else None
    with torch.no_grad():
        generator(torch.randn(512, spec.z_dim), labels)
    generator.eval()


def write_run(folder: Path, *, family: str = "dcgan", resolution: int = 32, channels: int = 1,
              num_classes: int = 0, z_dim: int = 16, width: int = 8, ema: bool = False,
              dataset: str = "digits5k", class_names: list[str] | None = None, step: int = 7,
              measure_norms: bool = False) -> Path:
    """A run folder with an untrained generator.safetensors + generator.json, written in milliseconds."""
    spec = ModelSpec(family=family, z_dim=z_dim, resolution=resolution, channels=channels,
                     num_classes=num_classes, width=width)
    generator, _ = MODELS.get(family).build(spec)
    _reset(generator)
    if measure_norms:
        _measure_norms(generator, spec)
    meta = {"step": step, "ema": ema, "dataset": dataset, "class_names": class_names,
            "config": {"model": family, "data": dataset, "loss": "bce"}}
    save_generator(folder, generator, spec, meta)
    return folder


@pytest.fixture(scope="session")
def make_run() -> Callable[..., Path]:
    """:func:`write_run`, for tests that need run folders of their own shape."""
    return write_run


@pytest.fixture
def image_run(tmp_path: Path) -> Path:
    return write_run(tmp_path / "image-run")


@pytest.fixture
def r3gan_run(tmp_path: Path) -> Path:
    """A conditional r3gan generator: grouped convs, the low-pass resampling filter, a class embedding."""
    return write_run(tmp_path / "r3gan-run", family="r3gan", channels=3, num_classes=3)


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


# -- the web export: ONNX Runtime Web (web_cache, web_runtime: tests/conftest.py), a plain static host,
# headless Chromium ----------------------------------------------------------------------------------------
class _QuietFiles(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def static_host() -> Iterator[Callable[[Path], str]]:
    """Serve folders as a plain static host would (http.server on 127.0.0.1): folder -> its base URL."""
    servers: list[http.server.ThreadingHTTPServer] = []

    def serve(folder: Path) -> str:
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietFiles, directory=str(folder)))
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/"

    yield serve
    for server in servers:
        server.shutdown()
        server.server_close()


CHROMIUM = os.environ.get("GANFORGE_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("GANFORGE_CHROMEDRIVER", "/usr/bin/chromedriver")
INSTALL = "apt-get install -y chromium chromium-driver && pip install 'ganforge[dev]' (selenium)"
# No network beyond the loopback: every host name but the loopback's fails to resolve.
FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
         "--disable-dev-shm-usage", "--window-size=1280,1500",
         "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost")
PAGE_LOAD_S = 90


def _missing() -> list[str]:
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not (os.path.isfile(path) and os.access(path, os.X_OK))]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("the selenium package")
    return missing


@pytest.fixture
def browser(tmp_path: Path):
    missing = _missing()
    if missing:
        message = f"the browser test needs {', '.join(missing)}; install with: {INSTALL}"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message)
        pytest.skip(message)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path / 'chromium-profile'}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(PAGE_LOAD_S)
    try:
        yield driver
    finally:
        driver.quit()
