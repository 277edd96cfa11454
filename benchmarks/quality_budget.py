"""Equal wall time on digits5k: a textbook DCGAN loop vs ganforge's default vs the classic presets.

Contestants, each trained for the same wall-time budget (``--budget-seconds``, default 300 s: the "~5 minutes
on 2 CPU cores" of issue 18) or the same number of steps (``--steps``):
- ``textbook``: the loop a notebook copies from PyTorch's DCGAN example, written out below: a DataLoader
  over a Dataset with per-sample transforms (PIL pad 28 -> 32, ToTensor, Normalize; ``--workers``, the
  example's default 2), the example's networks at 32x32 (ngf = ndf = 64, nz = 100, one fewer up/down
  layer than at 64x64), its N(0, 0.02) init, Sigmoid + BCELoss, Adam 2e-4 betas (0.5, 0.999), batch 64,
  fp32, one G forward reused for G's step, the losses read with ``.item()`` every step.
- ``default``: ``ganforge train`` with no flags but the schedule (whatever the default recipe is).
- ``preset:NAME``: every classic preset that builds on digits5k (``--preset NAME``, its own batch size).
A budget becomes a step count: a probe of a few warm steps measures each contestant's seconds per step
(probe excluded), then the run trains exactly budget / that many steps (so learning-rate schedules that
end at ``--steps`` end on time); the measured wall time is reported. ganforge runs go through
``ganforge.training.train`` (run folder, logging, checkpoints included in their time).

Every final generator is sampled in eval mode (BatchNorm running statistics; the EMA copy where a run
keeps one, with its standing statistics) on the same seeded latents: 1,000 samples, FID, KID,
precision and recall (Inception pool3 features) against the statistics of ALL 5,000 digits5k images
(cached after the first run), the real-data floor (1,000 real digits, same protocol) beside them. Per
contestant: mean ± s.e. over seeds and the ratio of its mean FID to the textbook loop's. ``--ema DECAY``
gives ganforge contestants without an EMA one (it does not change their training) and scores both the
EMA copy and the raw G. The first seed's final grids go to ``benchmarks/results/quality-*.png``.

    python benchmarks/quality_budget.py --seeds 0 1 2                      # everything, 300 s each (hours)
    python benchmarks/quality_budget.py --contestants textbook default --seeds 0 1 2 --ema 0.999
    python benchmarks/quality_budget.py --steps 1500 --contestants textbook default preset:dcgan
    python benchmarks/quality_budget.py --smoke                            # seconds: the script still runs
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ganforge.config_build import build_config
from ganforge.data import load_dataset
from ganforge.errors import GanforgeError
from ganforge.loader import load_generator
from ganforge.metrics import score_generator, score_images
from ganforge.models import build_gan
from ganforge.presets import PRESETS
from ganforge.training import train
from ganforge.training.model_spec import model_spec
from ganforge.training.update import Trainer
from ganforge.viz import render_samples, save_png
from toy2d import mean_se
from train_speed import TextbookDigits

RESULTS = Path(__file__).resolve().parent / "results"
PROBE_STEPS, WARMUP_STEPS = 10, 3
SHARED = {"data": "digits5k", "device": "cpu", "log_every": 50}


class TextbookG(nn.Module):
    """PyTorch's DCGAN example generator at 32x32: z (N, nz, 1, 1) -> 4 -> 8 -> 16 -> 32."""

    def __init__(self, nz: int = 100, ngf: int = 64, nc: int = 1) -> None:
        super().__init__()
        self.main = nn.Sequential(
            nn.ConvTranspose2d(nz, ngf * 4, 4, 1, 0, bias=False), nn.BatchNorm2d(ngf * 4), nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf * 2), nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf), nn.ReLU(True),
            nn.ConvTranspose2d(ngf, nc, 4, 2, 1, bias=False), nn.Tanh())

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.main(z)


