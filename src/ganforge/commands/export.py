"""``ganforge export RUN_DIR --format torchscript|onnx --out FILE``: the generator for use without ganforge.

Both formats take ``(z, labels)``: ``z`` float32 ``(N, z_dim)``, ``labels`` int64 ``(N,)`` (ignored by
unconditional models, kept so every export has the same signature), and return the generator's raw
output: images ``(N, C, H, W)`` in [-1, 1] (``x * 127.5 + 128``, clamped, gives uint8 pixels, as in
ganforge) or points ``(N, D)``. The batch size is free. generator.json travels inside the file
(TorchScript extra file ``generator.json``; ONNX metadata key ``ganforge.generator``). Every export is
checked against the PyTorch generator on a fresh batch before it is written.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import warnings
from pathlib import Path
from typing import Any

FORMATS = ("torchscript", "onnx")
SUFFIXES = {"torchscript": (".pt", ".pth", ".ts", ".torchscript"), "onnx": (".onnx",)}
TOLERANCE = 1e-3  # on [-1, 1] outputs: far below one uint8 level (1/127.5)
ONNX_HINT = "pip install 'ganforge[onnx]' (onnx and onnxscript; onnxruntime to check and run the file)"
METADATA_KEY = "ganforge.generator"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "export", help="export the generator to TorchScript or ONNX",
        description="Export a run's generator (the EMA copy when the run kept one) as a file that takes "
                    "(z, labels) and returns samples, checked against PyTorch before it is written.",
    )
    parser.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="run folder (or its generator.json)")
    parser.add_argument("--format", choices=FORMATS, required=True, help="torchscript (torch.jit.trace) or onnx")
    parser.add_argument("--out", type=Path, required=True, metavar="FILE", help="file to write (.pt / .onnx)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing FILE")
    parser.set_defaults(run=run)


def wrap(generator: Any, num_classes: int) -> Any:
    """A module with the fixed ``forward(z, labels)`` signature both formats are exported with."""
    from torch import nn

    class ExportedGenerator(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.generator = generator
            self.conditional = num_classes > 0

        def forward(self, z, labels):
            return self.generator(z, labels if self.conditional else None)

    return ExportedGenerator().eval()


def example_inputs(z_dim: int, num_classes: int, batch: int, seed: int = 0):
    import torch

    rng = torch.Generator().manual_seed(seed)
    z = torch.randn(batch, z_dim, generator=rng)
    labels = torch.randint(max(num_classes, 1), (batch,), generator=rng) if num_classes else torch.zeros(
        batch, dtype=torch.int64)
    return z, labels


@contextlib.contextmanager
def quiet_export():
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


def max_difference(a: Any, b: Any) -> float:
    import torch

    return float((torch.as_tensor(a).float() - torch.as_tensor(b).float()).abs().max())


def export_torchscript(module: Any, spec_json: str, inputs: tuple, path: Path) -> None:
    import torch

    with quiet_export():
        traced = torch.jit.trace(module, inputs, check_trace=False)
        torch.jit.save(traced, str(path), _extra_files={"generator.json": spec_json})


def run_torchscript(path: Path, inputs: tuple) -> Any:
    import torch

    with quiet_export():
        loaded = torch.jit.load(str(path), map_location="cpu")
        with torch.inference_mode():
            return loaded(*inputs)


def _require_onnx() -> None:
    from ganforge.errors import GanforgeError

    for package in ("onnx", "onnxscript"):
        try:
            __import__(package)
        except ImportError:
            raise GanforgeError(f"ONNX export needs the '{package}' package: {ONNX_HINT}") from None


def export_onnx(module: Any, spec_json: str, inputs: tuple, path: Path) -> None:
    import onnx
    import torch

    from ganforge.errors import GanforgeError

    batch = torch.export.Dim("batch")
    try:
        with quiet_export():
            torch.onnx.export(module, inputs, str(path), input_names=["z", "labels"], output_names=["samples"],
                              dynamic_shapes={"z": {0: batch}, "labels": {0: batch}}, dynamo=True,
                              external_data=False, verbose=False)
    except Exception as exc:  # the exporter raises many types; the user needs the one line
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise GanforgeError(f"ONNX export failed: {first}") from None
    model = onnx.load(str(path))
    entry = model.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, spec_json
    onnx.save(model, str(path))


def run_onnx(path: Path, inputs: tuple) -> Any | None:
    """Run the file with onnxruntime; None when onnxruntime is not installed."""
    try:
        import onnxruntime
    except ImportError:
        return None
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = {i.name for i in session.get_inputs()}
    feed = {k: v.numpy() for k, v in zip(("z", "labels"), inputs, strict=True) if k in names}
    return session.run(None, feed)[0]


def run(args: argparse.Namespace) -> int:
    import torch

    from ganforge.errors import GanforgeError
    from ganforge.fileio import atomic_path
    from ganforge.web.render import load_checked

    if args.out.suffix.lower() not in SUFFIXES[args.format]:
        raise GanforgeError(f"--format {args.format} writes {' or '.join(SUFFIXES[args.format])} files; "
                            f"rename --out {args.out}")
    if args.out.exists() and not args.overwrite:
        raise GanforgeError(f"{args.out} already exists; pass --overwrite to replace it, or another --out")
    if args.format == "onnx":
        _require_onnx()
    loaded = load_checked(args.run_dir)
    spec = loaded.spec
    print(f"exporting the {loaded.weights_label} from {loaded.folder}")
    spec_json = json.dumps({"spec": spec.to_dict(), **{k: v for k, v in loaded.info.meta.items() if k != "config"}},
                           default=str)
    module = wrap(loaded.module, spec.num_classes)
    trace_inputs = example_inputs(spec.z_dim, spec.num_classes, batch=4, seed=0)
    check_inputs = example_inputs(spec.z_dim, spec.num_classes, batch=3, seed=1)  # another batch size on purpose
    with torch.inference_mode():
        expected = module(*check_inputs)
    with atomic_path(args.out) as tmp:
        if args.format == "torchscript":
            export_torchscript(module, spec_json, trace_inputs, tmp)
            got = run_torchscript(tmp, check_inputs)
            checker = "TorchScript"
        else:
            export_onnx(module, spec_json, trace_inputs, tmp)
            got = run_onnx(tmp, check_inputs)
            checker = "onnxruntime"
        if got is None:
            print("onnxruntime is not installed: the file was not run as a check (pip install onnxruntime)")
        else:
            diff = max_difference(got, expected)
            if diff > TOLERANCE:
                raise GanforgeError(f"the exported {args.format} generator differs from PyTorch by {diff:.2e} "
                                    f"(> {TOLERANCE}); not writing {args.out}")
            print(f"checked with {checker}: max |difference| to PyTorch {diff:.1e} on a batch of 3")
    shape = "x".join(str(d) for d in expected.shape[1:])
    labels = "int64 (N,) class labels" if spec.num_classes else "int64 (N,) labels (ignored: unconditional)"
    print(f"wrote {args.out}: inputs z float32 (N, {spec.z_dim}), labels {labels}; output (N, {shape})")
    return 0
