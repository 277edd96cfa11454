"""Speed of an exported web page (``ganforge export --format web``) in headless Chromium vs PyTorch.

Exports a generator, serves the folder with a plain static file server on 127.0.0.1 and opens it in
Debian's headless Chromium (Selenium), with no network beyond the loopback. Measured from the page's own
User Timing entries (viewer.js):

- page load to first picture: navigation start to ``ganforge:first-picture`` (manifest, ONNX Runtime Web's
  WASM compiled, the model loaded, a first 64-image grid drawn), on the first load of a fresh browser
  profile and on reloads (the browser then has the files and the compiled WASM cached);
- one 64-image grid: ``ganforge:samples`` per click of Generate (latents in JavaScript, ONNX Runtime WASM
  on one thread, pixels, the PNG for the download link, drawing), a new seed each time;
- the page's sampler alone: ``latents(seed, z_dim, 64)`` of static/sampler.js.

Baseline, in the same run on the same machine: the same 64-image grid in PyTorch (``sample_picture``:
latents, G, the uint8 grid) with the threads torch uses by default, and with one thread, as the page has.
WebGPU: the script reports whether the browser exposes an adapter; the export ships the WASM build only.

    python benchmarks/web_export_speed.py                      # synthetic 32 px DCGAN (z 100, width 64)
    python benchmarks/web_export_speed.py --run runs/my-run --grids 20
    python benchmarks/web_export_speed.py --run runs/cgan --screenshot docs/images/web-export.png
"""

from __future__ import annotations

import argparse
import functools
import http.server
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
         "--disable-dev-shm-usage", "--window-size=1280,1500",
         "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1")
NUM = 64


