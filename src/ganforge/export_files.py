"""A generator as a file other runtimes run: the exported signature, TorchScript and ONNX writers, and the
check that runs each written file against PyTorch before it is kept.

Every exported generator takes the latent alone when it is unconditional, and ``(z, labels)`` when it is
conditional: ``z`` float32 ``(N, z_dim)``, ``labels`` int64 ``(N,)`` class indices. It returns the raw
output: images ``(N, C, H, W)`` in [-1, 1] (``x * 127.5 + 128``, clamped, truncated, gives the uint8 pixels
ganforge saves) or points ``(N, D)``. The batch size is free. generator.json travels inside the file
(TorchScript extra file ``generator.json``; ONNX metadata key ``ganforge.generator``).
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

import torch
from torch import nn

from ganforge.errors import GanforgeError
from ganforge.fileio import atomic_path
from ganforge.runfolder import GENERATOR_SPEC_FILE

if TYPE_CHECKING:
    import torch
    from torch import nn

Inputs: TypeAlias = "tuple[torch.Tensor, ...]"  # (z,) or (z, labels): what an exported generator takes

TOLERANCE = 1e-3  # on [-1, 1] outputs: far below one uint8 level (1/127.5)
ONNX_HINT = "pip install 'ganforge[onnx]' (onnx and onnxscript; onnxruntime to check and run the file)"
METADATA_KEY = "ganforge.generator"
OUTPUT_NAME = "samples"
TO_UINT8 = "x * 127.5 + 128, clamped to [0, 255], truncated to an integer"




# -- the exported signature -----------------------------------------------------------------------------
def input_names(num_classes: int) -> list[str]:
    return ["z", "labels"] if num_classes else ["z"]


def signature(spec: Any) -> dict[str, Any]:
    """Inputs and output of an exported generator, as the web manifest documents them."""
    inputs = [{"name": "z", "dtype": "float32", "shape": ["N", spec.z_dim],
               "meaning": "latents from ganforge.sampling (one row per sample)"}]
    if spec.num_classes:
        inputs.append({"name": "labels", "dtype": "int64", "shape": ["N"],
                       "meaning": f"class indices 0..{spec.num_classes - 1}"})
    if spec.resolution:
        output = {"name": OUTPUT_NAME, "dtype": "float32",
                  "shape": ["N", spec.channels, spec.resolution, spec.resolution], "range": [-1.0, 1.0],
                  "layout": "NCHW", "to_uint8": TO_UINT8}
    else:
        output = {"name": OUTPUT_NAME, "dtype": "float32", "shape": ["N", spec.channels], "layout": "points"}
    return {"inputs": inputs, "output": output}


def describe(spec: Any) -> str:
    sig = signature(spec)
    inputs = ", ".join(f"{i['name']} {i['dtype']} ({', '.join(map(str, i['shape']))})" for i in sig["inputs"])
    out = sig["output"]
    return f"inputs {inputs}; output {out['name']} ({', '.join(map(str, out['shape']))})"


def wrap(generator: Any, num_classes: int) -> nn.Module:
    """A module whose forward takes exactly the exported inputs: ``(z)`` or ``(z, labels)``."""
    class GeneratorWrapper(nn.Module):
        """Holds the generator; each subclass's forward is one exported signature."""

        def __init__(self) -> None:
            super().__init__()
            self.generator = generator

    class LatentToSamples(GeneratorWrapper):
        def forward(self, z: torch.Tensor) -> torch.Tensor:
            return self.generator(z, None)

    class ConditionalLatentToSamples(GeneratorWrapper):
        def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
            return self.generator(z, labels)

    return (ConditionalLatentToSamples() if num_classes else LatentToSamples()).eval()


def example_inputs(z_dim: int, num_classes: int, batch: int, seed: int = 0) -> Inputs:
    rng = torch.Generator().manual_seed(seed)
    z = torch.randn(batch, z_dim, generator=rng)
    if not num_classes:
        return (z,)
    return z, torch.randint(num_classes, (batch,), generator=rng)


