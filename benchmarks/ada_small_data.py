"""Small data: digits5k cut to 500 images, trained with --augment ada vs none vs diffaug (same steps, seeds).

Each run trains the default recipe (DCGAN) on the same 500 digits (a seeded choice of digits5k) through
the Python API, then its final generator (the EMA copy) is scored against ALL 5,000 digits5k images, so
a generator that memorised its 500 images is penalised as in the ADA paper's small-data experiments.
Reported per augmentation: mean ± s.e. over seeds of each metric (FID by default). The ADA runs' p
curves go to one figure, and a grid of ADA-augmented digits (rows: the originals, then each group at
p = 1, then all groups at p = 0.5) shows what D sees.

    python benchmarks/ada_small_data.py --seeds 0 1 2 --steps 3000              # the full run (hours, CPU)
    python benchmarks/ada_small_data.py --smoke                                 # seconds: the script runs
    python benchmarks/ada_small_data.py --table results/a.json results/b.json  # one table of several runs
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from ganforge.api import train
from ganforge.data import TensorDataset, load_dataset
from ganforge.loader import load_generator
from ganforge.metrics import score_generator
from ganforge.training.ada import ada_augment
from ganforge.viz import image_grid, save_png

RESULTS = Path(__file__).resolve().parent / "results"
AUGMENTS = ("none", "ada", "diffaug")


def subset(images: int, seed: int = 0) -> TensorDataset:
    """``images`` digits5k images, a seeded choice (the same for every run)."""
    full = load_dataset("digits5k")
    pick = torch.randperm(len(full), generator=torch.Generator().manual_seed(seed))[:images]
    return TensorDataset(full.data[pick], full.labels[pick], num_classes=full.num_classes, name=f"digits{images}",
                         class_names=full.class_names)


def augmented_grid(data: TensorDataset, out: Path, seed: int = 0) -> None:
    """What D sees under ADA: originals, each group at p = 1, every group at p = 0.5."""
    x = data.data[:10].float() / 127.5 - 1
    rows = [x]
    for groups, p in ((("blit",), 1.0), (("geom",), 1.0), (("color",), 1.0), (("cutout",), 1.0),
                      (("blit", "geom", "color"), 0.5)):
        rows.append(ada_augment(x, p, torch.Generator().manual_seed(seed), groups))
    save_png(image_grid(torch.cat(rows).clamp(-1, 1), nrow=10), out)


def run_one(args: argparse.Namespace, data: TensorDataset, augment: str, seed: int, root: Path) -> dict[str, Any]:
    run_dir = root / f"{augment}-seed{seed}"
    started = time.perf_counter()
    train(data=data, labels=data.labels, progress=False, run_dir=str(run_dir), steps=args.steps, seed=seed,
          augment=augment, width=args.width, batch_size=args.batch_size, threads=args.threads, device=args.device,
          log="csv", log_every=args.log_every, sample_every=max(args.steps, 1), checkpoint_every=max(args.steps, 1))
    seconds = time.perf_counter() - started
    generator, _ = load_generator(run_dir)
    result = score_generator(generator, args.metrics, data="digits5k", num_samples=args.num_samples,
                             reference_samples=args.reference_samples, seed=seed, cache_dir=args.cache_dir,
                             progress=False)
    values = {key: float(value) for key, value in result.items() if isinstance(value, (int, float))}
    with open(run_dir / "history.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    curve = [(int(row["step"]), float(row["augment_p"])) for row in rows if row.get("augment_p")]
    return {"augment": augment, "seed": seed, "seconds": round(seconds, 1), "values": values, "p_curve": curve}


def mean_se(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.4g}"
    return f"{statistics.mean(values):.4g} ± {statistics.stdev(values) / len(values) ** 0.5:.2g}"


def ratios_to_none(records: list[dict[str, Any]], augment: str, key: str) -> list[float]:
    """Per seed: this augmentation's value over the same seed's value without augmentation."""
    none = {r["seed"]: r["values"][key] for r in records if r["augment"] == "none" and key in r["values"]}
    return [r["values"][key] / none[r["seed"]] for r in records
            if r["augment"] == augment and key in r["values"] and r["seed"] in none]


def table(records: list[dict[str, Any]], keys: list[str]) -> str:
    lines = ["| augment | runs | " + " | ".join(keys) + f" | {keys[0]} / none (per seed) |",
             "|---|---|" + "---|" * (len(keys) + 1)]
    for augment in dict.fromkeys(r["augment"] for r in records):
        mine = [r for r in records if r["augment"] == augment]
        cells = [mean_se([r["values"][key] for r in mine if key in r["values"]]) for key in keys]
        ratios = ratios_to_none(records, augment, keys[0])
        lines.append(f"| {augment} | {len(mine)} | " + " | ".join(cells) + f" | {mean_se(ratios) if ratios else '-'} |")
    return "\n".join(lines)


def plot_p_curves(records: list[dict[str, Any]], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axis = plt.subplots(figsize=(7, 3))
    for record in records:
        if record["p_curve"]:
            steps, ps = zip(*record["p_curve"], strict=True)
            axis.plot(steps, ps, lw=1.2, label=f"seed {record['seed']}")
    axis.set_xlabel("step")
    axis.set_ylabel("ADA p")
    axis.set_title("ADA's p on 500 digits (target r_t = 0.6)")
    axis.grid(alpha=0.3)
    axis.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=500)
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--augments", nargs="+", default=list(AUGMENTS), choices=AUGMENTS)
    parser.add_argument("--width", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--metrics", default="fid")
    parser.add_argument("--num-samples", type=int, default=1000)
    parser.add_argument("--reference-samples", type=int, default=None, help="real images (default: all 5,000)")
    parser.add_argument("--log-every", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--cache-dir", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=RESULTS / "ada_small_data.json")
    parser.add_argument("--figure", type=Path, default=RESULTS / "ada-small-data-p.png")
    parser.add_argument("--grid", type=Path, default=RESULTS / "ada-augmented-digits.png")
    parser.add_argument("--smoke", action="store_true", help="4 steps at width 4, FD_digits on 16 samples")
    parser.add_argument("--table", type=Path, nargs="+", help="print the table of these result files and plot "
                        "their p curves to --figure; trains nothing")
    args = parser.parse_args(argv)
    if args.table:
        records = [r for path in args.table for r in json.loads(path.read_text())["results"]]
        print(table(records, sorted({key for record in records for key in record["values"]})))
        plot_p_curves([r for r in records if r["augment"] == "ada"], args.figure)
        return 0
    if args.smoke:
        args.steps, args.width, args.batch_size, args.log_every = 4, 4, 8, 1
        args.metrics, args.num_samples, args.reference_samples = "fd_digits", 16, 32
    data = subset(args.images)
    augmented_grid(data, args.grid)
    records = []
    with tempfile.TemporaryDirectory() as root:
        for seed in args.seeds:
            for augment in args.augments:
                records.append(run_one(args, data, augment, seed, Path(root)))
                print(f"{augment} seed {seed}: {records[-1]['values']} ({records[-1]['seconds']} s)", flush=True)
    keys = sorted({key for record in records for key in record["values"]})
    print(table(records, keys))
    plot_p_curves([r for r in records if r["augment"] == "ada"], args.figure)
    args.out.write_text(json.dumps({"command": " ".join(["python", *sys.argv]), "images": args.images,
                                    "steps": args.steps, "threads": args.threads, "results": records}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
