"""The items of ``benchmarks/gpu_check.py``. Each takes the Context and returns its numbers plus ``checks``
({what: passed}); the harness turns exceptions into a recorded failure. Every item drives the real
command line (``python -m ganforge ...``, ``train_speed.py``, torchrun) in a subprocess, except the
Inception throughput, which times the extractor in this process."""

from __future__ import annotations

import csv
import json
import math
import os
import re
import signal
import subprocess
import sys
import time
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path

from ganforge.models.io import WEIGHTS_FILE
from ganforge.runfolder import RunFolder
from gpu_check_harness import REPO, CommandFailed, Context, Skip, python_module

MODELS: dict[str, tuple[str, ...]] = {
    "dcgan": ("--preset", "dcgan"),
    "sagan": ("--preset", "sagan"),
    "sngan": ("--preset", "sngan"),  # the resnet family today
    "cgan": ("--preset", "cgan"),  # conditional: the folder's class subfolders are the labels
    "wgan-gp": ("--preset", "wgan-gp"),
}


@dataclass(frozen=True)
class Variant:
    flags: tuple[str, ...]
    fallback_notes: tuple[str, ...] = ()  # note texts that mean the variant did not run as asked
    start_first: bool = False  # the longest runs start first, so they end inside the budget


VARIANTS = {
    "fp32": Variant(()),
    "bf16": Variant(("--precision", "bf16")),
    "fp16": Variant(("--precision", "fp16")),
    "channels-last": Variant(("--channels-last",)),
    "compile": Variant(("--compile",), ("torch.compile failed", "--compile ignored"), start_first=True),
}
SOURCE_RUN = ("dcgan", "fp32")  # the CUDA-trained run that generate, serve and export use
TRAIN_CAP_S, SPEED_CAP_S, FID_CAP_S, TOOL_CAP_S = 240.0, 240.0, 240.0, 120.0
# CUDA kernels (cuDNN weight gradients, atomics) need not be bitwise reproducible, so two uninterrupted
# runs may differ; a resumed run passes when it is within this factor of that difference (bitwise equal
# when the two uninterrupted runs are).
RESUME_NOISE_FACTOR = 10.0
FID_AGREEMENT = 1e-4
DONE = re.compile(r"done: (\d+) steps in \d+s \((\d+) img/s\)(?:; peak GPU memory ([\d.]+) GiB)?; "
                  r"loss_d (\S+) loss_g (\S+);")
SPEED_ROW = re.compile(r"^\s*(\S+)\s+(\d+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)x\s+([\d.]+)x\s*$")
SPEED_FLOPS = re.compile(r"^\s*(\w+): ([\d.]+) GFLOP/image, ([\d.]+) TFLOP/s = ([\d.]+)% of the (\S+) "
                         r"matmul peak \(([\d.]+) TFLOP/s measured\)")
PACKAGES = ("numpy", "scipy", "matplotlib", "pillow", "tensorboard", "pyyaml", "tqdm", "safetensors", "mlxtend",
            "onnx", "onnxscript", "onnxruntime", "triton")


def ganforge(*args: object) -> list[str]:
    return python_module("ganforge", *map(str, args))