class TextbookD(nn.Module):
    """PyTorch's DCGAN example discriminator at 32x32, Sigmoid output."""

    def __init__(self, ndf: int = 64, nc: int = 1) -> None:
        super().__init__()
        self.main = nn.Sequential(
            nn.Conv2d(nc, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 2), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf * 2, ndf * 4, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 4),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf * 4, 1, 4, 1, 0, bias=False), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.main(x)


def weights_init(m: nn.Module) -> None:
    """The example's init: conv weights N(0, 0.02), BatchNorm gains N(1, 0.02) and zero biases."""
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(m.weight, 0.0, 0.02)
    elif isinstance(m, nn.BatchNorm2d):
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


class TextbookSampler(nn.Module):
    """The textbook G behind ganforge's generator interface (``forward(z, labels)``, ``z_dim``)."""

    def __init__(self, G: TextbookG, z_dim: int) -> None:
        super().__init__()
        self.G, self.z_dim, self.num_classes = G, z_dim, 0

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.G(z.view(*z.shape, 1, 1))


class TextbookLoop:
    """The example's training loop, one ``step()`` per batch."""

    def __init__(self, seed: int, width: int, batch_size: int, workers: int, nz: int = 100) -> None:
        torch.manual_seed(seed)
        self.nz = nz
        self.G, self.D = TextbookG(nz, width), TextbookD(width)
        self.G.apply(weights_init)
        self.D.apply(weights_init)
        self.criterion = nn.BCELoss()
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=2e-4, betas=(0.5, 0.999))
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=2e-4, betas=(0.5, 0.999))
        digits = load_dataset("digits5k")
        self.loader = torch.utils.data.DataLoader(
            TextbookDigits(digits.data[:, 0, 2:30, 2:30].numpy(), digits.labels.numpy()), batch_size=batch_size,
            shuffle=True, drop_last=True, num_workers=workers)
        self.batches = iter(self.loader)

    def next_batch(self) -> torch.Tensor:
        try:
            return next(self.batches)[0]
        except StopIteration:
            self.batches = iter(self.loader)
            return next(self.batches)[0]

    def step(self) -> None:
        real = self.next_batch()
        self.D.zero_grad()
        output = self.D(real).view(-1)
        err_real = self.criterion(output, torch.ones_like(output))
        err_real.backward()
        fake = self.G(torch.randn(real.size(0), self.nz, 1, 1))
        output = self.D(fake.detach()).view(-1)
        err_fake = self.criterion(output, torch.zeros_like(output))
        err_fake.backward()
        self.opt_d.step()
        self.G.zero_grad()
        output = self.D(fake).view(-1)
        err_g = self.criterion(output, torch.ones_like(output))
        err_g.backward()
        self.opt_g.step()
        (err_real + err_fake).item(), err_g.item()  # the example prints both every step


def seconds_per_step(step: Callable[[], Any]) -> float:
    for _ in range(WARMUP_STEPS):
        step()
    started = time.perf_counter()
    for _ in range(PROBE_STEPS):
        step()
    return (time.perf_counter() - started) / PROBE_STEPS


def steps_for(args: argparse.Namespace, step: Callable[[], Any]) -> int:
    return args.steps or max(1, int(args.budget_seconds / seconds_per_step(step)))


def image_presets() -> list[str]:
    """The presets that build on digits5k (pacgan2d's networks take 2-D points), in registry order."""
    dataset = load_dataset("digits5k")
    names = []
    for name in PRESETS:
        try:
            build_gan(model_spec(build_config({"preset": name, "data": "digits5k", "width": 4}), dataset))
        except GanforgeError:
            continue
        names.append(f"preset:{name}")
    return names


def ganforge_layer(contestant: str) -> dict[str, Any]:
    return {} if contestant == "default" else {"preset": contestant.partition(":")[2]}


