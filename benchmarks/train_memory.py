"""Peak memory of ``ganforge train``: the child process's peak RSS (resource.getrusage), and on CUDA the
peak GPU memory the training command prints (torch.cuda.max_memory_allocated).

The default run (digits5k, DCGAN, batch 64) is shortened with --steps but keeps every artifact path
that costs memory: sample grids, checkpoints, the final GIF and loss plot.

    python benchmarks/train_memory.py                        # default run, 40 steps
    python benchmarks/train_memory.py --steps 40 -- --batch-size 256 --precision bf16

With ``--made N``, the run trains on N made images at ``--made-resolution`` px (default 128; made by
benchmarks/made_data.py straight into a prepared folder, 60,000 x 128 px = 2.9 GB) with the small
``feedbench`` conv GAN, in ``--data-mode stream`` unless the extra flags say otherwise. The peak RSS is
the largest of the training process and its DataLoader workers (RUSAGE_CHILDREN's ru_maxrss).

    python benchmarks/train_memory.py --made 60000 --steps 50 --limit-gb 1.5
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from made_data import write_made_set


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--limit-gb", type=float, default=2.0, help="budget the peak RSS is checked against")
    parser.add_argument("--made", type=int, default=0, metavar="N", help="train on N made images (stream mode)")
    parser.add_argument("--made-resolution", type=int, default=128, metavar="PX")
    parser.add_argument("train_args", nargs="*", help="extra flags for ganforge train (after --)")
    args = parser.parse_args()
    every = max(1, args.steps // 2)
    with tempfile.TemporaryDirectory() as tmp:
        program = [sys.executable, "-m", "ganforge"]
        if args.made:
            started = time.perf_counter()
            made = write_made_set(Path(tmp) / "made", args.made, args.made_resolution)
            size = (made / "prepared.json").stat().st_size + sum(p.stat().st_size for p in made.glob("*.npy"))
            print(f"made {args.made} images at {args.made_resolution} px ({size / 1e9:.2f} GB on disk) in "
                  f"{time.perf_counter() - started:.0f} s")
            program = [sys.executable, str(Path(__file__).with_name("made_data.py"))]
            args.train_args = ["--data", f"folder:{made}", "--model", "feedbench", "--data-mode", "stream",
                               *args.train_args]
        cmd = [*program, "train", "--steps", str(args.steps), "--sample-every", str(every),
               "--checkpoint-every", str(every), "--no-progress", "--run-dir", f"{tmp}/run", *args.train_args]
        started = time.perf_counter()
        result = subprocess.run(cmd, capture_output=True, text=True)
        seconds = time.perf_counter() - started
        if result.returncode:
            raise SystemExit(f"ganforge train failed ({result.returncode}):\n{result.stderr[-2000:]}")
        print(" ".join(cmd[1:]).replace(tmp, "TMP"))
        print(result.stdout.strip().splitlines()[-1].replace(tmp, "TMP"))
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # Linux reports KiB
    peak_gb = peak_kib * 1024 / 1e9
    verdict = "within" if peak_gb < args.limit_gb else "OVER"
    print(f"peak RSS {peak_gb:.2f} GB ({verdict} the {args.limit_gb:g} GB budget), wall {seconds:.0f} s")


if __name__ == "__main__":
    main()
