"""Mixed precision for GAN training: autocast for the G and D forwards, float32 where it matters.

What runs in reduced precision: the G and D forwards (convolutions and matmuls) under ``torch.autocast``.
What does not, and why:

- Gradient penalty and R1 (``ganforge.losses``): they differentiate D's output with respect to its input
  and square the result. In float16 those input gradients overflow (or underflow to 0) long before the
  weight gradients do, turning the penalty into inf/NaN (or a silent constant); in bfloat16 they carry 8
  bits of mantissa. The penalties re-run D on float32 inputs with autocast disabled.
- Spectral norm's power iteration and sigma: a normalizing constant every weight is divided by; it is
  computed from the float32 master weights with autocast off (``float32_spectral_norm``).
- Loss reductions: scores are cast to float32 before the loss (``Precision.scores``).

float16 needs loss scaling: D and G each get their own ``GradScaler``, because their losses live on
different scales and a skipped (overflowing) D step must not shrink G's scale. With a fused optimizer
(CUDA, see ``make_optimizer``) the scaler's inf check runs inside the optimizer kernel, so float16
training adds no host-device sync; with other optimizers ``GradScaler.step`` reads the inf flag once
per optimizer step.
"""

from __future__ import annotations

import sys
from contextlib import AbstractContextManager
from typing import Any

import torch
from torch import nn
from torch.nn.utils.parametrizations import _SpectralNorm

from ganforge.config import PRECISIONS

DTYPES: dict[str, torch.dtype | None] = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def native_bf16(device: torch.device) -> bool:
    """Whether ``device`` has bfloat16 arithmetic in hardware, so bf16 autocast is faster than fp32.

    CUDA: the GPU's own bf16 support (Ampere and later), not the emulation older GPUs offer. CPU: the x86
    instructions oneDNN's bf16 kernels use (AVX512-BF16, AMX); elsewhere bf16 is emulated and slower.
    """
    if device.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported(including_emulation=False)
    if device.type != "cpu":
        return False
    checks = [getattr(torch.cpu, name, None) for name in ("_is_amx_tile_supported", "_is_avx512_bf16_supported")]
    return any(bool(check()) for check in checks if callable(check))


def resolve_precision(name: str, device: torch.device) -> str:
    """``auto``: bf16 where ``device`` computes it natively, else fp32; any other name as it is."""
    if name != "auto":
        return name
    return "bf16" if native_bf16(device) else "fp32"


class Float32SpectralNorm(_SpectralNorm):
    """Spectral norm whose power iteration and sigma stay in float32 under autocast."""

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        with torch.autocast(weight.device.type, enabled=False):
            return super().forward(weight.float()).to(weight.dtype)


def float32_spectral_norm(module: nn.Module) -> int:
    """Make every spectral-norm parametrization under ``module`` compute in float32; returns how many.

    A class swap rather than a wrapper: parameter names, buffers and state_dict keys stay identical, and
    ``copy.deepcopy`` (the EMA generator) keeps the behaviour.
    """
    count = 0
    for layer in module.modules():
        if type(layer) is _SpectralNorm:
            layer.__class__ = Float32SpectralNorm
            count += 1
    return count


def make_scaler(device: torch.device, enabled: bool) -> Any:
    """A GradScaler for ``device`` (torch.amp's since torch 2.3; the CUDA-only one before)."""
    if hasattr(torch.amp, "GradScaler"):
        return torch.amp.GradScaler(device.type, enabled=enabled)
    return torch.cuda.amp.GradScaler(enabled=enabled and device.type == "cuda")


def notice(message: str) -> None:
    print(f"ganforge: note: {message}", file=sys.stderr)


class Precision:
    """Autocast contexts and the two loss scalers of one run."""

    def __init__(self, name: str, device: torch.device) -> None:
        if name not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {name!r}")
        name = resolve_precision(name, device)
        self.name, self.device, self.dtype = name, device, DTYPES[name]
        if name == "fp16" and device.type == "cpu":
            # Supported, but CPUs without native half arithmetic emulate it: slower than fp32.
            notice("--precision fp16 on CPU runs autocast in emulated half precision and is usually slower "
                   "than fp32; bf16 is the reduced precision CPUs support natively")
        scaled = name == "fp16"
        self.scaler_d = make_scaler(device, scaled)
        self.scaler_g = make_scaler(device, scaled)

    @property
    def enabled(self) -> bool:
        return self.dtype is not None

    def autocast(self) -> AbstractContextManager[Any]:
        """The context for G and D forwards; a no-op in fp32."""
        return torch.autocast(self.device.type, dtype=self.dtype or torch.float32, enabled=self.enabled)

    @staticmethod
    def scores(scores: torch.Tensor) -> torch.Tensor:
        """D's scores in float32 before they enter a loss (means of half values lose precision)."""
        return scores.float()

    def backward_and_step(self, loss: torch.Tensor, optimizer: torch.optim.Optimizer,
                          scaler: Any) -> None:
        """``loss.backward(); optimizer.step()``, with loss scaling in fp16 (pass-through otherwise)."""
        self.backward(loss, scaler)
        self.step(optimizer, scaler)

    @staticmethod
    def backward(loss: torch.Tensor, scaler: Any) -> None:
        (scaler.scale(loss) if scaler.is_enabled() else loss).backward()

    @staticmethod
    def step(optimizer: torch.optim.Optimizer, scaler: Any) -> None:
        """The optimizer step after ``backward`` (fp16: unscaled, skipped on overflow, scale updated)."""
        if scaler.is_enabled():
            scaler.step(optimizer)
            scaler.update()
        else:
            optimizer.step()

    def state_dict(self) -> dict[str, Any]:
        if not self.scaler_d.is_enabled():
            return {}
        return {"scaler_d": self.scaler_d.state_dict(), "scaler_g": self.scaler_g.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Scaler states from a checkpoint; absent ones (a run resumed in another precision) start fresh."""
        if self.scaler_d.is_enabled() and "scaler_d" in state:
            self.scaler_d.load_state_dict(state["scaler_d"])
            self.scaler_g.load_state_dict(state["scaler_g"])
