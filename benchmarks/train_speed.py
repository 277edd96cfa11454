"""Training throughput: ganforge's Trainer vs a textbook PyTorch GAN loop, measured in one run.

The textbook loop is the one most notebooks copy (PyTorch's DCGAN example): a torch DataLoader over a
Dataset whose __getitem__ turns one image into a PIL image, pads it, converts it to a float tensor and
normalizes it; the same networks, loss and batch size; one G forward per step reused for the G update;
fp32; the losses read back (``.item()``) every step.

Three contestants per model and batch size:
- ``textbook``: the loop above.
- ``fp32``: ganforge's Trainer with its defaults (data resident on the device, batched sampling).
- ``fast``: ganforge with its fastest settings for the device (``--fast``; default bf16 + channels-last
  on CPU, bf16 + channels-last + torch.compile on CUDA).

Every contestant is built and warmed up once (compilation excluded), then the rounds alternate between
them; the median rate of each is reported with the ratios to the textbook loop. With ``--flops`` (on by
default on CUDA) the FLOPs of one step are counted with torch.utils.flop_counter.FlopCounterMode and the
achieved TFLOP/s printed against a measured matmul peak in the same dtype.

    python benchmarks/train_speed.py                          # dcgan + sagan, batch 64 + 256
    python benchmarks/train_speed.py --models dcgan --batch-size 64 --steps 20 --rounds 5
    python benchmarks/train_speed.py --fast bf16,channels-last --flops
    python benchmarks/train_speed.py --threads 1        # shared CPU host: avoids OpenMP barrier stalls
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps

from ganforge.config import TrainConfig
from ganforge.config_build import build_config
from ganforge.data import TensorDataset, load_dataset
from ganforge.devices import resolve_device
from ganforge.models import build_gan
from ganforge.training.model_spec import model_spec
from ganforge.training.update import Trainer

WARMUP_STEPS = 3


class TextbookDigits(torch.utils.data.Dataset):
    """Per-sample transforms, as torchvision's MNIST + Compose([Pad, ToTensor, Normalize]) would do."""

    def __init__(self, images28: np.ndarray, labels: np.ndarray) -> None:
        self.images, self.labels = images28, labels

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int):
        image = Image.fromarray(self.images[index], mode="L")
        image = ImageOps.expand(image, border=2)  # Pad(2): 28 -> 32
        tensor = torch.from_numpy(np.asarray(image, dtype=np.float32) / 255.0).unsqueeze(0)  # ToTensor
        return (tensor - 0.5) / 0.5, int(self.labels[index])  # Normalize((0.5,), (0.5,))


def textbook_losses(loss: str) -> tuple[Callable, Callable]:
    """The D and G losses as a notebook writes them inline."""
    if loss == "hinge":
        return (lambda real, fake: F.relu(1 - real).mean() + F.relu(1 + fake).mean(),
                lambda fake: -fake.mean())

    def d_loss(real, fake):
        return (F.binary_cross_entropy_with_logits(real, torch.ones_like(real))
                + F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake)))

    return d_loss, lambda fake: F.binary_cross_entropy_with_logits(fake, torch.ones_like(fake))


class Textbook:
    def __init__(self, config: TrainConfig, dataset: TensorDataset, device: torch.device, workers: int) -> None:
        torch.manual_seed(config.seed)
        self.G, self.D = (m.to(device) for m in build_gan(model_spec(config, dataset)))
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=config.lr_g, betas=config.betas)
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=config.lr_d, betas=config.betas)
        self.d_loss, self.g_loss = textbook_losses(config.loss)
        self.config, self.device = config, device
        images28 = dataset.data[:, 0, 2:30, 2:30].numpy()
        self.loader = torch.utils.data.DataLoader(
            TextbookDigits(images28, dataset.labels.numpy()), batch_size=config.batch_size, shuffle=True,
            drop_last=True, num_workers=workers, pin_memory=device.type == "cuda")
        self.batches = iter(self.loader)

    def next_batch(self) -> torch.Tensor:
        try:
            real, _ = next(self.batches)
        except StopIteration:
            self.batches = iter(self.loader)
            real, _ = next(self.batches)
        return real.to(self.device)

    def step(self) -> None:
        real = self.next_batch()
        self.opt_d.zero_grad()
        fake = self.G(torch.randn(real.size(0), self.config.z_dim, device=self.device))
        loss_d = self.d_loss(self.D(real), self.D(fake.detach()))
        loss_d.backward()
        self.opt_d.step()
        self.opt_g.zero_grad()
        loss_g = self.g_loss(self.D(fake))
        loss_g.backward()
        self.opt_g.step()
        loss_d.item(), loss_g.item()  # the textbook prints losses every step

    def finish(self) -> None:
        pass


class Ganforge:
    def __init__(self, config: TrainConfig, dataset: TensorDataset, device: torch.device) -> None:
        self.trainer = Trainer(config, dataset, device)
        self.scalars: dict[str, torch.Tensor] = {}

    def step(self) -> None:
        self.scalars = self.trainer.train_step()

    def finish(self) -> None:
        float(self.scalars["loss_d"])  # one sync at the end, as the loop's log window does