def train_args(ctx: Context, model: str, run_dir: Path, variant: str = "fp32", *, steps: int | None = None,
               log_every: int | None = None, resume: bool = False) -> list[str]:
    plan, every = ctx.plan, str(max(1, ctx.plan.steps // 2))
    return ["train", *MODELS[model], *VARIANTS[variant].flags, "--data", f"folder:{ctx.assets.train}",
            "--resolution", "32", "--steps", str(steps or plan.steps), "--device", plan.device,
            "--log-every", str(log_every or plan.log_every), "--sample-every", every, "--checkpoint-every", every,
            "--cache-dir", str(ctx.work / "cache"), "--run-dir", str(run_dir), "--no-progress",
            *plan.size_flags, "--resume" if resume else "--overwrite"]


def parse_done(stdout: str) -> dict:
    match = DONE.search(stdout)
    if not match:
        return {}
    return {"steps": int(match[1]), "images_per_s": int(match[2]),
            "peak_gpu_gib": float(match[3]) if match[3] else None,
            "loss_d": float(match[4]), "loss_g": float(match[5])}


def run_folder(run_dir: Path) -> dict:
    """The contract's files and finite logged losses."""
    paths = RunFolder(run_dir)
    required = (paths.config, paths.history, paths.samples / "final.png", paths.last_checkpoint,
                run_dir / WEIGHTS_FILE)
    missing = [str(p.relative_to(run_dir)) for p in required if not p.is_file()]
    rows = list(csv.DictReader(paths.history.open())) if paths.history.is_file() else []
    finite = bool(rows) and all(math.isfinite(float(r[k])) for r in rows for k in ("loss_d", "loss_g"))
    return {"missing_files": missing, "history_rows": len(rows),
            "checks": {"run folder complete": not missing, "logged losses finite": finite}}


def ganforge_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("ganforge: ")]


def environment(ctx: Context) -> dict:
    import importlib.metadata
    import platform

    import torch

    import ganforge as package

    def version(name: str) -> str | None:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            return None

    values: dict = {"python": platform.python_version(), "platform": platform.platform(),
                    "cpus": os.cpu_count(), "torch": torch.__version__, "cuda": torch.version.cuda,
                    "cudnn": torch.backends.cudnn.version(), "ganforge": package.__version__,
                    "cudnn_allow_tf32": torch.backends.cudnn.allow_tf32,
                    "matmul_allow_tf32": torch.backends.cuda.matmul.allow_tf32,
                    "packages": {name: version(name) for name in PACKAGES}}
    try:  # the device copy of the tree may come without .git
        values["git_commit"] = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                                              cwd=REPO, timeout=30).stdout.strip() or None
    except (OSError, subprocess.TimeoutExpired):
        values["git_commit"] = None
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        values.update(gpu=props.name, gpu_memory_gib=round(props.total_memory / 2**30, 1),
                      capability=f"{props.major}.{props.minor}", multiprocessors=props.multi_processor_count)
        try:
            values["nvidia_smi"] = subprocess.run(
                ["nvidia-smi", "--query-gpu=name,driver_version,memory.total,clocks.max.sm",
                 "--format=csv,noheader"], capture_output=True, text=True, timeout=30).stdout.strip()
        except (OSError, subprocess.TimeoutExpired) as exc:
            values["nvidia_smi"] = f"unavailable: {exc}"
    return {**values, "checks": {"CUDA available": torch.cuda.is_available()} if ctx.plan.on_cuda else {}}


def smoke(ctx: Context, model: str, variant: str) -> dict:
    run_dir = ctx.work / "runs" / f"{model}-{variant}"
    done = ctx.run(ganforge(*train_args(ctx, model, run_dir, variant)), TRAIN_CAP_S)
    parsed, messages = parse_done(done.stdout), ganforge_lines(done.stderr)
    fallbacks = [m for m in messages if any(note in m for note in VARIANTS[variant].fallback_notes)]
    folder = run_folder(run_dir)
    return {"run_dir": str(run_dir), **parsed, **folder, "messages": messages,
            "checks": {f"done line with {ctx.plan.steps} steps": parsed.get("steps") == ctx.plan.steps,
                       **folder["checks"], "ran as asked (no fallback note)": not fallbacks}}


def generator_difference(a: Path, b: Path) -> dict:
    import torch
    from safetensors.torch import load_file

    ta, tb = load_file(str(a / WEIGHTS_FILE)), load_file(str(b / WEIGHTS_FILE))
    if ta.keys() != tb.keys():
        raise ValueError(f"{a} and {b} hold different generator tensors")
    deltas = {k: ta[k].double() - tb[k].double() for k in ta}
    norm = math.sqrt(sum(float(ta[k].double().pow(2).sum()) for k in ta))
    return {"bitwise": all(torch.equal(ta[k], tb[k]) for k in ta),
            "relative_l2": math.sqrt(sum(float(d.pow(2).sum()) for d in deltas.values())) / norm,
            "max_abs": max(float(d.abs().max()) for d in deltas.values() if d.numel())}


def passed_run(source: Future, what: str) -> Path:
    item = source.result()
    if item["status"] != "pass":
        raise Skip(f"{what} did not pass ({item['status']}: {item['error']})")
    return Path(item["run_dir"])


