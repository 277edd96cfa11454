"""Peak memory of ``ganforge train``: the child process's peak RSS (resource.getrusage), and on CUDA the
peak GPU memory the training command prints (torch.cuda.max_memory_allocated).

The default run (digits5k, DCGAN, batch 64) is shortened with --steps but keeps every artifact path
that costs memory: sample grids, checkpoints, the final GIF and loss plot.

    python benchmarks/train_memory.py                        # default run, 40 steps
    python benchmarks/train_memory.py --steps 40 -- --batch-size 256 --precision bf16

With ``--made N``, the run trains on N made images at ``--made-resolution`` px (default 128; made by
benchmarks/made_data.py straight into a prepared folder, 60,000 x 128 px = 2.9 GB) with the small
``feedbench`` conv GAN, in ``--data-mode stream`` unless the extra flags say otherwise. The peak RSS is
the largest of the training process and its DataLoader workers (RUSAGE_CHILDREN's ru_maxrss: one
process's peak, not a sum). On Linux the script also samples /proc every 0.2 s and prints each process's
peak split into RssAnon (its own memory) and RssFile (mapped file pages: libraries, memory maps), and the
peak of the tree's summed RssAnon.

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
        with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
            child = subprocess.Popen(cmd, stdout=out, stderr=err, text=True)
            peaks, anon_sum = watch_tree(child)
            out.seek(0)
            err.seek(0)
            result = subprocess.CompletedProcess(cmd, child.returncode, out.read(), err.read())
        seconds = time.perf_counter() - started
        if result.returncode:
            raise SystemExit(f"ganforge train failed ({result.returncode}):\n{result.stderr[-2000:]}")
        print(" ".join(cmd[1:]).replace(tmp, "TMP"))
        print(result.stdout.strip().splitlines()[-1].replace(tmp, "TMP"))
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # Linux reports KiB
    peak_gb = peak_kib * 1024 / 1e9
    verdict = "within" if peak_gb < args.limit_gb else "OVER"
    print(f"peak RSS {peak_gb:.2f} GB ({verdict} the {args.limit_gb:g} GB budget), wall {seconds:.0f} s")
    for role, fields in peaks.items():
        print(f"  {role}: peak RSS {fields['VmRSS'] / 1e9:.2f} GB = anon {fields['RssAnon'] / 1e9:.2f} + "
              f"file {fields['RssFile'] / 1e9:.2f} + shmem {fields['RssShmem'] / 1e9:.2f}")
    if peaks:
        print(f"  summed RssAnon of the process tree, peak: {anon_sum / 1e9:.2f} GB")


RSS_FIELDS = ("VmRSS", "RssAnon", "RssFile", "RssShmem")


def rss_of(pid: int) -> dict[str, int]:
    """Bytes of each of RSS_FIELDS from /proc/PID/status; empty when the process is gone (or not Linux)."""
    try:
        with open(f"/proc/{pid}/status") as handle:
            lines = [line.split() for line in handle if line.split(":")[0] in RSS_FIELDS]
    except OSError:
        return {}
    return {fields[0].rstrip(":"): int(fields[1]) * 1024 for fields in lines}


def children_of(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as handle:
            return [int(child) for child in handle.read().split()]
    except OSError:
        return []


def watch_tree(child: subprocess.Popen[str]) -> tuple[dict[str, dict[str, int]], int]:
    """Wait for ``child``, sampling its and its children's RSS; (each process's peak sample by role, the
    peak of the summed RssAnon)."""
    peaks: dict[str, dict[str, int]] = {}
    anon_sum = 0
    while child.poll() is None:
        workers = children_of(child.pid)
        tree = {"training process": rss_of(child.pid),
                **{f"worker {n} (pid {pid})": rss_of(pid) for n, pid in enumerate(workers)}}
        for role, fields in tree.items():
            if len(fields) == len(RSS_FIELDS) and fields["VmRSS"] > peaks.get(role, {}).get("VmRSS", -1):
                peaks[role] = fields
        anon_sum = max(anon_sum, sum(fields.get("RssAnon", 0) for fields in tree.values()))
        time.sleep(0.2)
    return peaks, anon_sum


if __name__ == "__main__":
    main()
