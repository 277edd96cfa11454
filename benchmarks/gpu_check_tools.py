"""Items of ``benchmarks/gpu_check.py`` that use a trained run (generate, serve, export), torchrun, and the
peak-memory table of the smoke runs."""

from __future__ import annotations

import io
import json
import re
import socket
import sys
import threading
from concurrent.futures import Future

from gpu_check_harness import Context, Skip
from gpu_check_items import TOOL_CAP_S, TRAIN_CAP_S, ganforge, parse_done, passed_run, run_folder, train_args

SOURCE = "the CUDA-trained source run"


def generate(ctx: Context, source: Future) -> dict:
    from PIL import Image

    run_dir = passed_run(source, SOURCE)
    out = ctx.work / "generated" / "grid.png"
    ctx.run(ganforge("generate", run_dir, "--num", 64, "--seed", 0, "--out", out, "--device", ctx.plan.device,
                     "--overwrite", "--no-progress"), TOOL_CAP_S)
    size = Image.open(out).size if out.is_file() else None
    return {"device": ctx.plan.device, "grid_size": size, "checks": {"grid PNG written": size is not None}}


def serve(ctx: Context, source: Future) -> dict:
    """`ganforge serve` on the run, one /api/generate request. The server renders on the CPU: it has no
    --device option, so this checks a run trained on the GPU is served, not GPU rendering."""
    from PIL import Image

    from serve_load import get, start_server

    run_dir = passed_run(source, SOURCE)
    limit = ctx.timeout(TOOL_CAP_S)
    try:
        process, base = start_server(run_dir)
    except SystemExit as exc:  # serve_load's way of saying the server did not start
        raise RuntimeError(str(exc)) from None
    watchdog = threading.Timer(limit, process.kill)  # a hung server ends the requests, not the check
    watchdog.start()
    try:
        status, body, _ = get(base + "api/runs")
        run_id = json.loads(body)["runs"][0]["id"] if status == 200 else None
        status, body, seconds = get(f"{base}api/generate?run={run_id}&num=16&seed=0")
    finally:
        watchdog.cancel()
        process.terminate()
        process.wait(timeout=30)
    size = Image.open(io.BytesIO(body)).size if status == 200 else None
    return {"renders_on": "cpu", "http_status": status, "png_size": size, "request_s": round(seconds, 3),
            "checks": {"HTTP 200 with a PNG": size is not None}}


def export(ctx: Context, source: Future) -> dict:
    run_dir = passed_run(source, SOURCE)
    out = ctx.work / "export" / "generator.onnx"
    done = ctx.run(ganforge("export", run_dir, "--format", "onnx", "--out", out, "--overwrite"), TOOL_CAP_S)
    checked = re.search(r"max \|difference\| to PyTorch (\S+)", done.stdout)
    return {"onnx_bytes": out.stat().st_size if out.is_file() else None,
            "max_difference_to_pytorch": float(checked[1]) if checked else None,
            "checks": {"ONNX file written": out.is_file(), "checked with onnxruntime": checked is not None}}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def torchrun(ctx: Context) -> dict:
    """`torchrun --nproc_per_node 1 -m ganforge train`; NCCL on CUDA, shown by NCCL_DEBUG=INFO lines."""
    steps = ctx.plan.torchrun_steps
    run_dir = ctx.work / "runs" / "torchrun-dcgan"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "1", "--master_addr", "127.0.0.1",
           "--master_port", str(free_port()), "-m", "ganforge",
           *train_args(ctx, "dcgan", run_dir, steps=steps)]
    done = ctx.run(cmd, TRAIN_CAP_S, env={"NCCL_DEBUG": "INFO", "GANFORGE_DIST_TIMEOUT": "120"})
    parsed, folder = parse_done(done.stdout), run_folder(run_dir)
    nccl = "NCCL INFO" in done.stdout + done.stderr
    checks = {f"done line with {steps} steps": parsed.get("steps") == steps, **folder["checks"]}
    if ctx.plan.on_cuda:
        checks["NCCL in use"] = nccl
    return {**parsed, **folder, "nccl_debug_lines": nccl, "checks": checks}


def memory(ctx: Context, smoke_items: dict[str, dict]) -> dict:
    """Peak GPU memory (torch.cuda.max_memory_allocated, as `ganforge train` prints it) of each smoke run."""
    if not ctx.plan.on_cuda:
        raise Skip("peak GPU memory is printed by CUDA runs only")
    peaks = {name: item.get("peak_gpu_gib") for name, item in smoke_items.items()}
    passed = [name for name, item in smoke_items.items() if item["status"] == "pass"]
    return {"peak_gpu_gib": peaks,
            "checks": {"every passing smoke run printed its peak": all(peaks[n] is not None for n in passed)}}
