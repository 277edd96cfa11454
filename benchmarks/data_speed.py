"""The data feed's speed: stream vs resident training, and ``ganforge data prepare`` on 1 vs N workers.

Training: for each job, one Trainer fed resident and one fed by stream workers (``--data-mode stream``,
``--data-workers``) are built and warmed up, then timed in alternating rounds; the median steady-state
images/s of each and their ratio (stream / resident) are printed. Jobs: ``digits32`` (the default recipe:
DCGAN on digits5k, 32 px, batch 64) and ``made128`` (the ``feedbench`` conv GAN on made 128 px images,
benchmarks/made_data.py).

Prepare: made images are written as PNG files (``--prepare-images`` at ``--prepare-source`` px) and
prepared at ``--prepare-resolution`` with 1 worker and with ``--prepare-workers``, alternating; img/s
medians and the ratio.

    python benchmarks/data_speed.py                                  # both parts, small sizes
    python benchmarks/data_speed.py --jobs made128 --steps 20 --rounds 3 --no-prepare
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import tempfile
import time
from pathlib import Path

import torch
from PIL import Image

from ganforge.config_build import build_config
from ganforge.data import load_dataset
from ganforge.data.prepared import prepare
from ganforge.progress import silence
from ganforge.training.update import Trainer
from made_data import made_images, register_family, write_made_set

CPU = torch.device("cpu")


def job_config(job: str, made: Path) -> tuple[dict[str, object], str]:
    if job == "digits32":
        return {"device": "cpu"}, "digits5k"
    return {"device": "cpu", "model": "feedbench", "width": 16, "resolution": 128}, f"folder:{made}"


def steps_rate(trainer: Trainer, steps: int, batch: int) -> float:
    started = time.perf_counter()
    for _ in range(steps):
        trainer.train_step()
    return steps * batch / (time.perf_counter() - started)


def train_part(args: argparse.Namespace, tmp: Path) -> None:
    register_family()
    made = write_made_set(tmp / "made", args.made_images, 128)
    print(f"{'job':10} {'resident img/s':>15} {'stream img/s':>13} {'stream/resident':>16}")
    for job in args.jobs.split(","):
        values, data = job_config(job, made)
        config = build_config({**values, "data": data, "batch_size": args.batch_size, "threads": args.threads})
        dataset = load_dataset(data, resolution=config.resolution)
        trainers = {mode: Trainer(dataclasses.replace(config, data_mode=mode, data_workers=args.workers),
                                  dataset, CPU) for mode in ("resident", "stream")}
        for trainer in trainers.values():
            steps_rate(trainer, 3, args.batch_size)  # warm-up: workers started, allocator settled
        rates: dict[str, list[float]] = {mode: [] for mode in trainers}
        for _ in range(args.rounds):
            for mode, trainer in trainers.items():
                rates[mode].append(steps_rate(trainer, args.steps, args.batch_size))
        resident, stream = (statistics.median(rates[m]) for m in ("resident", "stream"))
        print(f"{job:10} {resident:15.1f} {stream:13.1f} {stream / resident:16.2f}")


def prepare_part(args: argparse.Namespace, tmp: Path) -> None:
    source = tmp / "pngs"
    source.mkdir()
    for start in range(0, args.prepare_images, 100):
        batch = made_images(start, min(100, args.prepare_images - start), args.prepare_source, seed=1)
        for offset, image in enumerate(batch):
            Image.fromarray(image.transpose(1, 2, 0)).save(source / f"{start + offset:06d}.png", compress_level=1)
    rates: dict[int, list[float]] = {1: [], args.prepare_workers: []}
    for round_ in range(args.rounds):
        for workers in rates:
            out = tmp / f"prepared-{workers}-{round_}"
            done = prepare(str(source), args.prepare_resolution, out=out, fmt="cache", crop="center",
                           workers=workers, cache_dir=tmp / "cache")
            rates[workers].append(len(done.decoded.names) / done.seconds)
    one, many = (statistics.median(rates[w]) for w in rates)
    print(f"prepare {args.prepare_images} PNGs {args.prepare_source} px -> {args.prepare_resolution} px")
    print(f"{'workers':>8} {'img/s':>8}\n{1:>8} {one:8.0f}\n{args.prepare_workers:>8} {many:8.0f}")
    print(f"speed-up {args.prepare_workers} workers / 1: {many / one:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", default="digits32,made128")
    parser.add_argument("--steps", type=int, default=10, help="steps per timed round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--workers", type=int, default=2, help="stream DataLoader workers")
    parser.add_argument("--threads", type=int, default=1, help="torch threads of the training process")
    parser.add_argument("--made-images", type=int, default=2000)
    parser.add_argument("--no-train", action="store_true")
    parser.add_argument("--no-prepare", action="store_true")
    parser.add_argument("--prepare-images", type=int, default=600)
    parser.add_argument("--prepare-source", type=int, default=256)
    parser.add_argument("--prepare-resolution", type=int, default=64)
    parser.add_argument("--prepare-workers", type=int, default=2)
    args = parser.parse_args()
    silence()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        if not args.no_train:
            train_part(args, Path(tmp))
        if not args.no_prepare:
            prepare_part(args, Path(tmp))


if __name__ == "__main__":
    main()
