"""Data-parallel scaling: images/s of 1 vs N processes (torch.distributed, Gloo on CPU / NCCL on GPUs).

Each configuration trains the same global batch: one process alone, or N processes (each a 1/N slice,
gradients averaged by DDP), started the way torchrun starts them (RANK/WORLD_SIZE/... in the
environment, a rendezvous on 127.0.0.1 with a free port). Threads per process are set so that the CPU
comparisons use the same cores: 1 process x T threads vs N processes x T/N threads. Rounds alternate
between configurations and the median is reported.

    python benchmarks/ddp_scaling.py                           # dcgan, global batch 64 and 128, 1 vs 2
    python benchmarks/ddp_scaling.py --model sagan --batch-size 256 --steps 8 --rounds 3
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import tempfile
import time
from pathlib import Path

import torch
import torch.multiprocessing as mp


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def worker(rank: int, world: int, port: int, threads: int, settings: dict, out: str) -> None:
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank), LOCAL_WORLD_SIZE=str(world),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(threads)
    from ganforge.config_build import build_config
    from ganforge.data import load_dataset
    from ganforge.devices import resolve_device
    from ganforge.training.distributed import barrier, info_from_env, process_group
    from ganforge.training.update import Trainer

    info = info_from_env()
    config = build_config({"model": settings["model"], "batch_size": settings["batch_size"],
                           "device": settings["device"]})
    device = resolve_device(config.device, info)
    dataset = load_dataset(config.data)
    with process_group(info, device):
        trainer = Trainer(config, dataset, device, dist=info)
        for _ in range(2):
            trainer.train_step()
        barrier(info)
        started = time.perf_counter()
        for _ in range(settings["steps"]):
            scalars = trainer.train_step()
        float(scalars["loss_d"])  # wait for the device
        barrier(info)
        seconds = time.perf_counter() - started
    if info.is_main:
        Path(out).write_text(json.dumps({"images_per_s": settings["steps"] * config.batch_size / seconds}))


def measure(world: int, threads: int, settings: dict) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        out = str(Path(tmp) / "result.json")
        mp.start_processes(worker, args=(world, free_port(), threads, settings, out), nprocs=world,
                           start_method="spawn")
        return json.loads(Path(out).read_text())["images_per_s"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="dcgan")
    parser.add_argument("--batch-size", type=int, nargs="+", default=[64, 128], help="global batch sizes")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 2, help="CPU threads in total")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    n = args.processes
    configs = [(1, 1), (1, args.threads), (n, max(1, args.threads // n))]  # (processes, threads each)
    print(f"torch {torch.__version__}, {os.cpu_count()} CPUs, {args.model} on digits5k, device {args.device}, "
          f"{args.steps} timed steps x {args.rounds} rounds (median)")
    print(f"{'global batch':>12}  {'processes x threads':>19}  {'img/s':>7}  {'vs 1 process':>12}")
    for batch in args.batch_size:
        settings = {"model": args.model, "batch_size": batch, "steps": args.steps, "device": args.device}
        rates: dict[tuple[int, int], list[float]] = {c: [] for c in configs}
        for _ in range(args.rounds):
            for world, threads in configs:
                rates[(world, threads)].append(measure(world, threads, settings))
        base = statistics.median(rates[(1, args.threads)])
        for world, threads in configs:
            rate = statistics.median(rates[(world, threads)])
            print(f"{batch:>12}  {f'{world} x {threads}':>19}  {rate:>7.1f}  {rate / base:>11.2f}x")


if __name__ == "__main__":
    main()