class QuietFiles(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def serve_folder(folder: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietFiles, directory=str(folder)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


def start_browser(profile: Path, chromium: str, chromedriver: str):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    driver = webdriver.Chrome(service=Service(chromedriver), options=options)
    driver.set_script_timeout(300)
    return driver


def wait_until(driver, script: str, timeout: float = 300.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = driver.execute_script(script)
        if value:
            return value
        time.sleep(0.02)
    raise SystemExit(f"timed out waiting for: {script}")


FIRST_PICTURE = ("const m = performance.getEntriesByName('ganforge:first-picture');"
                 " const e = document.getElementById('message').textContent;"
                 " if (e) return 'error: ' + e; return m.length ? m[0].startTime : null;")


def page_load_ms(driver, url: str) -> float:
    driver.get(url)
    value = wait_until(driver, FIRST_PICTURE)
    if isinstance(value, str):
        raise SystemExit(f"the page failed: {value}")
    return float(value)


def grid_ms(driver, seed: int) -> float:
    before = driver.execute_script("return performance.getEntriesByName('ganforge:samples').length")
    field = driver.find_element("id", "seed")
    field.clear()
    field.send_keys(str(seed))
    driver.find_element("id", "generate").click()
    wait_until(driver, f"return performance.getEntriesByName('ganforge:samples').length > {before}"
                       " && !document.getElementById('generate').disabled")
    return float(driver.execute_script("const m = performance.getEntriesByName('ganforge:samples');"
                                       " return m[m.length - 1].duration"))


SAMPLER_MS = """
const [zDim, repeats, done] = arguments;
import(new URL('static/sampler.js', document.baseURI).href).then(({ latents }) => {
  const times = [];
  for (let r = 0; r < repeats; r++) { const t = performance.now(); latents(1000 + r, zDim, 64); times.push(performance.now() - t); }
  done(times);
});
"""
WEBGPU = """
const done = arguments[0];
if (!navigator.gpu) { done('navigator.gpu is missing'); }
else navigator.gpu.requestAdapter().then(a => done(a ? 'adapter available' : 'no adapter'), e => done(String(e)));
"""


def save_screenshot(driver, base: str, path: Path) -> None:
    driver.get(f"{base}?shot#seed=7&num=40")
    wait_until(driver, "return document.getElementById('grid').dataset.picture")
    for field, value in (("seed-a", "7"), ("seed-b", "11"), ("frames", "24"), ("interp-num", "10")):
        driver.find_element("id", field).clear()
        driver.find_element("id", field).send_keys(value)
    driver.find_element("id", "animate").click()
    wait_until(driver, "return !document.getElementById('animation-canvas').hidden")
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1280, min(int(height) + 40, 2400))
    time.sleep(0.5)
    driver.save_screenshot(str(path))


def pytorch_grid_ms(run: Path, repeats: int, threads: int | None) -> list[float]:
    import torch

    from ganforge.loader import load_generator
    from ganforge.web.render import sample_picture

    previous = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        loaded = load_generator(run)
        sample_picture(loaded, 0, NUM)  # warm-up
        times = []
        for seed in range(repeats):
            started = time.perf_counter()
            sample_picture(loaded, 1000 + seed, NUM)
            times.append((time.perf_counter() - started) * 1000)
        return times
    finally:
        torch.set_num_threads(previous)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", type=Path, default=None, help="a run folder (default: synthetic DCGAN)")
    parser.add_argument("--width", type=int, default=64, help="synthetic DCGAN width (default 64)")
    parser.add_argument("--grids", type=int, default=10, help="64-image grids timed in each (default 10)")
    parser.add_argument("--reloads", type=int, default=3, help="page reloads timed (default 3)")
    parser.add_argument("--runtime", type=Path, default=None, help="ONNX Runtime Web copy (export --runtime)")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--chromedriver", default="/usr/bin/chromedriver")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    parser.add_argument("--screenshot", type=Path, default=None, metavar="PNG",
                        help="also save the page (seed 7, 40 images, an interpolation running) as a PNG")
    args = parser.parse_args(argv)

    import torch

    from ganforge.cli import main as ganforge
    from serve_load import make_synthetic_run  # the serving benchmark's generator; benchmarks/ is on sys.path

    with tempfile.TemporaryDirectory(prefix="ganforge-web-bench-") as scratch:
        root = Path(scratch)
        run = args.run or make_synthetic_run(root / "run", args.width)
        extra = ["--runtime", str(args.runtime)] if args.runtime else []
        if ganforge(["export", str(run), "--format", "web", "--out", str(root / "site"), *extra]) != 0:
            return 1
        server, base = serve_folder(root / "site")
        driver = start_browser(root / "profile", args.chromium, args.chromedriver)
        try:
            url = f"{base}#seed=0&num={NUM}"
            first_load = page_load_ms(driver, url)
            # A new query string is a new document (a hash change alone would not reload the page).
            reloads = [page_load_ms(driver, f"{base}?reload={i}#seed=0&num={NUM}") for i in range(args.reloads)]
            grids = [grid_ms(driver, 1000 + i) for i in range(args.grids)]
            z_dim = json.loads((root / "site" / "manifest.json").read_text())["model"]["z_dim"]
            sampler = driver.execute_async_script(SAMPLER_MS, z_dim, args.grids)
            webgpu = driver.execute_async_script(WEBGPU)
            browser = driver.capabilities.get("browserVersion", "?")
            if args.screenshot:
                save_screenshot(driver, base, args.screenshot)
        finally:
            driver.quit()
            server.shutdown()
        torch_default = pytorch_grid_ms(run, args.grids, None)
        torch_one = pytorch_grid_ms(run, args.grids, 1)

    median = statistics.median
    result = {
        "model": f"synthetic dcgan 32px z100 width {args.width}" if args.run is None else str(args.run),
        "chromium": browser, "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
        "first_load_to_first_picture_ms": round(first_load, 1),
        "reload_to_first_picture_ms": round(median(reloads), 1),
        "browser_grid64_ms": round(median(grids), 1),
        "browser_sampler64_ms": round(median(sampler), 2),
        "pytorch_grid64_ms": round(median(torch_default), 1),
        "pytorch_1thread_grid64_ms": round(median(torch_one), 1),
        "browser_over_pytorch": round(median(grids) / median(torch_default), 2),
        "browser_over_pytorch_1thread": round(median(grids) / median(torch_one), 2),
        "webgpu": webgpu,
    }
    for key, value in result.items():
        print(f"{key:32s} {value}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
