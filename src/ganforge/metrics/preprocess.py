"""The legacy-TensorFlow input pipeline of the FID Inception network (TTUR, torch-fidelity, NVIDIA).

uint8 images (generated ones quantized with :func:`ganforge.data.to_uint8`: x*127.5+128, clamp, truncate)
-> grayscale repeated to RGB -> TF1 legacy bilinear resize to 299x299 -> ``(x - 128) / 128``.

TF1's legacy bilinear resize (``tf.image.resize_bilinear``, ``align_corners=False``, no half-pixel
centers) maps output pixel ``j`` to the source coordinate ``j * in / out``; ``lo = floor``,
``hi = min(lo + 1, in - 1)``. It is neither ``F.interpolate(..., align_corners=False)`` (half-pixel
centers, pytorch-fid) nor antialiased (torchmetrics >= 1.8) nor PIL bicubic (clean-fid).

The resize is separable and linear, so it runs as two small matrix products ``Ry @ x @ Rx^T`` with
interpolation matrices built once per input size; the normalization is folded into them.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

INCEPTION_SIZE = 299
RESIZE_RULE = "tf1-legacy-bilinear-299"  # part of every cache key and report
QUANTIZATION = "uint8 = trunc(clamp(x * 127.5 + 128, 0, 255)) for [-1, 1] generator output"
NORMALIZATION = "(x - 128) / 128"


def tf1_legacy_bilinear_matrix(in_size: int, out_size: int) -> np.ndarray:
    """The ``(out_size, in_size)`` matrix R with ``R @ v`` = TF1 legacy bilinear resize of vector ``v``."""
    dst = np.arange(out_size, dtype=np.float64)
    src = dst * (in_size / out_size)
    lo = np.floor(src).astype(np.int64)
    hi = np.minimum(lo + 1, in_size - 1)
    frac = src - lo
    matrix = np.zeros((out_size, in_size), dtype=np.float64)
    np.add.at(matrix, (dst.astype(np.int64), lo), 1.0 - frac)
    np.add.at(matrix, (dst.astype(np.int64), hi), frac)
    return matrix


@lru_cache(maxsize=32)
def _matrices(height: int, width: int, out_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    # Fold the /128 of the normalization into the row matrix; rows of R sum to 1, so subtracting 128
    # before resizing equals subtracting it after.
    rows = torch.from_numpy(tf1_legacy_bilinear_matrix(height, out_size) / 128.0).float()
    cols_t = torch.from_numpy(tf1_legacy_bilinear_matrix(width, out_size).T.copy()).float()
    return rows, cols_t


def check_images(images: torch.Tensor) -> None:
    """Raise unless ``images`` is a uint8 ``(N, 1 or 3, H, W)`` batch."""
    if not isinstance(images, torch.Tensor) or images.dtype != torch.uint8:
        got = images.dtype if isinstance(images, torch.Tensor) else type(images).__name__
        raise TypeError(f"the FID pipeline takes uint8 images, got {got}; quantize generator output "
                        "with ganforge.data.to_uint8 first (the rule every reference applies)")
    if images.dim() != 4 or images.shape[1] not in (1, 3):
        raise ValueError(f"expected (N, 1 or 3, H, W) images, got shape {tuple(images.shape)}")


def inception_input(images: torch.Tensor, out_size: int = INCEPTION_SIZE) -> torch.Tensor:
    """uint8 ``(N, C, H, W)`` -> normalized float ``(N, 3, 299, 299)`` in channels_last, ready for the network."""
    check_images(images)
    height, width = images.shape[-2:]
    x = images.float().sub_(128.0)
    if (height, width) != (out_size, out_size):
        rows, cols_t = _matrices(height, width, out_size)
        # Resize before repeating grayscale channels: 3x less work, identical result.
        x = rows @ x @ cols_t
    else:
        x = x.div_(128.0)
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    return x.contiguous(memory_format=torch.channels_last)
