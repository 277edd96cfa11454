"""The one generator loader: every reader of a trained generator (``ganforge.load_generator``, the
``generate``/``export``/``serve``/``evaluate`` commands, the web page, the Hub folder, the notebook) calls
:func:`load_generator`.

It takes a run folder (or its ``best/``), a generator.json / config.json, an exported generator file
(generator.safetensors, a Hub folder's model.safetensors, or that folder), or a training checkpoint .pt
(``--step N`` / ``--checkpoint best|last|PATH`` pick one of a run: :mod:`ganforge.checkpoints`).

Loading is deliberately paranoid because ``ganforge serve`` loads whatever sits under RUNS_DIR: the
weights must really be safetensors (a pickle or a ``torch.save`` zip under that name is refused before
any parser sees it) or a checkpoint read with ``torch.load(weights_only=True)``; the family must be
registered (or, for networks trained from Python, the recorded class importable: ``models.custom``);
and the tensor names and shapes must match the network the spec describes, checked on the meta device
so that a crafted spec cannot make us allocate gigabytes before the mismatch is noticed. Every refusal
is one ``GanforgeError`` line.
"""

from __future__ import annotations

import copy
import json
import struct
import threading
import zipfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import nn
from torch.overrides import TorchFunctionMode

from ganforge.checkpoints import (
    CheckpointChoice,
    checkpoint_info,
    is_checkpoint_file,
    read_checkpoint_state,
    resolve_checkpoint,
    run_folder_of,
)
from ganforge.data import load_dataset
from ganforge.data.base import POINTS
from ganforge.errors import GanforgeError
from ganforge.models import MODELS
from ganforge.models.base import ModelSpec
from ganforge.models.custom import CUSTOM_FAMILY, recorded_generator
from ganforge.models.io import (
    LAYOUTS,
    SPEC_FILE,
    GeneratorInfo,
    description_file,
    read_generator_info,
    weights_file,
)

MAX_HEADER_BYTES = 100 * 2**20  # safetensors' own limit on the JSON header
WEIGHTS_SUFFIX = ".safetensors"
REFERENCE_POINTS = 2000  # training points kept for the grey cloud under 2-D scatters


# -- strict file checks ------------------------------------------------------------------------------------
def check_safetensors_header(path: Path) -> dict[str, tuple[int, ...]]:
    """Tensor name -> shape from a safetensors header; GanforgeError for anything else.

    Only the 8-byte length and the JSON header are read: nothing in the file is ever executed.
    """
    try:
        size = path.stat().st_size
        with open(path, "rb") as handle:
            prefix = handle.read(8)
            if len(prefix) < 8:
                raise GanforgeError(f"{path} is not a safetensors file (too short); refusing to load it")
            (length,) = struct.unpack("<Q", prefix)
            if not 2 <= length <= min(MAX_HEADER_BYTES, size - 8):
                kind = "a pickle" if prefix[:1] == b"\x80" else "a zip (torch.save)" if prefix[:2] == b"PK" else "unknown data"
                raise GanforgeError(f"{path} is not a safetensors file (it looks like {kind}); "
                                    "refusing to load it: ganforge never unpickles generators")
            header = json.loads(handle.read(length).decode("utf-8"))
    except OSError as exc:
        raise GanforgeError(f"cannot read {path}: {exc.strerror or exc}") from None
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise GanforgeError(f"{path} has a corrupt safetensors header; refusing to load it") from None
    if not isinstance(header, dict):
        raise GanforgeError(f"{path} has a corrupt safetensors header; refusing to load it")
    shapes: dict[str, tuple[int, ...]] = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        if not isinstance(entry, dict) or not isinstance(entry.get("shape"), list):
            raise GanforgeError(f"{path} has a corrupt safetensors header entry {name!r}")
        shapes[name] = tuple(int(d) for d in entry["shape"])
    return shapes


class _SkipInit(TorchFunctionMode):
    """Makes in-place initialisers no-ops while a network is built on the meta device.

    Meta tensors hold no values, so initialising them is pointless, and ``normal_`` or ``normalize`` on a
    meta tensor runs a Python reference that imports torch._dynamo (seconds) on first use. Torch
    function modes are per thread, so concurrent server threads are unaffected.
    """

    # In-place initialisers, and normalize (spectral norm's power-iteration set-up): all keep the shape.
    INITIALISERS = frozenset({torch.Tensor.normal_, torch.Tensor.uniform_, torch.Tensor.fill_,
                              torch.Tensor.zero_, torch.Tensor.copy_, torch.nn.functional.normalize})

    def __torch_function__(self, func: Callable[..., Any], types: Sequence[type], args: Sequence[Any] = (),
                           kwargs: dict[str, Any] | None = None) -> Any:
        # nn.init functions are override points themselves; the tensor methods they call would not
        # come back through this mode, so both levels are caught here.
        kwargs = kwargs or {}
        initialiser = func in self.INITIALISERS or getattr(func, "__module__", None) == "torch.nn.init"
        target = args[0] if args else kwargs.get("tensor")  # nn.init passes the tensor by keyword
        if initialiser and isinstance(target, torch.Tensor) and target.is_meta:
            return target
        return func(*args, **kwargs)


