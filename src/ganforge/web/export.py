"""``ganforge export --format web``: a static folder that runs the generator in the visitor's browser.

The folder (any static host serves it; nothing is loaded from elsewhere)::

    index.html               the page of ``ganforge serve`` (web/frontend.py), entry script static/site.js,
                             with a Content-Security-Policy meta tag: script-src 'self' 'wasm-unsafe-eval'
    static/                  its scripts (ES modules: viewer, grid, sampler, state, site) and style
    generator.onnx           the generator, checked against PyTorch with onnxruntime before it is written
    ort/                     ONNX Runtime Web (web/runtime.py): the WASM bundle and its .wasm
    artifacts/               the pictures serve lists for the run (loss and metric curves, progress.gif, final.png)
    manifest.json            what the page needs to know (``manifest``)

The folder is built next to ``--out`` and moved into place only when complete.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any

from ganforge import __version__
from ganforge.errors import GanforgeError
from ganforge.export_files import checked_file, run_onnx, save_onnx, signature
from ganforge.metrics.records import read_metric_records
from ganforge.runfolder import RunFolder
from ganforge.sampling import SAMPLER
from ganforge.web.frontend import export_files
from ganforge.web.runs import artifacts as served_artifacts
from ganforge.web.runtime import obtain
from ganforge.web.server import LIMITS

MANIFEST_FORMAT = "ganforge-web-export"
MANIFEST_VERSION = 1
MODEL_FILE = "generator.onnx"
RUNTIME_FOLDER = "ort/"
ARTIFACT_FOLDER = "artifacts/"
LOCAL_KEYS = ("run_dir", "cache_dir")  # config keys that only name folders of the exporting machine


def without_folders(text: str) -> str:
    """A published page names no local folder: ``folder:/home/me/pics`` -> ``folder:pics``, ``/x/r.npz`` -> ``r.npz``."""
    if "/" not in text and "\\" not in text:
        return text
    kind, sep, rest = text.partition(":")
    if sep and len(kind) > 1 and "/" not in kind and "\\" not in kind:  # a source prefix, not a drive letter
        return f"{kind}:{without_folders(rest)}"
    return PurePosixPath(text.replace("\\", "/")).name or text


def public_config(config: dict[str, Any]) -> dict[str, Any]:
    return {key: without_folders(value) if isinstance(value, str) else value
            for key, value in config.items() if key not in LOCAL_KEYS}


def run_name(loaded: Any) -> str:
    return loaded.folder.resolve().name or "generator"


def metric_records(folder: Path) -> list[dict[str, Any]]:
    """The run's evaluations as metrics.jsonl holds them (values and protocol), damaged lines skipped."""
    return [record.raw for record in read_metric_records(RunFolder(folder).metrics)]


def artifacts(folder: Path) -> dict[str, Path]:
    """Public name -> file of the training pictures the run has (the ones ``ganforge serve`` shows)."""
    return {name: folder / relative for name, relative in served_artifacts().items() if (folder / relative).is_file()}


def manifest(loaded: Any, runtime: Any, pictures: dict[str, Path]) -> dict[str, Any]:
    """manifest.json: the model, its classes and run, the exported signature, sampler, runtime and limits."""
    spec, meta = loaded.spec, loaded.info.meta
    config = meta.get("config") if isinstance(meta.get("config"), dict) else {}
    names = loaded.class_names or [str(i) for i in range(spec.num_classes)]
    return {
        "format": MANIFEST_FORMAT, "format_version": MANIFEST_VERSION, "ganforge_version": __version__,
        "model": {"family": spec.family, "z_dim": spec.z_dim, "resolution": spec.resolution,
                  "channels": spec.channels, "num_classes": spec.num_classes, "width": spec.width,
                  "options": spec.options, "steps": meta.get("step"), "ema": loaded.is_ema},
        "dataset": without_folders(str(meta.get("dataset", "?"))),
        "classes": [{"index": i, "name": name} for i, name in enumerate(names)],
        "run": {"name": run_name(loaded), "loss": config.get("loss"), "config": public_config(config)},
        "metrics": metric_records(loaded.folder),
        "onnx": {"file": MODEL_FILE, **signature(spec)},
        "sampler": {**SAMPLER, "module": "static/sampler.js",
                    "python": "ganforge.sampling.latents(seed, z_dim, num, start=0, truncation=None)"},
        "runtime": {"name": runtime.name, "version": runtime.version, "entry": RUNTIME_FOLDER + runtime.entry,
                    "wasm": RUNTIME_FOLDER + runtime.wasm, "backend": "wasm", "threads": 1,
                    "license": runtime.license},
        "artifacts": {name: ARTIFACT_FOLDER + name for name in pictures},
        "limits": dict(LIMITS),
    }


def replace_folder(built: Path, out: Path) -> None:
    """Move the finished ``built`` to ``out``; what ``out`` held is removed only after that."""
    if not out.exists():
        built.rename(out)
        return
    trash = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
    out.rename(trash / out.name)
    built.rename(out)
    shutil.rmtree(trash, ignore_errors=True)


def build_in_place(out: Path, build: Callable[[Path], str]) -> str:
    """``build`` the folder ``out`` in an empty folder beside it, then move that into place; returns
    what ``build`` returns."""
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.building-", dir=out.parent))
    try:
        result = build(staging)
        staging.chmod(0o755)
        replace_folder(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return result


def build_site(loaded: Any, site: Path, runtime: Any) -> str:
    """Write every file of the page into the empty folder ``site``; returns the ONNX check's line."""
    check = checked_file(loaded, site / MODEL_FILE, save_onnx, run_onnx, "onnxruntime")
    for relative, body in export_files().items():
        (site / relative).parent.mkdir(parents=True, exist_ok=True)
        (site / relative).write_bytes(body)
    (site / RUNTIME_FOLDER).mkdir()
    for name in runtime.files:
        shutil.copyfile(runtime.folder / name, site / RUNTIME_FOLDER / name)
    pictures = artifacts(loaded.folder)
    if pictures:
        (site / ARTIFACT_FOLDER).mkdir()
    for name, path in pictures.items():
        shutil.copyfile(path, site / ARTIFACT_FOLDER / name)
    document = manifest(loaded, runtime, pictures)
    (site / "manifest.json").write_text(json.dumps(document, indent=2, default=str) + "\n")
    return check


def write_site(loaded: Any, out: Path, options: Any) -> list[str]:
    """The ``web`` entry of ganforge.exporters.FORMATS."""
    if loaded.spec.resolution == 0:
        raise GanforgeError("--format web shows image generators; this run makes 2-D points: look at it with "
                            "`ganforge serve`, or export it with --format onnx")
    runtime = obtain(options.runtime)
    check = build_in_place(Path(out), lambda staging: build_site(loaded, staging, runtime))
    return [f"ONNX Runtime Web {runtime.version} {runtime.source}", check,
            f"wrote {out}/: open it from any static web server, e.g. python -m http.server -d {out}"]
