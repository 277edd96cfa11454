"""Where a training step's time goes, and how much of it is data loading (torch.profiler).

Every ``Trainer.train_step`` is wrapped in a ``train_step`` profiler range and every batch fetch
(``Trainer.next_real``: index draw, gather from the in-memory uint8 set, [-1, 1] conversion, and the
pinned host->device copy when the data lives on the host) in a ``data`` range. The share printed is
data time / step time: host (CPU) time always, device time too on CUDA. The ranges are added here by
wrapping the methods, so the training code carries no profiling hooks. With ``--augment diffaug`` the
DiffAugment calls (inside the step, on every real and fake batch) get an ``augment`` range too.

    python benchmarks/profile_step.py                          # dcgan, digits5k, batch 64, CPU/auto
    python benchmarks/profile_step.py --model sagan --batch-size 256 --steps 10
    python benchmarks/profile_step.py --device cuda --data-on-host --precision bf16
    python benchmarks/profile_step.py --device cuda --sync-debug      # no host-device sync in a step
"""

from __future__ import annotations

import argparse
import functools

import torch
from torch.profiler import ProfilerActivity, profile, record_function

from ganforge.config_build import build_config
from ganforge.data import load_dataset
from ganforge.devices import resolve_device
from ganforge.training import update
from ganforge.training.update import Trainer


def traced(method, label: str):
    @functools.wraps(method)
    def wrapper(*args, **kwargs):
        with record_function(label):
            return method(*args, **kwargs)

    return wrapper


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="dcgan")
    parser.add_argument("--data", default="digits5k")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--precision", default="fp32", choices=("fp32", "bf16", "fp16"))
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument("--data-on-host", action="store_true", help="keep the dataset in pinned host memory")
    parser.add_argument("--augment", default="none")
    parser.add_argument("--top", type=int, default=12, help="operators listed")
    parser.add_argument("--sync-debug", action="store_true",
                        help="CUDA: first run --steps steps with torch.cuda.set_sync_debug_mode('error'), so any "
                             "host-device sync inside train_step raises")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    config = build_config({"model": args.model, "data": args.data, "batch_size": args.batch_size,
                           "device": args.device, "precision": args.precision,
                           "channels_last": args.channels_last, "data_on_host": args.data_on_host,
                           "augment": args.augment})
    device = resolve_device(config.device)
    dataset = load_dataset(config.data)
    trainer = Trainer(config, dataset, device)
    trainer.next_real = traced(trainer.next_real, "data")
    update.diff_augment = traced(update.diff_augment, "augment")  # DiffAugment, batched on the device
    step = traced(trainer.train_step, "train_step")
    for _ in range(args.warmup):
        step()
    cuda = device.type == "cuda"
    if args.sync_debug and cuda:
        torch.cuda.set_sync_debug_mode("error")
        try:
            for _ in range(args.steps):
                trainer.train_step()
        finally:
            torch.cuda.set_sync_debug_mode(0)
        print(f"sync debug: {args.steps} steps without a host-device sync")
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    with profile(activities=activities) as prof:
        for _ in range(args.steps):
            step()
        if cuda:
            torch.cuda.synchronize()
    events = {e.key: e for e in prof.key_averages()}
    sort = "cuda_time_total" if cuda else "cpu_time_total"
    print(prof.key_averages().table(sort_by=sort, row_limit=args.top))
    data, total = events["data"], events["train_step"]
    share = data.cpu_time_total / total.cpu_time_total
    print(f"{args.model} batch {args.batch_size} {args.precision} on {device} "
          f"({'host' if trainer.data_on_host else 'device'}-resident data), {args.steps} steps, "
          f"{torch.get_num_threads()} threads")
    print(f"host time: step {total.cpu_time_total / args.steps / 1e3:.1f} ms, data "
          f"{data.cpu_time_total / args.steps / 1e3:.2f} ms -> data loading share {100 * share:.2f}%")
    if "augment" in events:
        augment = events["augment"]
        print(f"host time: augment {augment.cpu_time_total / args.steps / 1e3:.2f} ms per step "
              f"({augment.count // args.steps} calls) -> {100 * augment.cpu_time_total / total.cpu_time_total:.2f}%")
    if cuda:
        # every kernel's own time once (self time: no double counting through parent ops)
        device_total = sum(e.self_device_time_total for e in prof.key_averages())
        device_data = data.device_time_total
        print(f"device time: step {device_total / args.steps / 1e3:.1f} ms, data "
              f"{device_data / args.steps / 1e3:.3f} ms -> data loading share "
              f"{100 * device_data / max(device_total, 1e-9):.2f}%")


if __name__ == "__main__":
    main()
