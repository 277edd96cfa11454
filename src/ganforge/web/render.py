"""Running a trained generator and turning its samples into pictures: shared by generate and serve.

Loading is deliberately paranoid because ``ganforge serve`` loads whatever sits under RUNS_DIR:
the weights must really be safetensors (a pickle or a ``torch.save`` zip under that name is refused
before any parser sees it), the family must be registered, and the tensor names and shapes in the
safetensors header must match the network generator.json describes, checked on the meta device so a
crafted spec cannot make us allocate gigabytes before the mismatch is noticed.
"""

from __future__ import annotations

import io
import json
import math
import struct
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from PIL import Image
from torch import nn
from torch.overrides import TorchFunctionMode

from ganforge.data.base import POINTS, to_uint8
from ganforge.errors import GanforgeError
from ganforge.models.base import ModelSpec
from ganforge.models.io import LAYOUTS, SPEC_FILE, GeneratorInfo, read_generator_info, weights_file
from ganforge.sampling import labels_for, latents, slerp

if TYPE_CHECKING:
    from ganforge.checkpoints import CheckpointChoice

MAX_HEADER_BYTES = 100 * 2**20  # safetensors' own limit on the JSON header
SCATTER_SIZE = 256
PIXEL_PADDING = 2  # the same 2-pixel gutter as the training sample grids


# -- loading ---------------------------------------------------------------------------------------------
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


def expected_shapes(spec: ModelSpec) -> dict[str, tuple[int, ...]]:
    """Tensor name -> shape of the generator ``spec`` describes, built on the meta device (no memory)."""
    from ganforge.models import MODELS

    family = MODELS.get(spec.family)  # unknown family -> GanforgeError naming the registered ones
    try:
        family.check(spec)  # its bounds (e.g. the widest layer) before anything is built
    except GanforgeError as exc:
        raise GanforgeError(f"{SPEC_FILE} describes a {spec.family} generator ganforge does not build: {exc}") from None
    try:
        with _SkipInit(), torch.device("meta"):
            generator, _ = family.build(spec)
    except GanforgeError:
        raise
    except Exception as exc:  # a spec the family's check let through but its constructor rejects
        raise GanforgeError(f"{SPEC_FILE} describes a {spec.family} generator that cannot be built: {exc}") from None
    return {name: tuple(t.shape) for name, t in generator.state_dict().items()}


def verify_generator_files(folder: Path) -> GeneratorInfo:
    """Check generator.json and generator.safetensors in ``folder`` agree, without loading weights."""
    info = read_generator_info(folder)
    weights = weights_file(Path(folder))
    if not weights.is_file():
        raise GanforgeError(f"no {weights.name} in {folder}; the run has not saved a generator yet")
    found = check_safetensors_header(weights)
    expected = expected_shapes(info.spec)
    if found != expected:
        missing = sorted(set(expected) - set(found))
        extra = sorted(set(found) - set(expected))
        wrong = sorted(k for k in set(found) & set(expected) if found[k] != expected[k])
        detail = "; ".join(f"{label}: {', '.join(names[:3])}" for label, names in
                           (("missing", missing), ("unexpected", extra), ("wrong shape", wrong)) if names)
        raise GanforgeError(f"{weights} does not match {SPEC_FILE} ({detail})")
    return info


@dataclass
class LoadedGenerator:
    """A generator ready for inference; ``lock`` serialises use from server threads."""

    module: nn.Module
    info: GeneratorInfo
    folder: Path
    lock: threading.Lock = field(default_factory=threading.Lock)
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    reference: torch.Tensor | None = None  # training points drawn under 2-D scatters

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
        from ganforge.data import load_dataset

        data = load_dataset(dataset, download=False).data
    except Exception:  # the picture is still useful without the grey reference cloud
        return None
    return data[:2000].float() if data.dim() == 2 else None


def load_checked(folder: Path, device: torch.device | str = "cpu",
                 choice: CheckpointChoice | None = None) -> LoadedGenerator:
    """Verify then load a run's generator for inference: its generator.safetensors (a run folder or its
    generator.json), or the checkpoint ``choice`` picks (``--step N`` / ``--checkpoint best|last|PATH``)."""
    from ganforge.checkpoints import (
        is_checkpoint_file,
        load_checkpoint_generator,
        resolve_checkpoint,
        run_folder_of,
    )
    from ganforge.models.io import load_generator

    folder = Path(folder).expanduser()
    device = torch.device(device)
    if choice is not None and not choice.is_default:
        path = resolve_checkpoint(folder, choice)
        if is_checkpoint_file(path):
            module, info = load_checkpoint_generator(path, device)
            module.requires_grad_(False)
            return LoadedGenerator(module=module.eval(), info=info, folder=run_folder_of(path), device=device,
                                   reference=_reference_points(info))
        folder = path  # best/: a generator folder of its own
    if folder.is_file() and folder.name in LAYOUTS:
        folder = folder.parent
    verify_generator_files(folder)
    module, info = load_generator(folder, device=device)
    module.requires_grad_(False)
    return LoadedGenerator(module=module.eval(), info=info, folder=folder, device=device,
                           reference=_reference_points(info))