def interrupt_after_first_row(ctx: Context, cmd: list[str], history: Path) -> int:
    """Start a run and SIGTERM it once history.csv has a row; its exit status."""
    ctx.timeout(TRAIN_CAP_S)
    started = time.monotonic()
    proc = ctx.start(cmd)
    while proc.poll() is None and time.monotonic() < started + TRAIN_CAP_S:
        if history.is_file() and len(history.read_text().splitlines()) >= 2:
            break
        time.sleep(0.005)
    proc.send_signal(signal.SIGTERM)
    return ctx.finish(proc, cmd, TRAIN_CAP_S, started, expect=(0, 128 + signal.SIGTERM)).returncode


def resume(ctx: Context, model: str, uninterrupted: Future) -> dict:
    """SIGTERM an fp32 run early, --resume it to the end, compare G with the uninterrupted smoke run."""
    import torch

    steps, run_dir = ctx.plan.steps, ctx.work / "runs" / f"{model}-interrupted"
    status = interrupt_after_first_row(ctx, ganforge(*train_args(ctx, model, run_dir, log_every=1)),
                                       RunFolder(run_dir).history)
    stopped_at = int(torch.load(RunFolder(run_dir).last_checkpoint, map_location="cpu", weights_only=True)["step"])
    stopped = {"stopped early by SIGTERM": status == 128 + signal.SIGTERM and stopped_at < steps}
    if not all(stopped.values()):
        return {"exit_status": status, "stopped_at_step": stopped_at, "checks": stopped}
    resumed = parse_done(ctx.run(ganforge(*train_args(ctx, model, run_dir, log_every=1, resume=True)),
                                 TRAIN_CAP_S).stdout)
    full, floor = passed_run(uninterrupted, f"the uninterrupted run {model}/fp32"), None
    if ctx.plan.resume_repeat:
        repeat = ctx.work / "runs" / f"{model}-repeat"
        ctx.run(ganforge(*train_args(ctx, model, repeat)), TRAIN_CAP_S)
        floor = generator_difference(full, repeat)
    difference = generator_difference(full, run_dir)
    tolerance = RESUME_NOISE_FACTOR * floor["relative_l2"] if floor else 0.0
    return {"stopped_at_step": stopped_at, "resumed_vs_uninterrupted": difference,
            "uninterrupted_vs_repeat": floor, "tolerance_relative_l2": tolerance,
            "checks": {**stopped, "resumed to the last step": resumed.get("steps") == steps,
                       "generator equals the uninterrupted run's": difference["relative_l2"] <= tolerance}}


def parse_speed(text: str) -> list[dict]:
    rows: list[dict] = []
    for line in text.splitlines():
        if row := SPEED_ROW.match(line):
            rows.append({"model": row[1], "batch": int(row[2]), "textbook": float(row[3]), "fp32": float(row[4]),
                         "fast": float(row[5]), "fp32_vs_textbook": float(row[6]),
                         "fast_vs_textbook": float(row[7]), "flops": {}})
        elif (flops := SPEED_FLOPS.match(line)) and rows:
            rows[-1]["flops"][flops[1]] = {"gflop_per_image": float(flops[2]), "tflop_per_s": float(flops[3]),
                                           "percent_of_peak": float(flops[4]), "peak_dtype": flops[5],
                                           "peak_tflop_per_s": float(flops[6])}
    return rows


def speed(ctx: Context) -> dict:
    """train_speed.py as documented; its printed table becomes numbers (kept on a timeout too)."""
    cmd = [sys.executable, str(REPO / "benchmarks" / "train_speed.py"), *ctx.plan.speed_args]
    try:
        stdout = ctx.run(cmd, SPEED_CAP_S).stdout
    except CommandFailed as exc:
        exc.values = {"rows": parse_speed(exc.stdout)}
        raise
    rows = parse_speed(stdout)
    checks = {"a row per model": {r["model"] for r in rows} >= set(ctx.plan.speed_models),
              "FLOPs counted for fp32 and fast": bool(rows) and all(set(r["flops"]) == {"fp32", "fast"}
                                                                    for r in rows)}
    if ctx.plan.speed_acceptance:
        model, batch, minimum = ctx.plan.speed_acceptance
        ratios = [r["fast_vs_textbook"] for r in rows if (r["model"], r["batch"]) == (model, batch)]
        checks[f"{model} batch {batch}: fast >= {minimum:g}x textbook"] = bool(ratios) and ratios[0] >= minimum
    return {"command": " ".join(cmd[1:]), "setup": stdout.splitlines()[0] if stdout else None, "rows": rows,
            "checks": checks}