def run_textbook(args: argparse.Namespace, seed: int) -> tuple[dict[str, nn.Module], dict[str, Any]]:
    steps = args.steps or steps_for(args, TextbookLoop(seed, args.width or 64, args.batch_size or 64, args.workers).step)
    loop = TextbookLoop(seed, args.width or 64, args.batch_size or 64, args.workers)
    started = time.perf_counter()
    for _ in range(steps):
        loop.step()
    return {"textbook": TextbookSampler(loop.G, loop.nz)}, {"steps": steps, "seconds": time.perf_counter() - started}


def run_ganforge(args: argparse.Namespace, contestant: str, seed: int,
                 root: Path) -> tuple[dict[str, nn.Module], dict[str, Any]]:
    sizes = {key: value for key, value in (("width", args.width), ("batch_size", args.batch_size)) if value}
    layers = [SHARED, ganforge_layer(contestant), sizes, {"seed": seed}]
    config = build_config(*layers)
    if args.ema and not (config.ema or config.ema_kimg):
        layers.append({"ema": args.ema})  # an EMA only shadows G: the run trains exactly as without it
        config = build_config(*layers)
    steps = args.steps or steps_for(args, Trainer(config, load_dataset("digits5k"), torch.device("cpu")).train_step)
    run_dir = root / f"{contestant.replace(':', '-')}-{seed}"
    config = build_config(*layers, {"steps": steps, "run_dir": str(run_dir), "sample_every": steps,
                                    "checkpoint_every": steps,
                                    "cache_dir": str(args.cache_dir) if args.cache_dir else None})
    started = time.perf_counter()
    train(config, progress=False)
    seconds = time.perf_counter() - started
    saved, _ = load_generator(run_dir)  # the EMA copy when the run keeps one
    if not (config.ema or config.ema_kimg):
        return {contestant: saved}, {"steps": steps, "seconds": seconds}
    raw, _ = load_generator(run_dir)
    raw.load_state_dict(torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)["generator"])
    return {f"{contestant} + EMA": saved, f"{contestant} (raw G)": raw}, {"steps": steps, "seconds": seconds}


def slug(name: str) -> str:
    """'preset:dcgan + EMA' -> 'preset-dcgan-EMA': a file name."""
    return "-".join(name.replace(":", " ").replace("+", " ").replace("(", " ").replace(")", " ").split())


@torch.no_grad()
def save_grid(generator: nn.Module, path: Path, seed: int) -> None:
    z = torch.randn(64, generator.z_dim, generator=torch.Generator().manual_seed(seed))
    generator.eval()
    save_png(render_samples(generator(z).cpu(), nrow=8), path)


def score(generator: nn.Module, args: argparse.Namespace, seed: int) -> dict[str, float]:
    result = score_generator(generator, args.metrics, data="digits5k", num_samples=args.num_samples,
                             reference_samples=args.reference_samples, seed=seed, cache_dir=args.cache_dir)
    return {k: float(v) for k, v in result.items() if k != "protocol" and v is not None}


def real_floor(args: argparse.Namespace) -> dict[str, float]:
    """The same protocol on real digits: the best a generator can score at this sample count."""
    real = load_dataset("digits5k").data
    pick = torch.randperm(len(real), generator=torch.Generator().manual_seed(1))[:args.num_samples]
    result = score_images(real[pick], args.metrics, "digits5k", reference_samples=args.reference_samples,
                             cache_dir=args.cache_dir)
    return {k: float(v) for k, v in result.items() if k != "protocol" and v is not None}