@contextlib.contextmanager
def quiet_export() -> Iterator[None]:
    """Tracer and exporter chatter (deprecation notes, progress lines) is noise for a CLI user."""
    onnx_logger = logging.getLogger("torch.onnx")  # "torchvision is not installed" notes
    level = onnx_logger.level
    onnx_logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        onnx_logger.setLevel(level)


def spec_json(loaded: Any) -> str:
    meta = {k: v for k, v in loaded.info.meta.items() if k != "config"}
    return json.dumps({"spec": loaded.spec.to_dict(), **meta}, default=str)


# -- TorchScript ----------------------------------------------------------------------------------------
def save_torchscript(module: Any, spec_text: str, inputs: Inputs, path: Path) -> None:
    with quiet_export():
        traced = torch.jit.trace(module, inputs, check_trace=False)
        torch.jit.save(traced, str(path), _extra_files={GENERATOR_SPEC_FILE: spec_text})


def run_torchscript(path: Path, inputs: Inputs) -> Any:
    with quiet_export():
        loaded = torch.jit.load(str(path), map_location="cpu")
        with torch.inference_mode():
            return loaded(*inputs)


# -- ONNX -------------------------------------------------------------------------------------------------
def require_onnx() -> None:
    for package in ("onnx", "onnxscript"):
        try:
            __import__(package)
        except ImportError:
            raise GanforgeError(f"ONNX export needs the '{package}' package: {ONNX_HINT}") from None


def save_onnx(module: Any, spec_text: str, inputs: Inputs, path: Path) -> None:
    import onnx

    names = input_names(len(inputs) - 1)
    batch = torch.export.Dim("batch")
    try:
        with quiet_export():
            torch.onnx.export(module, inputs, str(path), input_names=names, output_names=[OUTPUT_NAME],
                              dynamic_shapes={name: {0: batch} for name in names}, dynamo=True,
                              external_data=False, verbose=False)
    except Exception as exc:  # the exporter raises many types; the user needs the one line
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise GanforgeError(f"ONNX export failed: {first}") from None
    model = onnx.load(str(path))
    entry = model.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, spec_text
    onnx.save(model, str(path))


def run_onnx(path: Path, inputs: Inputs) -> Any | None:
    """Run the file with onnxruntime; None when onnxruntime is not installed."""
    try:
        import onnxruntime
    except ImportError:
        return None
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feed = {i.name: value.numpy() for i, value in zip(session.get_inputs(), inputs, strict=True)}
    return session.run(None, feed)[0]


# -- writing and checking a file ---------------------------------------------------------------------------
def max_difference(a: Any, b: Any) -> float:
    return float((torch.as_tensor(a).float() - torch.as_tensor(b).float()).abs().max())


def checked_file(loaded: Any, path: Path, save: Callable[[nn.Module, str, Inputs, Path], None],
                 run: Callable[[Path, Inputs], Any | None], checker: str) -> str:
    """Write the generator with ``save`` to ``path`` (atomically) once ``run`` reproduces PyTorch."""
    spec = loaded.spec
    module = wrap(loaded.module, spec.num_classes)
    trace_inputs = example_inputs(spec.z_dim, spec.num_classes, batch=4, seed=0)
    check_inputs = example_inputs(spec.z_dim, spec.num_classes, batch=3, seed=1)  # another batch size on purpose
    with torch.inference_mode():
        expected = module(*check_inputs)
    with atomic_path(path) as tmp:
        save(module, spec_json(loaded), trace_inputs, tmp)
        got = run(tmp, check_inputs)
        if got is None:
            return "onnxruntime is not installed: the file was not run as a check (pip install onnxruntime)"
        diff = max_difference(got, expected)
        if diff > TOLERANCE:
            raise GanforgeError(f"the exported generator differs from PyTorch by {diff:.2e} (> {TOLERANCE}); "
                                f"not writing {path}")
    return f"checked with {checker}: max |difference| to PyTorch {diff:.1e} on a batch of 3"
