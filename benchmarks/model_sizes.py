"""Parameter counts and forward FLOPs of every model family's G and D at 32 and 64 px.

Usage: python benchmarks/model_sizes.py [--width 64] [--z-dim 100] [--channels 3] [--num-classes 0]

FLOPs are counted by torch.utils.flop_counter.FlopCounterMode for one sample (a multiply-add = 2 FLOPs;
matmuls and convolutions only: elementwise ops, norms and softmax are not counted). Sizes only, no timings.
"""

from __future__ import annotations

import argparse

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from ganforge.models import MODELS, ModelSpec, build_gan


def parameter_count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def forward_flops(module: nn.Module, *inputs: torch.Tensor | None) -> int:
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        module(*inputs)
    return counter.get_total_flops()


def measure(spec: ModelSpec) -> dict[str, int]:
    G, D = build_gan(spec)
    G.eval()  # BatchNorm cannot run training-mode statistics on a batch of one
    D.eval()
    labels = torch.zeros(1, dtype=torch.long) if spec.num_classes else None
    z = torch.randn(1, spec.z_dim)
    with torch.no_grad():
        sample = G(z, labels)
    return {"g_params": parameter_count(G), "d_params": parameter_count(D),
            "g_flops": forward_flops(G, z, labels), "d_flops": forward_flops(D, sample, labels)}


def specs(width: int, z_dim: int, channels: int, num_classes: int) -> list[ModelSpec]:
    out = []
    for name in MODELS.names():
        family = MODELS.get(name)
        for resolution in family.resolutions:
            out.append(ModelSpec(name, z_dim, resolution, channels, num_classes, width))
        if "points" in family.data_kinds:
            out.append(ModelSpec(name, z_dim, 0, 2, num_classes, width))
            out.append(ModelSpec(name, z_dim, 0, 2, num_classes, width, {"arch": "pacgan"}))
    return out


def label(spec: ModelSpec) -> tuple[str, str]:
    arch = " (pacgan)" if spec.options.get("arch") == "pacgan" else ""
    size = "2-D pts" if spec.resolution == 0 else f"{spec.resolution} px"
    return f"{spec.family}{arch}", size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--z-dim", type=int, default=100)
    parser.add_argument("--channels", type=int, default=3)
    parser.add_argument("--num-classes", type=int, default=0)
    args = parser.parse_args()
    torch.manual_seed(0)
    print(f"width {args.width}, z_dim {args.z_dim}, {args.channels} channels, {args.num_classes} classes; "
          "FLOPs per sample, forward only")
    header = f"{'family':<16}{'size':>9}{'G params':>14}{'D params':>14}{'G GFLOPs':>11}{'D GFLOPs':>11}"
    print(header)
    print("-" * len(header))
    for spec in specs(args.width, args.z_dim, args.channels, args.num_classes):
        name, size = label(spec)
        m = measure(spec)
        print(f"{name:<16}{size:>9}{m['g_params']:>14,}{m['d_params']:>14,}"
              f"{m['g_flops'] / 1e9:>11.3f}{m['d_flops'] / 1e9:>11.3f}")


if __name__ == "__main__":
    main()
