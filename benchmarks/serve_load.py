"""Load test for ``ganforge serve``: N concurrent /api/generate requests against a local server.

Starts ``python -m ganforge serve`` in a subprocess on 127.0.0.1 (a free port), sends one warm-up
request (the generator loads), then ``--requests`` requests at once from ``--concurrency`` client
threads, each a different seed, checks every answer is a PNG of the expected size, and prints
p50 / p95 / max latency. Exit status 1 if any request failed.

Baseline, measured in the same run: the same pictures rendered in-process, one after the other, with
no HTTP (``sample_picture`` + ``encode_png``). wall(server) / wall(baseline) is the serving overhead;
on a shared machine that ratio is the number to compare, absolute seconds move with the load.

    python benchmarks/serve_load.py                       # synthetic 32 px DCGAN (width 64)
    python benchmarks/serve_load.py --run runs/my-run     # a trained run folder
"""

from __future__ import annotations

import argparse
import io
import json
import math
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

MAX_REQUESTS = 1000
MAX_CONCURRENCY = 100


def make_synthetic_run(folder: Path, width: int) -> Path:
    """An untrained DCGAN with the default architecture: serving cost does not depend on training."""
    from ganforge.models import MODELS, ModelSpec, save_generator

    spec = ModelSpec(family="dcgan", z_dim=100, resolution=32, channels=1, width=width)
    generator, _ = MODELS.get("dcgan").build(spec)
    save_generator(folder, generator, spec, {"step": 0, "ema": False, "dataset": "digits5k", "class_names": None})
    return folder


def start_server(runs_dir: Path) -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "ganforge", "serve", str(runs_dir), "--host", "127.0.0.1", "--port", "0", "--quiet"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    line = process.stdout.readline() if process.stdout else ""
    match = re.search(r"(http://127\.0\.0\.1:\d+/)", line)
    if not match:
        process.kill()
        raise SystemExit(f"server did not start: {line.strip()}")
    return process, match.group(1)


def get(url: str) -> tuple[int, bytes, float]:
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(url, timeout=600) as response:
            body, status = response.read(), response.status
    except urllib.error.HTTPError as exc:
        body, status = exc.read(), exc.code
    except OSError as exc:
        body, status = str(exc).encode(), 0
    return status, body, time.perf_counter() - started


def in_process_seconds(run: Path, requests: int, num: int) -> float:
    """The same work as the load test without the server: the baseline for the overhead ratio."""
    from ganforge.loader import load_generator
    from ganforge.viz import encode_png
    from ganforge.web.render import sample_picture

    loaded = load_generator(run)
    encode_png(sample_picture(loaded, 0, num))  # warm-up, like the server's first request
    started = time.perf_counter()
    for seed in range(1, requests + 1):
        encode_png(sample_picture(loaded, seed, num))
    return time.perf_counter() - started


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, default=None, help="a run folder (default: synthetic DCGAN)")
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--num", type=int, default=16, help="images per request (default 16)")
    parser.add_argument("--width", type=int, default=64, help="synthetic DCGAN width (default 64)")
    args = parser.parse_args()
    if not 1 <= args.requests <= MAX_REQUESTS or not 1 <= args.concurrency <= MAX_CONCURRENCY:
        raise SystemExit(f"--requests must be 1..{MAX_REQUESTS} and --concurrency 1..{MAX_CONCURRENCY}")

    from PIL import Image

    with tempfile.TemporaryDirectory() as tmp:
        run = args.run.resolve() if args.run else make_synthetic_run(Path(tmp) / "bench-run", args.width)
        baseline = in_process_seconds(run, args.requests, args.num)
        process, base = start_server(run)
        try:
            runs = json.loads(urllib.request.urlopen(base + "api/runs", timeout=60).read())["runs"]
            run_id = runs[0]["id"]
            url = base + "api/generate?run={run}&num={num}&seed={seed}"
            status, body, first = get(url.format(run=run_id, num=args.num, seed=0))
            if status != 200:
                raise SystemExit(f"warm-up request failed ({status}): {body[:200]!r}")
            expected = Image.open(io.BytesIO(body)).size
            started = time.perf_counter()
            with ThreadPoolExecutor(max_workers=args.concurrency) as pool:
                results = list(pool.map(lambda s: get(url.format(run=run_id, num=args.num, seed=s)),
                                        range(1, args.requests + 1)))
            wall = time.perf_counter() - started
        finally:
            process.terminate()
            process.wait(timeout=30)
    failures = [(s, b[:120]) for s, b, _ in results if s != 200 or Image.open(io.BytesIO(b)).size != expected]
    latencies = [t for _, _, t in results]
    print(f"run {run_id}: {args.requests} requests x {args.num} images, {args.concurrency} concurrent clients")
    print(f"first request (loads the generator): {first:.2f}s")
    print(f"latency p50 {percentile(latencies, 0.50):.2f}s  p95 {percentile(latencies, 0.95):.2f}s  "
          f"max {max(latencies):.2f}s  mean {statistics.mean(latencies):.2f}s")
    print(f"wall {wall:.2f}s, {args.requests / wall:.1f} requests/s, {args.requests * args.num / wall:.0f} images/s")
    print(f"baseline (same pictures in-process, sequential, no HTTP): {baseline:.2f}s; "
          f"server/baseline wall ratio {wall / baseline:.2f}")
    print(f"failed: {len(failures)}")
    for status, body in failures[:5]:
        print(f"  {status}: {body!r}")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
