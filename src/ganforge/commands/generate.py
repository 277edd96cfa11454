"""``ganforge generate``: samples from a trained generator as a grid, a folder of PNGs, points, or a GIF.

Sample N of seed S always comes from the same latent (see :mod:`ganforge.sampling`), so the same
command writes identical bytes every time, and ``--batch-size`` only changes speed and memory (plus,
at most, float rounding inside the network).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import numpy as np
from tqdm.auto import tqdm

from ganforge.checkpoints import CheckpointChoice, warn_if_live
from ganforge.commands import Subparsers
from ganforge.commands.options import add_checkpoint_flags, add_threads_flag
from ganforge.devices import resolve_device
from ganforge.errors import GanforgeError
from ganforge.fileio import atomic_path
from ganforge.loader import load_generator
from ganforge.sampling import check_seed, check_truncation, labels_for, parse_classes
from ganforge.viz import encode_gif
from ganforge.viz.grid import image_grid, save_png
from ganforge.web.render import generate_batches, interpolation_pictures, sample_picture

if TYPE_CHECKING:
    from tqdm.auto import tqdm

    from ganforge.loader import LoadedGenerator

DEFAULT_IMAGES = 64
DEFAULT_POINTS = 1024
MAX_GRID_IMAGES = 10_000  # a grid that large is already ~6600 px square; use a folder beyond it
MAX_FRAMES = 1000
POINT_FORMATS = (".png", ".csv", ".npy")
NOT_A_FOLDER = (".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".csv", ".npy", ".tif", ".tiff")


def register(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "generate", help="sample a trained generator: PNG grid, folder of PNGs, points, or a GIF",
        description="Sample the generator of a finished run (the EMA copy when the run kept one). "
                    "OUT ending in .png: one grid (a scatter plot for 2-D point models); .csv/.npy: "
                    "the points of a 2-D model; .gif with --interpolate: an animation; anything else: a "
                    "folder of single PNGs.",
    )
    parser.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="run folder (or its generator.json)")
    add_checkpoint_flags(parser)
    parser.add_argument("--out", type=Path, required=True, metavar="PATH", help="output file or folder")
    parser.add_argument("--num", type=int, default=None, metavar="N",
                        help=f"samples (default {DEFAULT_IMAGES} images or {DEFAULT_POINTS} points; with "
                             "--interpolate: samples per frame, default 1 image)")
    parser.add_argument("--seed", type=int, default=0, metavar="S", help="random seed, 0..2^31-1 (default 0)")
    parser.add_argument("--class", dest="classes", default=None, metavar="K",
                        help="conditional models: class index or name, or a comma list cycled over the samples")
    parser.add_argument("--truncation", type=float, default=None, metavar="T",
                        help="truncation trick: resample latent coordinates with |z| > T (e.g. 0.7)")
    parser.add_argument("--interpolate", type=int, nargs=2, default=None, metavar=("A", "B"),
                        help="write a GIF walking the latent space from seed A to seed B (slerp)")
    parser.add_argument("--frames", type=int, default=30, metavar="F", help="frames of --interpolate (default 30)")
    parser.add_argument("--frame-ms", type=int, default=80, help="milliseconds per GIF frame (default 80)")
    parser.add_argument("--nrow", type=int, default=None, help="images per grid row (default: one column per "
                        "class for conditional models, else a square grid)")
    parser.add_argument("--batch-size", type=int, default=64, help="samples per forward pass (default 64)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto (default cpu)")
    parser.add_argument("--overwrite", action="store_true", help="replace existing output files")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    add_threads_flag(parser)
    parser.set_defaults(run=run)


# -- validation (pure) ------------------------------------------------------------------------------------
def output_kind(out: Path, *, points: bool, interpolate: bool) -> str:
    """'grid', 'folder', 'gif', 'scatter', 'csv' or 'npy', or a GanforgeError saying what fits."""
    suffix = out.suffix.lower()
    if interpolate:
        if suffix != ".gif":
            raise GanforgeError(f"--interpolate writes an animation: give --out a .gif path, not {out}")
        return "gif"
    if suffix == ".gif":
        raise GanforgeError("a .gif output needs --interpolate A B (the two seeds to walk between)")
    if points:
        if suffix not in POINT_FORMATS:
            raise GanforgeError(f"this generator makes 2-D points: give --out a .png (scatter plot), .csv or "
                                f".npy path, not {out}")
        return {".png": "scatter", ".csv": "csv", ".npy": "npy"}[suffix]
    if suffix == ".png":
        return "grid"
    if suffix in NOT_A_FOLDER:
        raise GanforgeError(f"images are written as a .png grid or a folder of PNGs; {suffix} is not supported")
    return "folder"


def check_numbers(args: argparse.Namespace, num: int) -> None:
    if num < 1:
        raise GanforgeError(f"--num must be at least 1, got {num}")
    if args.batch_size < 1:
        raise GanforgeError(f"--batch-size must be at least 1, got {args.batch_size}")
    if args.nrow is not None and args.nrow < 1:
        raise GanforgeError(f"--nrow must be at least 1, got {args.nrow}")
    check_seed(args.seed, "--seed")
    check_truncation(args.truncation)
    if args.interpolate:
        check_seed(args.interpolate[0], "--interpolate A")
        check_seed(args.interpolate[1], "--interpolate B")
        if not 2 <= args.frames <= MAX_FRAMES:
            raise GanforgeError(f"--frames must be between 2 and {MAX_FRAMES}, got {args.frames}")
        if args.frame_ms < 10:
            raise GanforgeError(f"--frame-ms must be at least 10, got {args.frame_ms}")


def folder_names(seed: int, num: int, labels: list[int] | None) -> list[str]:
    """``seed7_000003.png`` (``seed7_000003_c2.png`` with class 2 for conditional models)."""
    if labels is None:
        return [f"seed{seed}_{i:06d}.png" for i in range(num)]
    return [f"seed{seed}_{i:06d}_c{label}.png" for i, label in enumerate(labels)]


def refuse_existing(paths: list[Path], overwrite: bool) -> None:
    if overwrite:
        return
    existing = [p for p in paths if p.exists()]
    if existing:
        more = f" and {len(existing) - 1} more" if len(existing) > 1 else ""
        raise GanforgeError(f"{existing[0]}{more} already exists; pass --overwrite to replace it, or another --out")


# -- writers ----------------------------------------------------------------------------------------------
def _progress(total: int, enabled: bool) -> tqdm[NoReturn]:
    return tqdm(total=total, desc="generate", unit="img", dynamic_ncols=True, disable=not enabled, file=sys.stderr)


def write_folder(loaded: LoadedGenerator, args: argparse.Namespace, num: int, classes: list[int] | None,
                 bar: tqdm[NoReturn]) -> None:
    labels = labels_for(loaded.spec.num_classes, classes, num)
    names = folder_names(args.seed, num, None if labels is None else labels.tolist())
    refuse_existing([args.out / name for name in names], args.overwrite)
    args.out.mkdir(parents=True, exist_ok=True)
    index = 0
    for images, _ in generate_batches(loaded, args.seed, num, classes=classes, truncation=args.truncation,
                                      batch_size=args.batch_size):
        for image in images:
            save_png(image_grid(image[None], padding=0), args.out / names[index])
            index += 1
        bar.update(len(images))


def write_points(loaded: LoadedGenerator, args: argparse.Namespace, num: int, classes: list[int] | None, kind: str,
                 bar: tqdm[NoReturn]) -> None:
    batches = generate_batches(loaded, args.seed, num, classes=classes, truncation=args.truncation,
                               batch_size=args.batch_size)
    dim = loaded.spec.channels
    with atomic_path(args.out) as tmp:
        if kind == "npy":
            # A memory-mapped .npy is filled batch by batch: large N never sits in memory at once.
            array = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=(num, dim))
            start = 0
            for points, _ in batches:
                array[start:start + len(points)] = points.numpy()
                start += len(points)
                bar.update(len(points))
            array.flush()
            del array
            return
        with open(tmp, "w", newline="") as handle:
            columns = [f"x{i}" if dim > 2 else "xy"[i] for i in range(dim)]
            conditional = loaded.spec.num_classes > 0
            handle.write(",".join(columns + (["label"] if conditional else [])) + "\n")
            for points, labels in batches:
                rows = points.tolist()
                tags = labels.tolist() if labels is not None else [None] * len(rows)
                for row, tag in zip(rows, tags, strict=True):
                    cells = [repr(float(v)) for v in row] + ([str(tag)] if conditional else [])
                    handle.write(",".join(cells) + "\n")
                bar.update(len(rows))


def run(args: argparse.Namespace) -> int:
    loaded = load_generator(args.run_dir, CheckpointChoice.from_args(args), device=resolve_device(args.device))
    warn_if_live(loaded.folder, loaded.info)
    spec = loaded.spec
    points = loaded.makes_points
    interpolate = args.interpolate is not None
    kind = output_kind(args.out, points=points, interpolate=interpolate)
    num = args.num if args.num is not None else (
        DEFAULT_POINTS if points else 1 if interpolate else DEFAULT_IMAGES)
    check_numbers(args, num)
    classes = parse_classes(args.classes, spec.num_classes, loaded.class_names) if args.classes else None
    if kind == "grid" and num > MAX_GRID_IMAGES:
        raise GanforgeError(f"a grid of {num} images is too large; write at most {MAX_GRID_IMAGES} per grid or "
                            "give --out a folder")
    if kind != "folder":
        refuse_existing([args.out], args.overwrite)
    print(f"using the {loaded.weights_label} from {loaded.folder}")

    if kind == "gif":
        seed_a, seed_b = args.interpolate
        pictures = interpolation_pictures(loaded, seed_a, seed_b, args.frames, num, classes=classes,
                                          truncation=args.truncation, nrow=args.nrow)
        with atomic_path(args.out) as tmp:
            tmp.write_bytes(encode_gif(pictures, frame_ms=args.frame_ms))
        print(f"wrote {args.out}: {args.frames} frames from seed {seed_a} to seed {seed_b}")
        return 0

    show_bar = not args.no_progress and num > args.batch_size
    with _progress(num, show_bar) as bar:
        if kind == "folder":
            write_folder(loaded, args, num, classes, bar)
        elif kind in ("csv", "npy"):
            write_points(loaded, args, num, classes, kind, bar)
        else:
            picture = sample_picture(loaded, args.seed, num, classes=classes, truncation=args.truncation,
                                     nrow=args.nrow, batch_size=args.batch_size, progress=bar.update)
            save_png(picture, args.out)
    what = "points" if points else "images"
    print(f"wrote {num} {what} (seed {args.seed}) to {args.out}")
    return 0