def fresh_generator(spec: ModelSpec, source: object = SPEC_FILE) -> nn.Module:
    """A new generator of ``spec`` (weights not loaded): its registered family's, or for networks trained
    from Python the class registered for this call (``ganforge.serving(generator=...)``), else the class
    the run recorded."""
    if spec.family == CUSTOM_FAMILY:
        if CUSTOM_FAMILY in MODELS:  # a copy: the registered build may hand out the caller's own module
            return copy.deepcopy(MODELS.get(CUSTOM_FAMILY).build(spec)[0])
        return recorded_generator(spec, source)
    family = MODELS.get(spec.family)  # unknown family -> GanforgeError naming the registered ones
    try:
        family.check(spec)  # its bounds (e.g. the widest layer) before anything is built
    except GanforgeError as exc:
        raise GanforgeError(f"{source} describes a {spec.family} generator ganforge does not build: {exc}") from None
    try:
        return family.build(spec)[0]
    except GanforgeError:
        raise
    except Exception as exc:  # a spec the family's check let through but its constructor rejects
        raise GanforgeError(f"{source} describes a {spec.family} generator that cannot be built: {exc}") from None


def expected_shapes(spec: ModelSpec, source: object = SPEC_FILE) -> dict[str, tuple[int, ...]]:
    """Tensor name -> shape of the generator ``spec`` describes, built on the meta device (no memory)."""
    with _SkipInit(), torch.device("meta"):
        generator = fresh_generator(spec, source)
    return {name: tuple(t.shape) for name, t in generator.state_dict().items()}


def check_shapes(found: Mapping[str, tuple[int, ...]], expected: Mapping[str, tuple[int, ...]], source: object,
                 described_by: str) -> None:
    """One line naming the first missing, unexpected and wrongly shaped tensors, when there are any."""
    missing = sorted(set(expected) - set(found))
    extra = sorted(set(found) - set(expected))
    wrong = sorted(k for k in set(found) & set(expected) if tuple(found[k]) != tuple(expected[k]))
    detail = "; ".join(f"{label}: {', '.join(names[:3])}" for label, names in
                       (("missing", missing), ("unexpected", extra), ("wrong shape", wrong)) if names)
    if detail:
        raise GanforgeError(f"{source} does not match {described_by} ({detail})")


# -- the loaded generator ---------------------------------------------------------------------------------
@dataclass
class LoadedGenerator:
    """A generator ready for inference; ``lock`` serialises use from server threads.

    It unpacks as ``generator, info = ganforge.load_generator(...)``.
    """

    module: nn.Module
    info: GeneratorInfo
    folder: Path  # the run (or generator) folder it came from
    lock: threading.Lock = field(default_factory=threading.Lock)
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    reference: torch.Tensor | None = None  # training points drawn under 2-D scatters

    def __iter__(self) -> Iterator[Any]:
        return iter((self.module, self.info))

    @property
    def spec(self) -> ModelSpec:
        return self.info.spec

    @property
    def makes_points(self) -> bool:
        """2-D points (scatter plots) rather than images (grids), as generator.json records."""
        return self.info.kind == POINTS

    @property
    def is_ema(self) -> bool:
        return bool(self.info.meta.get("ema"))

    @property
    def weights_label(self) -> str:
        step = self.info.meta.get("step", "?")
        if self.is_ema:
            return f"EMA generator (step {step})"
        return f"raw generator weights (step {step}; the run kept no EMA copy)"

    @property
    def class_names(self) -> list[str] | None:
        names = self.info.meta.get("class_names")
        if isinstance(names, list) and len(names) == self.spec.num_classes:
            return [str(n) for n in names]
        return None


def _reference_points(info: GeneratorInfo) -> torch.Tensor | None:
    """A few training points for 2-D scatters, when the dataset is available without downloading."""
    dataset = info.meta.get("dataset")
    if info.kind != POINTS or not isinstance(dataset, str):
        return None
    try:
        data = load_dataset(dataset, download=False).data
    except Exception:  # the picture is still useful without the grey reference cloud
        return None
    return data[:REFERENCE_POINTS].float() if data.dim() == 2 else None