# -- sampling ----------------------------------------------------------------------------------------------
def generate_batches(loaded: LoadedGenerator, seed: int, num: int, *, classes: Sequence[int] | None = None,
                     truncation: float | None = None, batch_size: int = 64) -> Iterator[tuple[torch.Tensor, torch.Tensor | None]]:
    """Samples ``(batch, labels)`` in order, ``batch_size`` at a time, so callers can stream to disk."""
    spec = loaded.spec
    for start in range(0, num, batch_size):
        count = min(batch_size, num - start)
        z = latents(seed, spec.z_dim, count, start=start, truncation=truncation)
        labels = labels_for(spec.num_classes, classes, count, start=start)
        yield run_generator(loaded, z, labels), labels


def run_generator(loaded: LoadedGenerator, z: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
    """G(z, labels) without autograd, returned on the CPU; one thread at a time per generator."""
    z = z.to(loaded.device)
    labels = None if labels is None else labels.to(loaded.device)
    with loaded.lock, torch.inference_mode():
        return loaded.module(z, labels).float().cpu()


def interpolation_latents(z_dim: int, seed_a: int, seed_b: int, frames: torch.Tensor, num: int,
                          truncation: float | None) -> list[torch.Tensor]:
    """For each t, ``num`` latents on the great circles from seed A's latents to seed B's."""
    a = latents(seed_a, z_dim, num, truncation=truncation)
    b = latents(seed_b, z_dim, num, truncation=truncation)
    return [slerp(a, b, float(t)) for t in frames]


# -- pictures ----------------------------------------------------------------------------------------------
def grid_columns(num: int, num_classes: int, classes: Sequence[int] | None, nrow: int | None = None) -> int:
    """Images per row: one column per class for conditional grids, else a near-square grid."""
    if nrow:
        return max(1, min(nrow, num))
    pool = len(classes) if classes else num_classes
    if 2 <= pool <= 16 and num >= pool:
        return pool
    return max(1, math.ceil(math.sqrt(num)))


def grid_shape(num: int, ncol: int, height: int, width: int, padding: int = PIXEL_PADDING) -> tuple[int, int]:
    rows = math.ceil(num / ncol)
    return rows * (height + padding) + padding, ncol * (width + padding) + padding


class GridCanvas:
    """A uint8 grid filled batch by batch, so a large grid never holds all float samples at once."""

    def __init__(self, num: int, ncol: int, height: int, width: int) -> None:
        self.ncol, self.height, self.width = ncol, height, width
        self.array = np.zeros((*grid_shape(num, ncol, height, width), 3), np.uint8)

    def paste(self, start: int, images: torch.Tensor) -> None:
        pixels = to_uint8(images)
        if pixels.shape[1] == 1:
            pixels = pixels.expand(-1, 3, -1, -1)
        array = pixels[:, :3].permute(0, 2, 3, 1).numpy()
        for offset, tile in enumerate(array):
            row, col = divmod(start + offset, self.ncol)
            top = PIXEL_PADDING + row * (self.height + PIXEL_PADDING)
            left = PIXEL_PADDING + col * (self.width + PIXEL_PADDING)
            self.array[top:top + self.height, left:left + self.width] = tile


def scatter_picture(points: torch.Tensor, labels: torch.Tensor | None = None, reference: torch.Tensor | None = None,
                    limits: tuple[float, float, float, float] | None = None, size: int = SCATTER_SIZE) -> np.ndarray:
    """2-D samples as a ``size`` x ``size`` scatter plot (coloured by class when labelled).

    Uses matplotlib's object API, not pyplot, because pyplot's global state is not thread-safe and the
    server renders from several threads.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    dpi = 64
    fig = Figure(figsize=(size / dpi, size / dpi), dpi=dpi)
    canvas = FigureCanvasAgg(fig)
    ax = fig.add_axes((0.02, 0.02, 0.96, 0.96))
    if reference is not None:
        ref_x, ref_y = reference[:2000].T.numpy()
        ax.scatter(ref_x, ref_y, s=2, c="0.8")
    xy = points.detach().float().cpu().numpy()
    colours = None if labels is None else labels.numpy() % 10
    ax.scatter(xy[:, 0], xy[:, 1], s=3, c=colours if colours is not None else "tab:blue",
               cmap="tab10" if colours is not None else None, vmin=0, vmax=9)
    if limits is not None:
        ax.set_xlim(limits[0], limits[1])
        ax.set_ylim(limits[2], limits[3])
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_xticks([])
    ax.set_yticks([])
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def scatter_limits(*clouds: torch.Tensor | None, margin: float = 0.1) -> tuple[float, float, float, float]:
    """Axis limits covering every cloud, so the frames of an animation share one view."""
    stacked = torch.cat([c.float() for c in clouds if c is not None and len(c)])
    low, high = stacked.min(0).values, stacked.max(0).values
    pad = (high - low).clamp_min(1e-3) * margin
    return (float(low[0] - pad[0]), float(high[0] + pad[0]), float(low[1] - pad[1]), float(high[1] + pad[1]))


def render_batch(loaded: LoadedGenerator, samples: torch.Tensor, labels: torch.Tensor | None,
                 classes: Sequence[int] | None, nrow: int | None = None,
                 limits: tuple[float, float, float, float] | None = None) -> np.ndarray:
    """A picture of samples already in memory: an image grid or a scatter plot."""
    if samples.dim() == 4:
        ncol = grid_columns(len(samples), loaded.spec.num_classes, classes, nrow)
        canvas = GridCanvas(len(samples), ncol, samples.shape[2], samples.shape[3])
        canvas.paste(0, samples)
        return canvas.array
    return scatter_picture(samples[:, :2], labels, loaded.reference, limits)


def sample_picture(loaded: LoadedGenerator, seed: int, num: int, *, classes: Sequence[int] | None = None,
                   truncation: float | None = None, nrow: int | None = None, batch_size: int = 64,
                   progress: Callable[[int], object] | None = None) -> np.ndarray:
    """The picture of ``num`` samples of ``seed``: a grid for images, a scatter plot for points."""
    spec = loaded.spec
    batches = generate_batches(loaded, seed, num, classes=classes, truncation=truncation, batch_size=batch_size)
    if loaded.makes_points:
        parts = list(batches)
        points = torch.cat([x for x, _ in parts])
        label_parts = [y for _, y in parts if y is not None]  # all or none: the model is conditional or not
        labels = torch.cat(label_parts) if label_parts else None
        if progress is not None:
            progress(num)
        return scatter_picture(points[:, :2], labels, loaded.reference)
    ncol = grid_columns(num, spec.num_classes, classes, nrow)
    canvas = GridCanvas(num, ncol, spec.resolution, spec.resolution)
    start = 0
    for images, _ in batches:
        canvas.paste(start, images)
        start += len(images)
        if progress is not None:
            progress(len(images))
    return canvas.array


def interpolation_pictures(loaded: LoadedGenerator, seed_a: int, seed_b: int, frames: int, num: int, *,
                           classes: Sequence[int] | None = None, truncation: float | None = None,
                           nrow: int | None = None) -> list[np.ndarray]:
    """One picture per frame of the walk from seed A to seed B (``num`` samples walked side by side)."""
    from ganforge.sampling import interpolation_steps

    if seed_a == seed_b:
        raise GanforgeError(f"interpolating from seed {seed_a} to itself shows nothing; pick two different seeds")
    spec = loaded.spec
    steps = interpolation_steps(frames)
    labels = labels_for(spec.num_classes, classes, num)
    outputs = [run_generator(loaded, z, labels) for z in
               interpolation_latents(spec.z_dim, seed_a, seed_b, steps, num, truncation)]
    limits = scatter_limits(*outputs, loaded.reference) if loaded.makes_points else None
    return [render_batch(loaded, out, labels, classes, nrow, limits) for out in outputs]


# -- encoding -----------------------------------------------------------------------------------------------
def encode_png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def encode_gif(pictures: Sequence[np.ndarray], frame_ms: int = 80, end_hold_ms: int = 600) -> bytes:
    """A looping GIF; the two seeds' frames are held a little longer so the endpoints are visible."""
    if len(pictures) < 2:
        raise GanforgeError("an animation needs at least 2 frames")
    # Per-frame adaptive palette without dithering, as for progress.gif: crisp digits, stable bytes.
    frames = [Image.fromarray(p).quantize(colors=256, dither=Image.Dither.NONE) for p in pictures]
    durations = [end_hold_ms] + [frame_ms] * (len(frames) - 2) + [end_hold_ms]
    buffer = io.BytesIO()
    # Pillow folds a frame identical to the previous one into it (adding its duration); slerp between
    # two different seeds moves every frame, so the frame count is the one asked for.
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:], duration=durations, loop=0)
    return buffer.getvalue()
