"""R3GAN-style step time: R1 + R2 from the loss's own D forward ("shared") vs a D forward of their own
("separate", what ganforge did before, still the path for multi-process, compiled and fp16 runs).

One step is the rpgan loss + R1 + R2 (one D update, one G update). Both trainers are built from the same
config and differ only in ``Trainer.shared_penalty_forward``; their steps are timed in alternating rounds,
so load from other jobs on the machine hits both alike, and the median step time is reported. The D update
alone (D's loss + R1 + R2, its backward and optimizer step: the part the shared forward changes) is timed
the same way from the trainer's own pieces, on fakes drawn before the timer starts. The last column says
which path a training run of that precision takes on this device (bf16 shares the forward only where the
device computes bf16 natively).

    python benchmarks/penalty_forward.py --threads 1                       # dcgan width 32, batch 64, CPU
    python benchmarks/penalty_forward.py --device cuda --model sagan --batch-size 256 --rounds 10
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from ganforge.config_build import build_config
from ganforge.data import load_dataset
from ganforge.devices import resolve_device
from ganforge.training.update import Trainer

MODES = ("separate", "shared")


def step_seconds(trainer: Trainer, steps: int, device: torch.device) -> list[float]:
    times = []
    for _ in range(steps):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        scalars = trainer.train_step()
        float(scalars["loss_d"])  # waits for the step (a host sync on CUDA)
        times.append(time.perf_counter() - start)
    return times


def d_update_seconds(trainer: Trainer, steps: int, device: torch.device) -> list[float]:
    """D's update alone, as ``gan_update`` makes it (augment, scores + penalties, loss, backward, step)."""
    times = []
    amp = trainer.precision
    for _ in range(steps):
        real, labels = trainer.next_real()
        cond = labels if trainer.config.conditional else None
        with torch.no_grad(), amp.autocast():
            fake = trainer.g_net(trainer.noise(), cond)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        real_scores, fake_scores, terms = trainer.d_scores(trainer.d_input(real), trainer.d_input(fake), cond)
        loss_d = trainer.loss.d_loss(amp.scores(real_scores), amp.scores(fake_scores))
        trainer.opt_d.zero_grad(set_to_none=True)
        amp.backward_and_step(loss_d + sum(terms.values()), trainer.opt_d, amp.scaler_d)
        float(loss_d)
        times.append(time.perf_counter() - start)
        trainer.step += 1  # the penalties' intervals count steps
    return times


def measure(args: argparse.Namespace, precision: str) -> dict[str, float]:
    config = build_config({"model": args.model, "data": args.data, "batch_size": args.batch_size, "width": args.width,
                           "loss": "rpgan", "r1": 0.1, "r2": 0.1, "precision": precision, "device": args.device})
    device = resolve_device(config.device)
    dataset = load_dataset(config.data)
    trainers = {mode: Trainer(config, dataset, device) for mode in MODES}
    chosen = trainers["shared"].shared_penalty_forward  # what a run of this config uses
    trainers["separate"].shared_penalty_forward = False
    trainers["shared"].shared_penalty_forward = True  # measured even where a run would not use it
    times: dict[str, list[float]] = {mode: [] for mode in MODES}
    d_times: dict[str, list[float]] = {mode: [] for mode in MODES}
    for trainer in trainers.values():
        step_seconds(trainer, args.warmup, device)
    for _ in range(args.rounds):
        for mode, trainer in trainers.items():
            times[mode] += step_seconds(trainer, args.steps, device)
            d_times[mode] += d_update_seconds(trainer, args.steps, device)
    median = {mode: statistics.median(values) for mode, values in times.items()}
    d_median = {mode: statistics.median(values) for mode, values in d_times.items()}
    return {"precision": precision, "separate_img_s": args.batch_size / median["separate"],
            "shared_img_s": args.batch_size / median["shared"], "time_ratio": median["shared"] / median["separate"],
            "d_separate_img_s": args.batch_size / d_median["separate"],
            "d_shared_img_s": args.batch_size / d_median["shared"],
            "d_time_ratio": d_median["shared"] / d_median["separate"],
            "steps_each": len(times["shared"]), "run_uses": "shared" if chosen else "separate"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="dcgan")
    parser.add_argument("--data", default="digits5k")
    parser.add_argument("--width", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--precisions", default="fp32,bf16")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds of --steps steps per mode")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    parser.add_argument("--out", type=Path, help="also write the rows as JSON here")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = [measure(args, precision) for precision in args.precisions.split(",")]
    device = resolve_device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} thread(s)"
    print(f"{args.model} width {args.width}, batch {args.batch_size}, rpgan + R1 + R2, {name}")
    print("| precision | step: separate forwards (img/s) | step: shared forward (img/s) | step time shared / "
          "separate | D update: separate (img/s) | D update: shared (img/s) | D update time shared / separate | "
          "a run uses |")
    print("|---|---|---|---|---|---|---|---|")
    for row in rows:
        print(f"| {row['precision']} | {row['separate_img_s']:.1f} | {row['shared_img_s']:.1f} | "
              f"{row['time_ratio']:.2f} | {row['d_separate_img_s']:.1f} | {row['d_shared_img_s']:.1f} | "
              f"{row['d_time_ratio']:.2f} | {row['run_uses']} |")
    if args.out:
        args.out.write_text(json.dumps({"device": name, "args": vars(args) | {"out": str(args.out)}, "rows": rows},
                                       indent=2))


if __name__ == "__main__":
    main()
