"""Animated GIFs: the training animation (progress.gif) and latent walks (``generate --interpolate``, serve)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from ganforge.errors import GanforgeError
from ganforge.fileio import atomic_path


def gif_bytes(pictures: Sequence[np.ndarray], durations: Sequence[int]) -> bytes:
    """A looping GIF of (H, W, 3) uint8 pictures, each shown for its duration in milliseconds."""
    # Per-frame adaptive palette without dithering: crisp digits, stable bytes.
    frames = [Image.fromarray(p).quantize(colors=256, dither=Image.Dither.NONE) for p in pictures]
    buffer = io.BytesIO()
    # Pillow folds a frame identical to the previous one into it (adding its duration).
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:], duration=list(durations), loop=0)
    return buffer.getvalue()


def encode_gif(pictures: Sequence[np.ndarray], frame_ms: int = 80, end_hold_ms: int = 600) -> bytes:
    """A latent walk; the two seeds' frames are held a little longer so the endpoints are visible."""
    if len(pictures) < 2:
        raise GanforgeError("an animation needs at least 2 frames")
    return gif_bytes(pictures, [end_hold_ms] + [frame_ms] * (len(pictures) - 2) + [end_hold_ms])


def save_gif(frames: Sequence[Path], path: Path | str, frame_ms: int = 250, final_hold_ms: int = 1500,
             max_frames: int = 120) -> None:
    """Assemble PNG frames into a looping GIF; long runs are thinned to ``max_frames`` evenly."""
    if not frames:
        raise ValueError("no frames to animate")
    if len(frames) > max_frames:
        stride = len(frames) / max_frames
        frames = [frames[int(i * stride)] for i in range(max_frames - 1)] + [frames[-1]]
    pictures = [np.asarray(Image.open(frame).convert("RGB")) for frame in frames]
    data = gif_bytes(pictures, [frame_ms] * (len(pictures) - 1) + [final_hold_ms])
    with atomic_path(path) as tmp:
        Path(tmp).write_bytes(data)