def load_pngs(folder: Path, count: int):
    import numpy as np
    import torch
    from PIL import Image

    files = sorted(folder.glob("*.png"))[:count]
    return torch.from_numpy(np.stack([np.asarray(Image.open(f))[None] for f in files]))


def timed_rate(step, images: int, batches: int, cuda: bool) -> float:
    import torch

    step()  # warm-up: kernels, allocator
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    sync()
    started = time.perf_counter()
    for _ in range(batches):
        step()
    sync()
    return images * batches / (time.perf_counter() - started)


def inception(ctx: Context) -> dict:
    """Inception images/s: the whole extractor (CPU resize to 299, copy, network) and the network alone."""
    import torch

    from ganforge.metrics.extractor import FeatureExtractor
    from ganforge.metrics.preprocess import inception_input

    plan = ctx.plan
    digits = load_pngs(ctx.assets.fid_a, 64)
    batch = digits.repeat(math.ceil(plan.inception_batch / len(digits)), 1, 1, 1)[:plan.inception_batch]
    extractor = FeatureExtractor(ctx.assets.weights, device=plan.device, batch_size=plan.inception_batch)
    x = inception_input(batch).to(plan.device)
    features = extractor.batch_features(batch)[0]
    with torch.inference_mode():
        values = {"device": plan.device, "batch": plan.inception_batch, "batches": plan.inception_batches,
                  "pipeline_images_per_s": timed_rate(lambda: extractor.batch_features(batch), len(batch),
                                                      plan.inception_batches, plan.on_cuda),
                  "network_images_per_s": timed_rate(lambda: extractor.model(x), len(batch),
                                                     plan.inception_batches, plan.on_cuda)}
    if plan.on_cuda:  # how far the GPU's features are from the CPU's, with and without TF32 convolutions
        reference = FeatureExtractor(ctx.assets.weights, device="cpu").batch_features(digits[:16])[0]
        previous, gaps = torch.backends.cudnn.allow_tf32, {}
        try:
            for label, allow in (("cudnn_tf32", True), ("cudnn_fp32", False)):
                torch.backends.cudnn.allow_tf32 = allow
                got = extractor.batch_features(digits[:16])[0]
                gaps[label] = float((got - reference).abs().max() / reference.abs().max())
        finally:
            torch.backends.cudnn.allow_tf32 = previous
        values["feature_max_relative_gap_vs_cpu"] = gaps
    return {**values, "checks": {"features finite": bool(torch.isfinite(features).all())}}


def fid_on(ctx: Context, device: str, cache: Path) -> dict:
    import shutil

    shutil.rmtree(cache, ignore_errors=True)  # each side extracts its own features, none from a cache
    done = ctx.run(ganforge("fid", ctx.assets.fid_a, ctx.assets.fid_b, "--json", "--inception-weights",
                            ctx.assets.weights, "--device", device, "--cache-dir", cache, "--batch-size", 100,
                            "--no-progress"), FID_CAP_S)
    report = json.loads(done.stdout.strip().splitlines()[-1])
    return {"fid": report["fid"], "num_a": report["protocol"]["num_a"], "num_b": report["protocol"]["num_b"],
            "seconds": round(done.seconds, 1)}


def fid(ctx: Context) -> dict:
    """`ganforge fid` of the same two image sets on the run's device and on the CPU."""
    on_device = fid_on(ctx, ctx.plan.device, ctx.work / "fid-cache-device")
    on_cpu = fid_on(ctx, "cpu", ctx.work / "fid-cache-cpu")
    a, b = on_device["fid"], on_cpu["fid"]
    relative = abs(a - b) / abs(b) if b else math.inf
    counts = {side[k] for side in (on_device, on_cpu) for k in ("num_a", "num_b")}
    return {"device": ctx.plan.device, "on_device": on_device, "on_cpu": on_cpu, "relative_difference": relative,
            "checks": {"finite": math.isfinite(a) and math.isfinite(b),
                       f"{ctx.plan.fid_images} images a side": counts == {ctx.plan.fid_images},
                       f"agree to {FID_AGREEMENT:g} relative": relative <= FID_AGREEMENT}}