def table(records: list[dict[str, Any]], floor: dict[str, float] | None, keys: list[str], num: int) -> str:
    names = list(dict.fromkeys(r["name"] for r in records))
    means = {name: mean_se([r["values"].get(keys[0], float("nan")) for r in records if r["name"] == name])[0]
             for name in names}
    baseline = means.get("textbook")
    lines = [f"| contestant | steps | s/run | {' | '.join(keys)} | {keys[0]} / textbook | seeds |",
             "|---|---|---|" + "---|" * len(keys) + "---|---|"]
    for name in names:
        rows = [r for r in records if r["name"] == name]
        cells = []
        for key in keys:
            m, se = mean_se([r["values"].get(key, float("nan")) for r in rows])
            cells.append(f"{m:.4g} ± {se:.2g}")
        ratio = f"{means[name] / baseline:.2f}" if baseline else "-"
        steps = "/".join(str(s) for s in sorted({r["steps"] for r in rows}))
        lines.append(f"| {name} | {steps} | {mean_se([r['seconds'] for r in rows])[0]:.0f} | "
                     + " | ".join(cells) + f" | {ratio} | {len(rows)} |")
    if floor:
        lines.append(f"| real digits5k ({num} images) | - | - | "
                     + " | ".join(f"{floor.get(key, float('nan')):.4g}" for key in keys) + " | - | - |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contestants", nargs="+", default=None,
                        help="textbook, default, preset:NAME (default: all three kinds, every image preset)")
    parser.add_argument("--budget-seconds", type=float, default=300.0, help="training wall time per run")
    parser.add_argument("--steps", type=int, default=None, help="train this many steps instead of a budget")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--metrics", default="fid,kid,pr")
    parser.add_argument("--num-samples", type=int, default=1000)
    parser.add_argument("--reference-samples", type=int, default=None, help="real images (default: all 5,000)")
    parser.add_argument("--ema", type=float, default=0.0,
                        help="give ganforge runs without EMA this per-step decay; score EMA and raw G")
    parser.add_argument("--width", type=int, default=None, help="override every contestant's width")
    parser.add_argument("--batch-size", type=int, default=None, help="override every contestant's batch")
    parser.add_argument("--workers", type=int, default=2, help="textbook DataLoader workers (the example's 2)")
    parser.add_argument("--no-floor", action="store_true", help="skip scoring real digits")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--cache-dir", type=Path, default=None)
    parser.add_argument("--grids", type=Path, default=RESULTS, help="folder for the first seed's final grids")
    parser.add_argument("--out", type=Path, default=RESULTS / "quality_budget.json")
    parser.add_argument("--smoke", action="store_true", help="2 steps at width 4, FD_digits on 16 samples")
    args = parser.parse_args(argv)
    if args.smoke:
        args.steps, args.width, args.batch_size, args.workers, args.seeds = 2, 4, 8, 0, [0]
        args.metrics, args.num_samples, args.reference_samples = "fd_digits", 16, 32
        args.contestants = args.contestants or ["textbook", "default", "preset:dcgan"]
    if args.threads:
        torch.set_num_threads(args.threads)
    contestants = args.contestants or ["textbook", "default", *image_presets()]
    records: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="ganforge-quality-") as tmp:
        for seed in args.seeds:
            for contestant in contestants:
                generators, info = (run_textbook(args, seed) if contestant == "textbook"
                                    else run_ganforge(args, contestant, seed, Path(tmp)))
                for name, generator in generators.items():
                    values = score(generator, args, seed)
                    records.append({"name": name, "seed": seed, "steps": info["steps"],
                                    "seconds": round(info["seconds"], 1), "values": values})
                    print(f"seed {seed} {name}: {info['steps']} steps in {info['seconds']:.0f}s; "
                          + ", ".join(f"{k} {v:.4g}" for k, v in values.items()), flush=True)
                    if seed == args.seeds[0]:
                        args.grids.mkdir(parents=True, exist_ok=True)
                        save_grid(generator, args.grids / f"quality-{slug(name)}.png", seed)
    floor = None if args.no_floor else real_floor(args)
    keys = [key for key in ("fid", "kid", "precision", "recall", "fd_digits") if key in records[0]["values"]]
    print()
    print(table(records, floor, keys, args.num_samples))
    command = "python benchmarks/quality_budget.py " + " ".join(sys.argv[1:] if argv is None else argv)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"command": command.strip(), "torch": torch.__version__,
                                    "threads": torch.get_num_threads(), "floor": floor, "results": records},
                                   indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
