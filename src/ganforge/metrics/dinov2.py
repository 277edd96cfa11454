"""DINOv2 ViT features for FD_DINOv2 (Stein et al. 2023; the metric dgm-eval and EDM2 report).

The network is DINOv2's vision transformer written here in plain PyTorch with the layout and state-dict
names of facebookresearch/dinov2 (``patch_embed.proj``, ``cls_token``, ``pos_embed``, optional
``register_tokens``, ``mask_token``, ``blocks.N.{norm1, attn.qkv, attn.proj, ls1.gamma, norm2, mlp.fc1,
mlp.fc2, ls2.gamma}``, ``norm``), so the released ``dinov2_vitl14_pretrain.pth`` (ViT-L/14, 1024-d) loads
strictly. Width, depth, patch size, the pretraining grid and register tokens are read from the file's
tensor shapes; heads are 64 channels wide, as in every DINOv2 ViT.

Features: the CLS token after the final LayerNorm. Input pipeline (EDM2's "torch" resize mode): uint8
images, grayscale repeated to RGB, bicubic antialiased resize to 224x224, ``x / 255``, ImageNet mean/std.
The positional embeddings of the 518-pixel pretraining grid (37x37 patches) are interpolated bicubically
to the 16x16 grid of 224-pixel inputs, with DINOv2's +0.1 scale offset.

No package ships the weights and ganforge does not download them: give the file with
``--extractor-weights dinov2=PATH`` or ``$GANFORGE_DINOV2_WEIGHTS``.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ganforge.errors import GanforgeError
from ganforge.metrics.extractor import Extractor, ExtractorSettings, ExtractorSpec, built_once
from ganforge.metrics.preprocess import QUANTIZATION, check_images
from ganforge.metrics.sources import Batch
from ganforge.metrics.weights import sha256_of, weights_dir

NAME = "dinov2"
WEIGHTS_ENV = "GANFORGE_DINOV2_WEIGHTS"
WEIGHTS_FILE = "dinov2_vitl14_pretrain.pth"  # facebookresearch/dinov2's release, ViT-L/14 (~1.2 GB)
INPUT_SIZE = 224
FEATURE_DIM = 1024  # ViT-L; a file of another width gives features of its own width
HEAD_DIM = 64
RESIZE_RULE = "bicubic antialiased to 224x224 (torch interpolate, EDM2's torch mode)"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
NORMALIZATION = f"(x / 255 - mean {IMAGENET_MEAN}) / std {IMAGENET_STD} (ImageNet)"
EXTRACTOR_NAME = "DINOv2 ViT (facebookresearch/dinov2), CLS token after the final norm"
FEATURE_LAYER = "CLS token after the final norm"
POS_OFFSET = 0.1  # DINOv2 adds it to the target grid before interpolating (avoids rounding to one patch less)


class Attention(nn.Module):
    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, tokens, dim = x.shape
        q, k, v = self.qkv(x).reshape(batch, tokens, 3, self.heads, dim // self.heads).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(q, k, v)
        return self.proj(out.transpose(1, 2).reshape(batch, tokens, dim))


class LayerScale(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gamma


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x)))


class Block(nn.Module):
    """Pre-norm transformer block with layer scale on both residual branches."""

    def __init__(self, dim: int, heads: int, hidden: int) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, heads)
        self.ls1 = LayerScale(dim)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, hidden)
        self.ls2 = LayerScale(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.ls1(self.attn(self.norm1(x)))
        return x + self.ls2(self.mlp(self.norm2(x)))


class PatchEmbed(nn.Module):
    def __init__(self, dim: int, patch: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(3, dim, kernel_size=patch, stride=patch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)


class DinoViT(nn.Module):
    """DINOv2's ViT; ``forward`` returns the normalized CLS token ``(N, dim)``."""

    def __init__(self, *, dim: int, depth: int, patch: int, grid: int, registers: int = 0,
                 hidden: int | None = None) -> None:
        super().__init__()
        self.patch = patch
        self.patch_embed = PatchEmbed(dim, patch)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, grid * grid + 1, dim))
        if registers:
            self.register_tokens = nn.Parameter(torch.zeros(1, registers, dim))
        self.mask_token = nn.Parameter(torch.zeros(1, dim))  # used in pretraining only; in every checkpoint
        heads = max(1, dim // HEAD_DIM)
        self.blocks = nn.ModuleList(Block(dim, heads, hidden or 4 * dim) for _ in range(depth))
        self.norm = nn.LayerNorm(dim, eps=1e-6)

    def position_embedding(self, height: int, width: int) -> torch.Tensor:
        """The pretraining grid's embeddings, resized to the patch grid of a ``height`` x ``width`` input."""
        pos = self.pos_embed.float()
        grid = int(math.sqrt(pos.shape[1] - 1))
        rows, cols = height // self.patch, width // self.patch
        if (rows, cols) == (grid, grid):
            return pos
        patches = pos[:, 1:].reshape(1, grid, grid, -1).permute(0, 3, 1, 2)
        patches = F.interpolate(patches, mode="bicubic",
                                scale_factor=((rows + POS_OFFSET) / grid, (cols + POS_OFFSET) / grid))
        patches = patches.permute(0, 2, 3, 1).reshape(1, rows * cols, -1)
        return torch.cat([pos[:, :1], patches], dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        height, width = x.shape[-2:]
        tokens = self.patch_embed(x)
        tokens = torch.cat([self.cls_token.expand(len(tokens), -1, -1), tokens], dim=1)
        tokens = tokens + self.position_embedding(height, width).to(tokens.dtype)
        registers = getattr(self, "register_tokens", None)
        if registers is not None:  # after the CLS token, without positional embedding
            tokens = torch.cat([tokens[:, :1], registers.expand(len(tokens), -1, -1), tokens[:, 1:]], dim=1)
        for block in self.blocks:
            tokens = block(tokens)
        return self.norm(tokens)[:, 0]


def dinov2_input(images: Batch) -> torch.Tensor:
    """uint8 ``(N, C, H, W)`` (or a list of ``(C, H, W)`` of mixed sizes) -> normalized float ``(N, 3, 224, 224)``."""
    if isinstance(images, list):
        return torch.cat([dinov2_input(image.unsqueeze(0)) for image in images])
    check_images(images)
    x = images.float()
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    if x.shape[-2:] != (INPUT_SIZE, INPUT_SIZE):
        x = F.interpolate(x, size=(INPUT_SIZE, INPUT_SIZE), mode="bicubic", antialias=True)
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return (x / 255.0 - mean) / std


# ------------------------------------------------------------------------------------------ weights

def _fix_hint(path: Path, flag: str) -> str:
    return f"pass {flag} {NAME}=PATH to DINOv2's {WEIGHTS_FILE} (facebookresearch/dinov2); '{path}'"


def read_state_dict(path: Path, flag: str) -> dict[str, torch.Tensor]:
    """The tensors of a DINOv2 checkpoint (a plain state dict, as released, or one under ``model``/``teacher``)."""
    try:
        loaded = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a file that is not a checkpoint
        first = str(exc).strip().splitlines()[0][:120] if str(exc).strip() else type(exc).__name__
        raise GanforgeError(f"cannot read DINOv2 weights ({first}); {_fix_hint(path, flag)} is not one") from None
    for wrapper in ("model", "teacher", "state_dict"):
        if isinstance(loaded, dict) and isinstance(loaded.get(wrapper), dict) and "cls_token" not in loaded:
            loaded = loaded[wrapper]
    if not isinstance(loaded, dict) or "cls_token" not in loaded:
        raise GanforgeError(f"no DINOv2 ViT tensors (cls_token, pos_embed, blocks.N...) found; "
                            f"{_fix_hint(path, flag)} is not that file")
    return {key.removeprefix("backbone."): value for key, value in loaded.items()}


def build_vit(state: dict[str, torch.Tensor], path: Path, flag: str) -> DinoViT:
    """The ViT whose shape the tensors give, with them loaded strictly."""
    try:
        dim = state["cls_token"].shape[-1]
        patch = state["patch_embed.proj.weight"].shape[-1]
        grid = int(math.sqrt(state["pos_embed"].shape[1] - 1))
        depth = 1 + max(int(key.split(".")[1]) for key in state if key.startswith("blocks."))
        hidden = state["blocks.0.mlp.fc1.weight"].shape[0]
        registers = state["register_tokens"].shape[1] if "register_tokens" in state else 0
    except (KeyError, ValueError, IndexError) as exc:
        raise GanforgeError(f"DINOv2 weights lack {exc} (the giant SwiGLU and chunked-block layouts are not "
                            f"supported); {_fix_hint(path, flag)} does not fit") from None
    model = DinoViT(dim=dim, depth=depth, patch=patch, grid=grid, registers=registers, hidden=hidden)
    expected = model.state_dict()
    missing = [key for key in expected if key not in state]
    unexpected = [key for key in state if key not in expected]
    misshaped = [key for key in expected if key in state and state[key].shape != expected[key].shape]
    if missing or unexpected or misshaped:
        problems = [f"{label} {', '.join(keys[:3])}" for label, keys in
                    (("missing", missing), ("unexpected", unexpected), ("misshaped", misshaped)) if keys]
        raise GanforgeError(f"DINOv2 weights do not fit the ViT ({'; '.join(problems)}); {_fix_hint(path, flag)} "
                            "does not fit")
    model.load_state_dict({key: value.float() for key, value in state.items()}, strict=True)
    return model.eval().requires_grad_(False)


def find_weights(settings: ExtractorSettings, need_logits: bool = False) -> Path:
    """The weight file: ``--extractor-weights dinov2=PATH``, else ``$GANFORGE_DINOV2_WEIGHTS``, else the cache."""
    given = settings.weights_for(NAME)
    origin = f"{settings.flag} {NAME}=PATH"
    if given is None and os.environ.get(WEIGHTS_ENV):
        given, origin = Path(os.environ[WEIGHTS_ENV]).expanduser(), f"${WEIGHTS_ENV}"
    if given is not None:
        if not given.is_file():
            raise GanforgeError(f"DINOv2 weights file '{given}' (from {origin}) does not exist; pass "
                                f"{settings.flag} {NAME}=PATH to DINOv2's {WEIGHTS_FILE}")
        return given
    cached = weights_dir(settings.cache_dir) / WEIGHTS_FILE
    if cached.is_file():
        return cached
    raise GanforgeError(f"fd_dinov2 needs DINOv2 ViT-L/14 weights, which ganforge does not download: pass "
                        f"{settings.flag} {NAME}=PATH to {WEIGHTS_FILE} (facebookresearch/dinov2), set "
                        f"${WEIGHTS_ENV}, or place the file in {cached.parent}")


class DinoV2Extractor:
    """DINOv2 with its input pipeline: uint8 images -> CLS features."""

    has_logits = False

    def __init__(self, path: Path, *, device: str = "cpu", batch_size: int = 32, flag: str = "--extractor-weights"
                 ) -> None:
        self.weights_path = path
        self.model = build_vit(read_state_dict(path, flag), path, flag).to(device)
        self.weights_sha256 = sha256_of(path)
        self.device = torch.device(device)
        self.batch_size = batch_size

    def protocol(self) -> dict[str, Any]:
        return {"extractor": NAME, "feature_extractor": EXTRACTOR_NAME, "weights_file": self.weights_path.name,
                "weights_sha256": self.weights_sha256, "resize": RESIZE_RULE, "quantization": QUANTIZATION,
                "normalization": NORMALIZATION, "feature_layer": FEATURE_LAYER, "feature_dim": int(self.model.norm.normalized_shape[0])}

    def require_logits(self) -> None:
        raise GanforgeError("DINOv2 gives features for fd_dinov2, not class logits")

    @torch.inference_mode()
    def batch_features(self, images: Batch, with_logits: bool = False) -> tuple[torch.Tensor, None]:
        if with_logits:
            self.require_logits()
        return self.model(dinov2_input(images).to(self.device)).float().cpu(), None


_BUILT: dict[tuple[str, str], DinoV2Extractor] = {}


def _build(settings: ExtractorSettings, need_logits: bool) -> Extractor:
    path = find_weights(settings)
    extractor = built_once(_BUILT, path, settings.device,
                           lambda: DinoV2Extractor(path, device=settings.device, batch_size=settings.batch_size,
                                                   flag=settings.flag))
    extractor.batch_size = settings.batch_size
    return extractor


DINOV2 = ExtractorSpec(
    NAME, EXTRACTOR_NAME, INPUT_SIZE, RESIZE_RULE, NORMALIZATION, FEATURE_DIM, FEATURE_LAYER,
    f"{WEIGHTS_FILE} from facebookresearch/dinov2, not downloaded", _build, find_weights, protocol_section=NAME, env=WEIGHTS_ENV)