def rate(contestant, steps: int, batch: int, device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize()
    started = time.perf_counter()
    for _ in range(steps):
        contestant.step()
    contestant.finish()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return steps * batch / (time.perf_counter() - started)


def step_flops(config: TrainConfig, dataset: TensorDataset, device: torch.device) -> int:
    """FLOPs of one train step, counted eagerly (compiled graphs bypass the counting dispatch mode)."""
    import dataclasses

    from torch.utils.flop_counter import FlopCounterMode

    trainer = Trainer(dataclasses.replace(config, compile=False), dataset, device)
    trainer.train_step()
    with FlopCounterMode(display=False) as counter:
        trainer.train_step()
    return counter.get_total_flops()


def matmul_peak(device: torch.device, dtype: torch.dtype, size: int = 4096, reps: int = 10) -> float:
    """Best achieved FLOP/s of a square matmul: the practical peak the step is compared with."""
    if device.type == "cpu":
        size, reps = 1024, 5
    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)
    best = float("inf")
    for _ in range(reps):
        if device.type == "cuda":
            torch.cuda.synchronize()
        started = time.perf_counter()
        a @ b
        if device.type == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - started)
    return 2 * size**3 / best


def fast_settings(spec: str, device: torch.device) -> dict:
    if spec == "auto":
        # CPU: compile measured no faster than bf16 + channels-last on 2 cores (and costs minutes of compiling)
        spec = "bf16,channels-last,compile" if device.type == "cuda" else "bf16,channels-last"
    settings: dict = {"precision": "fp32"}
    for item in filter(None, spec.split(",")):
        if item in ("bf16", "fp16"):
            settings["precision"] = item
        elif item == "channels-last":
            settings["channels_last"] = True
        elif item == "compile":
            settings["compile"] = True
        else:
            raise SystemExit(f"unknown --fast item {item!r}: use bf16, fp16, channels-last, compile")
    return settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["dcgan", "sagan"])
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-size", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--workers", type=int, default=0, help="textbook DataLoader workers")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--fast", default="auto", help="comma list: bf16|fp16, channels-last, compile")
    parser.add_argument("--flops", action=argparse.BooleanOptionalAction, default=None,
                        help="count FLOPs and print TFLOP/s vs a matmul peak (default: on CUDA only)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads (default: torch's); 1 is steadier on an oversubscribed host")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    fast = fast_settings(args.fast, device)
    flops = device.type == "cuda" if args.flops is None else args.flops
    dataset = load_dataset("digits5k")
    fast_name = ",".join(k if v is True else str(v) for k, v in fast.items())
    print(f"torch {torch.__version__}, {device}, {torch.get_num_threads()} threads, digits5k 32x32, width 64; "
          f"fast = {fast_name}; {args.steps} steps x {args.rounds} rounds, median")
    print(f"{'model':>6} {'batch':>5}  {'textbook':>9}  {'fp32':>9}  {'fast':>9}  "
          f"{'fp32/textbook':>13}  {'fast/textbook':>13}")
    for model in args.models:
        for batch in args.batch_size:
            base = {"preset": "sagan"} if model == "sagan" else {"model": model}
            config = build_config(base, {"batch_size": batch, "device": str(device)})
            fast_config = build_config(base, {"batch_size": batch, "device": str(device)}, fast)
            contestants = {"textbook": Textbook(config, dataset, device, args.workers),
                           "fp32": Ganforge(config, dataset, device),
                           "fast": Ganforge(fast_config, dataset, device)}
            for contestant in contestants.values():
                rate(contestant, WARMUP_STEPS, batch, device)
            rates: dict[str, list[float]] = {name: [] for name in contestants}
            for _ in range(args.rounds):
                for name, contestant in contestants.items():
                    rates[name].append(rate(contestant, args.steps, batch, device))
            t, g, f = (statistics.median(rates[name]) for name in ("textbook", "fp32", "fast"))
            print(f"{model:>6} {batch:>5}  {t:>9.1f}  {g:>9.1f}  {f:>9.1f}  {g / t:>12.2f}x  {f / t:>12.2f}x",
                  flush=True)
            if flops:
                for name, cfg, img_s in (("fp32", config, g), ("fast", fast_config, f)):
                    per_image = step_flops(cfg, dataset, device) / batch
                    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(cfg.precision, torch.float32)
                    peak = matmul_peak(device, dtype)
                    achieved = per_image * img_s
                    print(f"{'':>13}{name}: {per_image / 1e9:.2f} GFLOP/image, {achieved / 1e12:.3f} TFLOP/s "
                          f"= {100 * achieved / peak:.1f}% of the {dtype} matmul peak "
                          f"({peak / 1e12:.2f} TFLOP/s measured)", flush=True)


if __name__ == "__main__":
    main()
