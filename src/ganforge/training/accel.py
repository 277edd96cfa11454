"""Speed options of the training step: torch.compile with a fallback, channels-last, fused optimizers.

None of these change what is trained, only how fast: a compiled or channels-last step computes the same
function (up to float rounding), and a fused Adam is the same update rule in one kernel.
"""

from __future__ import annotations

import functools
import inspect
import os
import sys
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import nn

from ganforge.training.precision import notice

# torch.compile backend for --compile. GANFORGE_COMPILE_BACKEND=aot_eager (or eager) checks that a model
# traces without generating code, which helps tell a model problem from a compiler problem.
DEFAULT_BACKEND = os.environ.get("GANFORGE_COMPILE_BACKEND", "inductor")


@functools.cache
def compile_errors() -> tuple[type[BaseException], ...]:
    """Exceptions that mean "the compiler could not build this", as opposed to a bug in the model. Looked
    up when a compiled call fails, not at import: torch's compiler modules take about 2 s to import."""
    errors: list[type[BaseException]] = []
    try:
        from torch._dynamo.exc import BackendCompilerFailed, TorchDynamoException

        errors += [BackendCompilerFailed, TorchDynamoException]
    except ImportError:  # pragma: no cover - every torch ganforge supports has dynamo
        pass
    try:
        from torch._inductor.exc import InductorError, InvalidCxxCompiler

        errors += [InductorError, InvalidCxxCompiler]
    except ImportError:  # pragma: no cover
        pass
    return tuple(errors)


def compile_unavailable(device: torch.device) -> str | None:
    """Why torch.compile's default backend cannot work here, or None when it should.

    Checked before training so the common failures (no C++ compiler for CPU code, no Triton for GPU
    code, an interpreter dynamo does not support) become one line instead of a long traceback mid-step.
    """
    try:
        import torch._dynamo

        # torch._dynamo re-exports it but leaves it out of its __all__
        if not torch._dynamo.is_dynamo_supported():  # type: ignore[attr-defined]
            return f"torch.compile does not support Python {sys.version_info.major}.{sys.version_info.minor}"
    except Exception as exc:  # a broken install reports itself in many ways
        return f"torch.compile is unavailable ({type(exc).__name__})"
    if device.type == "cpu":
        try:
            from torch._inductor.cpp_builder import get_cpp_compiler

            get_cpp_compiler()
        except Exception:
            return "no working C++ compiler was found for CPU code (install g++ or set CXX)"
    elif device.type == "cuda":
        from torch.utils._triton import (
            has_triton,  # torch.compile's machinery: ~2 s to import, --compile only
        )

        if not has_triton():
            return "Triton is not installed, which torch.compile needs for GPU code (pip install triton)"
    return None


class CompiledOrEager:
    """Calls the compiled module, switching to the eager one for good if compilation fails.

    Compilation happens lazily at the first call (and again when a guard fails, e.g. gradient mode
    changes), before the compiled graph runs, so falling back at that point leaves no half-applied update.
    """

    def __init__(self, eager: Callable[..., Any], compiled: Callable[..., Any], name: str) -> None:
        self.eager, self.compiled, self.name = eager, compiled, name
        self.fell_back = False

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if not self.fell_back:
            try:
                return self.compiled(*args, **kwargs)
            except compile_errors() as exc:
                first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
                notice(f"torch.compile failed for {self.name} ({type(exc).__name__}: {first_line[:160]}); "
                       "running it eagerly")
                self.fell_back = True
        return self.eager(*args, **kwargs)


def compile_enabled(requested: bool, device: torch.device) -> bool:
    """Whether --compile goes ahead; when the default backend cannot work here, one line says why."""
    if not requested:
        return False
    reason = compile_unavailable(device) if DEFAULT_BACKEND == "inductor" else None
    if reason is not None:
        notice(f"--compile ignored: {reason}; training runs eagerly")
        return False
    return True


def maybe_compile(module: nn.Module, name: str, *, enabled: bool,
                  backend: str | Callable[..., Any] | None = None) -> Callable[..., Any]:
    """``module`` itself, or a compiled call of it that falls back to eager on a compiler failure.

    ``backend`` defaults to ``DEFAULT_BACKEND`` (inductor); others are for tests and experiments.
    """
    if not enabled:
        return module
    backend = DEFAULT_BACKEND if backend is None else backend
    return CompiledOrEager(module, torch.compile(module, backend=backend), name)


def to_channels_last(module: nn.Module) -> nn.Module:
    """4-D weights in NHWC order: the layout cuDNN's and oneDNN's fastest convolution kernels use."""
    # Module.to accepts memory_format (its docstring lists the call), but torch's overloads omit it
    return module.to(memory_format=torch.channels_last)  # type: ignore[call-overload]


def optimizer_options(optimizer: type[torch.optim.Optimizer], device: torch.device | None,
                      params: Iterable[torch.Tensor]) -> dict[str, Any]:
    """Fused (one kernel for all parameters) on CUDA where the optimizer has it, else foreach there;
    torch's default elsewhere.

    On CPU the per-parameter loop is torch's default and measured no slower than foreach/fused for
    these models' few large tensors, so it is left alone. A fused optimizer also lets GradScaler skip
    its host-side inf check (see ``precision``).
    """
    if device is None or device.type != "cuda" or not all(p.is_cuda and p.is_floating_point() for p in params):
        return {}
    if "fused" in inspect.signature(optimizer).parameters:  # Adam; RMSprop has no fused kernel
        return {"fused": True}
    return {"foreach": True}
