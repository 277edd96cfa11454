"""The formats ``ganforge export`` writes, one registry entry each: TorchScript, ONNX, a static web page
and a Hugging Face Hub folder. What each file holds and how it is checked: :mod:`ganforge.export_files`.
Every export is run and checked against the PyTorch generator on a fresh batch before it is written.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ganforge.checkpoints import warn_if_live
from ganforge.errors import GanforgeError
from ganforge.export_files import (
    checked_file,
    describe,
    require_onnx,
    run_onnx,
    run_torchscript,
    save_onnx,
    save_torchscript,
)
from ganforge.hub import write_hub as write_hub_folder
from ganforge.loader import load_generator
from ganforge.registry import Registry
from ganforge.web.export import write_site


@dataclass(frozen=True)
class ExportOptions:
    runtime: Path | None = None  # the web page's ONNX Runtime Web copy (--runtime)
    overwrite: bool = False
    push: str | None = None  # the Hub repository USER/NAME a hub folder is uploaded to (--push)


@dataclass(frozen=True)
class ExportFormat:
    """One output format. ``suffixes`` empty: ``--out`` is a folder. ``write`` returns the lines to print."""

    name: str
    help: str
    suffixes: tuple[str, ...]
    write: Callable[[Any, Path, ExportOptions], list[str]]
    requires: Callable[[], None] = lambda: None  # raises GanforgeError naming what to install
    options: frozenset[str] = field(default_factory=frozenset)  # ExportOptions fields it reads


FORMATS: Registry[ExportFormat] = Registry("export format")


def check_out(out: Path, suffixes: tuple[str, ...], name: str, overwrite: bool) -> None:
    if suffixes and out.suffix.lower() not in suffixes:
        raise GanforgeError(f"--format {name} writes {' or '.join(suffixes)} files; rename --out {out}")
    if not suffixes and out.exists() and not out.is_dir():
        raise GanforgeError(f"--format {name} writes a folder, but {out} is a file; give --out a folder path")
    if suffixes and out.is_dir():
        raise GanforgeError(f"{out} is a folder; give --out a file path ending in {suffixes[0]}")
    occupied = out.exists() and (not out.is_dir() or any(out.iterdir()))
    if occupied and not overwrite:
        raise GanforgeError(f"{out} already exists; pass --overwrite to replace it, or another --out")


def export_run(run_dir: Path, format_name: str, out: Path, options: ExportOptions,
               choice: Any = None) -> Iterator[str]:
    """``ganforge export`` (and ``ganforge.export``): check the options and ``out``, load the generator of
    ``run_dir`` (the checkpoint ``choice`` picks), write it; yields the lines to show as it goes."""
    fmt = FORMATS.get(format_name)
    unused = [f"--{key}" for key in ("runtime", "push") if getattr(options, key) is not None and key not in fmt.options]
    if unused:
        raise GanforgeError(f"{unused[0]} does not apply to --format {fmt.name}; leave it out")
    check_out(Path(out), fmt.suffixes, fmt.name, options.overwrite)
    fmt.requires()
    loaded = load_generator(Path(run_dir), choice)
    warn_if_live(loaded.folder, loaded.info)
    yield f"exporting the {loaded.weights_label} from {loaded.folder}"
    yield from fmt.write(loaded, Path(out), options)


def write_torchscript(loaded: Any, out: Path, options: ExportOptions) -> list[str]:
    return [checked_file(loaded, out, save_torchscript, run_torchscript, "TorchScript"),
            f"wrote {out}: {describe(loaded.spec)}"]


def write_onnx(loaded: Any, out: Path, options: ExportOptions) -> list[str]:
    return [checked_file(loaded, out, save_onnx, run_onnx, "onnxruntime"), f"wrote {out}: {describe(loaded.spec)}"]


def write_web(loaded: Any, out: Path, options: ExportOptions) -> list[str]:
    return write_site(loaded, out, options)


FORMATS.register("torchscript", ExportFormat(
    "torchscript", "a TorchScript file (torch.jit.trace) for PyTorch without ganforge",
    (".pt", ".pth", ".ts", ".torchscript"), write_torchscript))
FORMATS.register("onnx", ExportFormat("onnx", "an ONNX file", (".onnx",), write_onnx, require_onnx))
def write_hub(loaded: Any, out: Path, options: ExportOptions) -> list[str]:
    return write_hub_folder(loaded, out, options)


FORMATS.register("web", ExportFormat(
    "web", "a static web page that runs the generator in the visitor's browser (ONNX Runtime Web)", (),
    write_web, require_onnx, frozenset({"runtime"})))
FORMATS.register("hub", ExportFormat(
    "hub", "a Hugging Face Hub model folder (model.safetensors, config.json, model card, ONNX, samples); "
    "--push USER/NAME uploads it", (), write_hub, require_onnx, frozenset({"push"})))
