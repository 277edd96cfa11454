"""Writing generator.safetensors + generator.json, and reading the JSON description; the weights are read
back by :mod:`ganforge.loader` (no pickle anywhere).

A folder holds a generator in one of two layouts (``LAYOUTS``): a run folder's generator.json +
generator.safetensors, or a Hugging Face Hub folder's config.json + model.safetensors (the names of the
Hub's PyTorch convention, written by ``ganforge export --format hub``); both JSON files hold the same
document, so every reader below takes either.

generator.json records the kind of data the generator makes (``kind``: image or points), so that
readers (``ganforge evaluate``, ``serve``, ``generate``) need not guess it from the network's shape.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Container
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from safetensors.torch import save_file
from torch import nn

from ganforge.data import IMAGE, KIND_NOUNS, POINTS, dataset_kind
from ganforge.errors import GanforgeError
from ganforge.fileio import atomic_path, atomic_write_text
from ganforge.models.base import ModelSpec
from ganforge.runfolder import CHECKPOINT_SUFFIX, GENERATOR_SPEC_FILE, GENERATOR_WEIGHTS_FILE

WEIGHTS_FILE = GENERATOR_WEIGHTS_FILE  # a run folder's generator: names from ganforge.runfolder
SPEC_FILE = GENERATOR_SPEC_FILE
FORMAT = "ganforge-generator"
HUB_SPEC_FILE = "config.json"
HUB_WEIGHTS_FILE = "model.safetensors"
# description file -> the weights file beside it, in the order a folder is searched
LAYOUTS: dict[str, str] = {SPEC_FILE: WEIGHTS_FILE, HUB_SPEC_FILE: HUB_WEIGHTS_FILE}


@dataclass(frozen=True)
class GeneratorInfo:
    """What generator.json says about the saved generator."""

    spec: ModelSpec
    meta: dict[str, Any]  # step, ema, dataset, class_names, versions, training config
    kind: str  # the data it makes: IMAGE or POINTS


def generator_kind(spec: ModelSpec, meta: dict[str, Any]) -> str:
    """The data kind of a generator: as recorded, else (generator.json written before it was recorded, or
    a caller that does not say) its dataset's kind, else the network's shape."""
    recorded = meta.get("kind")
    if recorded in KIND_NOUNS:
        return str(recorded)
    dataset = meta.get("dataset")
    if isinstance(dataset, str):
        with contextlib.suppress(GanforgeError):  # a dataset name this version does not know
            return dataset_kind(dataset)
    return POINTS if spec.is_points else IMAGE


def save_generator(folder: Path, generator: nn.Module, spec: ModelSpec, meta: dict[str, Any],
                   spec_file: str = SPEC_FILE) -> None:
    """Write the generator's tensors (safetensors) and the JSON needed to rebuild it, atomically, in the
    layout of ``spec_file`` (a key of ``LAYOUTS``)."""
    folder = Path(folder)
    tensors = {name: t.detach().to("cpu").contiguous() for name, t in generator.state_dict().items()}
    with atomic_path(folder / LAYOUTS[spec_file]) as tmp:
        save_file(tensors, str(tmp))
    document = {"format": FORMAT, "version": 1, "spec": spec.to_dict(), **meta, "kind": generator_kind(spec, meta)}
    atomic_write_text(folder / spec_file, json.dumps(document, indent=2, default=str) + "\n")


def spec_name(names: Container[str]) -> str | None:
    """The description file of a folder holding ``names``, by ``LAYOUTS``; None when it holds none."""
    return next((name for name in LAYOUTS if name in names), None)


def description_file(folder: Path) -> Path:
    """The description file of a generator folder (a run folder's generator.json when it holds neither)."""
    return folder / (spec_name({name for name in LAYOUTS if (folder / name).is_file()}) or SPEC_FILE)


def _weights_beside(spec_path: Path) -> Path:
    return spec_path.parent / LAYOUTS.get(spec_path.name, WEIGHTS_FILE)


def weights_file(folder: Path) -> Path:
    """The weights file of the generator folder ``folder``, by its layout."""
    return _weights_beside(description_file(Path(folder)))


def _spec_path(path: Path) -> Path:
    path = Path(path).expanduser()
    if path.is_dir():
        path = description_file(path)
    elif path.suffix == CHECKPOINT_SUFFIX and path.is_file():
        raise GanforgeError(f"{path} is a training checkpoint, not a {SPEC_FILE}; pass its run folder with "
                            f"--checkpoint {path} (or --step N)")
    if not path.is_file():
        raise GanforgeError(f"no {SPEC_FILE} at {path}; pass a finished run folder or its {SPEC_FILE} (or a "
                            f"folder of `ganforge export --format hub`)")
    return path


def read_generator_info(path: Path) -> GeneratorInfo:
    spec_path = _spec_path(path)
    try:
        document = json.loads(spec_path.read_text())
    except (OSError, ValueError) as exc:  # ValueError: bad JSON, or bytes that are not UTF-8 text
        first = " ".join(str(exc).split())[:160]
        raise GanforgeError(f"cannot read {spec_path}: {first}; pass a run folder or its {SPEC_FILE}") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise GanforgeError(f"{spec_path} is not a ganforge generator description")
    try:
        spec = ModelSpec.from_dict(document.pop("spec"))
    except (KeyError, TypeError) as exc:
        raise GanforgeError(f"{spec_path} has a malformed 'spec' ({exc})") from None
    return GeneratorInfo(spec=spec, meta=document, kind=generator_kind(spec, document))
