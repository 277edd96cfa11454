"""``--threads``: training and FID-extraction speed with 1 torch thread vs 2 vs torch's default.

Each setting runs in its own process (torch's thread pool is per process), interleaved round by round so
that the machine's changing load hits every setting alike; the figure is the median images/s of each
setting and its ratio to the default. On a machine whose cores other jobs share, the default (one
thread per core) spends its time waiting for the busiest core; one thread often wins.

    python benchmarks/threads.py                 # 3 rounds of DCGAN width 32, batch 64, 40 steps
    python benchmarks/threads.py --rounds 5 --steps 80
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SETTINGS = (0, 1, 2)  # 0 = torch's default (one thread per core)


def train_rate(threads: int, steps: int, width: int, folder: Path) -> float:
    """images/s of one `ganforge train` process, from its summary line."""
    run_dir = folder / f"t{threads}-{time.monotonic_ns()}"
    cmd = [sys.executable, "-m", "ganforge", "train", "--width", str(width), "--batch-size", "64", "--steps",
           str(steps), "--log-every", "10", "--sample-every", "100000", "--checkpoint-every", "100000",
           "--log", "none", "--device", "cpu", "--no-progress", "--threads", str(threads), "--run-dir", str(run_dir)]
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True).stdout
    match = re.search(r"\(([\d.]+) img/s\)", out)
    if not match:
        raise RuntimeError(f"no rate in: {out}")
    return float(match[1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--width", type=int, default=32)
    args = parser.parse_args()
    rates: dict[int, list[float]] = {threads: [] for threads in SETTINGS}
    with tempfile.TemporaryDirectory() as tmp:
        for round_index in range(args.rounds):
            for threads in SETTINGS:
                rates[threads].append(train_rate(threads, args.steps, args.width, Path(tmp)))
            print(f"round {round_index + 1}: " + ", ".join(f"threads {t or 'default'}: {rates[t][-1]:.0f} img/s"
                                                          for t in SETTINGS), flush=True)
    load = os.getloadavg()[0]
    default = statistics.median(rates[0])
    print(f"\ncores {os.cpu_count()}, load average {load:.1f}; DCGAN width {args.width}, batch 64, {args.steps} steps, "
          f"{args.rounds} rounds (median images/s, ratio to the default):")
    for threads in SETTINGS:
        median = statistics.median(rates[threads])
        print(f"  --threads {threads or '0 (default)'}: {median:.0f} img/s  x{median / default:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
