"""The training animation: sample grids over time as an animated GIF."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from PIL import Image

from ganforge.fileio import atomic_path


def save_gif(frames: Sequence[Path], path: Path | str, frame_ms: int = 250, final_hold_ms: int = 1500,
             max_frames: int = 120) -> None:
    """Assemble PNG frames into a looping GIF; long runs are thinned to ``max_frames`` evenly."""
    if not frames:
        raise ValueError("no frames to animate")
    if len(frames) > max_frames:
        stride = len(frames) / max_frames
        frames = [frames[int(i * stride)] for i in range(max_frames - 1)] + [frames[-1]]
    images = [Image.open(frame).convert("RGB") for frame in frames]
    # One shared adaptive palette per frame is fine for grids; dithering off keeps digits crisp.
    paletted = [im.quantize(colors=256, dither=Image.Dither.NONE) for im in images]
    durations = [frame_ms] * (len(paletted) - 1) + [final_hold_ms]
    with atomic_path(path) as tmp:
        paletted[0].save(tmp, format="GIF", save_all=True, append_images=paletted[1:], duration=durations,
                         loop=0)