# -- the sources ------------------------------------------------------------------------------------------
def _generator_folder(path: Path) -> Path:
    """The folder of a generator given as a folder, its JSON description or its weights file; one line for
    anything else (an ONNX or TorchScript export, a foreign file, nothing at all)."""
    if path.is_dir():
        return path
    if not path.exists():
        raise GanforgeError(f"no run, checkpoint or generator at {path}; check the path")
    if path.name in LAYOUTS or path.name in LAYOUTS.values():
        return path.parent
    if path.suffix.lower() == ".onnx":
        raise GanforgeError(f"{path} is an ONNX export, which runs in ONNX Runtime but is not read back; pass "
                            "the run folder (or the Hub folder) it was exported from")
    raise GanforgeError(f"{path} is not a ganforge generator; pass a run folder, its {SPEC_FILE} or "
                        f"generator{WEIGHTS_SUFFIX}, a Hub folder of `ganforge export --format hub`, or a "
                        "checkpoints/*.pt file")


def _is_torchscript(path: Path) -> bool:
    """A TorchScript archive (``export --format torchscript``) holds compiled code next to its tensors."""
    try:
        with zipfile.ZipFile(path) as archive:
            return any("/code/" in name for name in archive.namelist())
    except (OSError, zipfile.BadZipFile):
        return False


def _loaded_module(spec: ModelSpec, tensors: Mapping[str, torch.Tensor], source: object, described_by: str,
                   generator: nn.Module | None) -> nn.Module:
    module = generator if generator is not None else fresh_generator(spec, source)
    try:
        module.load_state_dict(tensors)
    except RuntimeError as exc:
        raise GanforgeError(f"{source} does not match {described_by}: {str(exc).splitlines()[0]}") from None
    return module


def _from_checkpoint(path: Path, generator: nn.Module | None) -> tuple[nn.Module, GeneratorInfo, Path]:
    if _is_torchscript(path):
        raise GanforgeError(f"{path} is a TorchScript export; run it with torch.jit.load, or pass the run folder "
                            "it was exported from")
    state = read_checkpoint_state(path)
    info = checkpoint_info(path, state)
    tensors = state.get("generator_ema") or state["generator"]
    if not isinstance(tensors, dict) or not all(isinstance(t, torch.Tensor) for t in tensors.values()):
        raise GanforgeError(f"{path} holds generator weights that are not tensors; it is not a ganforge checkpoint")
    described_by = "its spec" if generator is None else f"your {type(generator).__name__}"
    expected = _shapes_of(generator) if generator is not None else expected_shapes(info.spec, path)
    check_shapes({name: tuple(t.shape) for name, t in tensors.items()}, expected, path, described_by)
    return _loaded_module(info.spec, tensors, path, described_by, generator), info, run_folder_of(path)


def _from_folder(path: Path, generator: nn.Module | None) -> tuple[nn.Module, GeneratorInfo, Path]:
    folder = _generator_folder(path)
    info = read_generator_info(folder)
    weights = weights_file(folder)
    if not weights.is_file():
        raise GanforgeError(f"no {weights.name} in {folder}; the run has not saved a generator yet")
    description = description_file(folder)
    described_by = description.name if generator is None else f"your {type(generator).__name__}"
    expected = _shapes_of(generator) if generator is not None else expected_shapes(info.spec, description)
    check_shapes(check_safetensors_header(weights), expected, weights, described_by)
    try:
        tensors = load_file(str(weights))
    except (OSError, SafetensorError) as exc:  # a valid header over truncated or damaged data
        raise GanforgeError(f"cannot load {weights}: {' '.join(str(exc).split())[:160]}; the file is damaged, "
                            "export or train it again") from None
    return _loaded_module(info.spec, tensors, weights, described_by, generator), info, folder


def _shapes_of(module: nn.Module) -> dict[str, tuple[int, ...]]:
    return {name: tuple(t.shape) for name, t in module.state_dict().items()}


def load_generator(source: str | Path, choice: CheckpointChoice | None = None, *, device: torch.device | str = "cpu",
                   generator: nn.Module | None = None) -> LoadedGenerator:
    """The generator at ``source`` in eval mode, without gradients (see the module docstring for what
    ``source`` may be); ``choice`` picks another checkpoint of a run (``--step`` / ``--checkpoint``).

    ``generator=``: a fresh instance of your own class, for a run trained on your own modules whose class
    the command line cannot import; its weights are loaded into it.
    """
    path = Path(source).expanduser()
    if choice is not None and not choice.is_default:
        path = resolve_checkpoint(path, choice)
    load = _from_checkpoint if is_checkpoint_file(path) else _from_folder
    module, info, folder = load(path, generator)
    module = module.to(device).eval().requires_grad_(False)
    return LoadedGenerator(module=module, info=info, folder=folder, device=torch.device(device),
                           reference=_reference_points(info))
