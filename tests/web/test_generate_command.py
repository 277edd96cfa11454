"""``ganforge generate``: outputs, sizes, determinism, overwrite protection, classes, points, GIFs."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ganforge.cli import main
from ganforge.data.toy2d import toy2d_modes


def generate(*args: object) -> int:
    return main(["generate", *[str(a) for a in args], "--no-progress"])


def pixels(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def test_grid_png_has_the_expected_pixel_size(image_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "grid.png"
    assert generate(image_run, "--num", 10, "--seed", 1, "--out", out) == 0
    # 10 images of 32 px -> 4 columns x 3 rows, 2 px gutters: 4*34+2 = 138 wide, 3*34+2 = 104 high.
    assert Image.open(out).size == (138, 104)
    out8 = tmp_path / "nrow.png"
    assert generate(image_run, "--num", 10, "--nrow", 5, "--out", out8) == 0
    assert Image.open(out8).size == (5 * 34 + 2, 2 * 34 + 2)


def test_same_seed_gives_identical_bytes(image_run: Path, tmp_path: Path) -> None:
    a, b, c, d = (tmp_path / f"{name}.png" for name in "abcd")
    assert generate(image_run, "--num", 12, "--seed", 5, "--out", a) == 0
    assert generate(image_run, "--num", 12, "--seed", 5, "--out", b) == 0
    assert generate(image_run, "--num", 12, "--seed", 6, "--out", d) == 0
    assert a.read_bytes() == b.read_bytes()
    assert not np.array_equal(pixels(a), pixels(d))
    # Another batch size draws the same latents; only float rounding inside the network may differ.
    assert generate(image_run, "--num", 12, "--seed", 5, "--out", c, "--batch-size", 5) == 0
    assert np.abs(pixels(a).astype(int) - pixels(c).astype(int)).max() <= 1


def test_folder_streams_single_pngs_matching_the_grid(image_run: Path, tmp_path: Path) -> None:
    folder, grid = tmp_path / "many", tmp_path / "grid.png"
    assert generate(image_run, "--num", 7, "--seed", 3, "--out", folder, "--batch-size", 3) == 0
    files = sorted(folder.iterdir())
    assert [f.name for f in files] == [f"seed3_{i:06d}.png" for i in range(7)]
    assert all(Image.open(f).size == (32, 32) for f in files)
    # Image i of the folder is tile i of the grid (same latents, whatever the batching).
    assert generate(image_run, "--num", 7, "--seed", 3, "--out", grid, "--nrow", 7, "--batch-size", 3) == 0
    tiles = pixels(grid)
    for i, file in enumerate(files):
        left = 2 + i * 34
        np.testing.assert_array_equal(pixels(file), tiles[2:34, left:left + 32])


def test_existing_outputs_are_never_overwritten_without_the_flag(image_run: Path, tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "grid.png"
    out.write_bytes(b"precious")
    assert generate(image_run, "--out", out) == 2
    assert "already exists" in capsys.readouterr().err
    assert out.read_bytes() == b"precious"
    assert generate(image_run, "--out", out, "--overwrite", "--num", 4) == 0
    assert Image.open(out).size == (2 * 34 + 2, 2 * 34 + 2)

    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "seed0_000002.png").write_bytes(b"precious")
    assert generate(image_run, "--num", 4, "--out", folder) == 2
    assert "seed0_000002.png" in capsys.readouterr().err
    assert sorted(p.name for p in folder.iterdir()) == ["seed0_000002.png"]  # nothing written at all


def test_interpolation_gif_has_the_frames_and_size_asked_for(image_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "walk.gif"
    assert generate(image_run, "--interpolate", 1, 2, "--frames", 9, "--out", out) == 0
    gif = Image.open(out)
    assert gif.n_frames == 9
    assert gif.size == (36, 36)  # one 32 px image with its 2 px border
    frames = []
    for index in range(gif.n_frames):
        gif.seek(index)
        frames.append(np.asarray(gif.convert("RGB")).astype(int))
    assert all(np.abs(a - b).sum() > 0 for a, b in zip(frames, frames[1:], strict=False))
    # The walk starts at seed 1's first sample and ends at seed 2's (up to GIF palette rounding).
    start, end = tmp_path / "start.png", tmp_path / "end.png"
    generate(image_run, "--num", 1, "--seed", 1, "--out", start)
    generate(image_run, "--num", 1, "--seed", 2, "--out", end)
    assert np.abs(frames[0] - pixels(start).astype(int)).max() <= 8
    assert np.abs(frames[-1] - pixels(end).astype(int)).max() <= 8

    grid_gif = tmp_path / "grid.gif"
    assert generate(image_run, "--interpolate", 1, 2, "--frames", 3, "--num", 4, "--out", grid_gif) == 0
    assert Image.open(grid_gif).size == (70, 70) and Image.open(grid_gif).n_frames == 3


@pytest.mark.parametrize(("args", "message"), [
    (["--num", "0"], "--num"),
    (["--seed", "-5"], "--seed"),
    (["--seed", str(2**31)], "--seed"),
    (["--truncation", "0"], "truncation"),
    (["--class", "1"], "unconditional"),
    (["--batch-size", "0"], "--batch-size"),
    (["--interpolate", "1", "2", "--frames", "1"], "--frames"),
    (["--interpolate", "3", "3"], "different seeds"),
])
def test_bad_numbers_are_one_line_errors(image_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                         args: list[str], message: str) -> None:
    suffix = ".gif" if "--interpolate" in args else ".png"
    assert generate(image_run, "--out", tmp_path / f"x{suffix}", *args) == 2
    err = capsys.readouterr().err
    assert err.startswith("ganforge: error:") and message in err
    assert not (tmp_path / f"x{suffix}").exists()


def test_output_kind_mismatches_are_explained(image_run: Path, points_run: Path, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    assert generate(image_run, "--out", tmp_path / "x.gif") == 2
    assert "--interpolate" in capsys.readouterr().err
    assert generate(image_run, "--interpolate", 1, 2, "--out", tmp_path / "x.png") == 2
    assert ".gif" in capsys.readouterr().err
    assert generate(image_run, "--out", tmp_path / "x.csv") == 2
    assert generate(points_run, "--out", tmp_path / "folder") == 2
    assert "scatter" in capsys.readouterr().err


def test_truncation_changes_the_samples_deterministically(image_run: Path, tmp_path: Path) -> None:
    a, b, c = (tmp_path / f"{n}.png" for n in "abc")
    generate(image_run, "--num", 4, "--truncation", "0.5", "--out", a)
    generate(image_run, "--num", 4, "--truncation", "0.5", "--out", b)
    generate(image_run, "--num", 4, "--out", c)
    assert a.read_bytes() == b.read_bytes() != c.read_bytes()


def test_points_as_csv_npy_and_scatter(points_run: Path, tmp_path: Path) -> None:
    csv_path, npy_path, png_path = tmp_path / "p.csv", tmp_path / "p.npy", tmp_path / "p.png"
    assert generate(points_run, "--num", 50, "--seed", 2, "--out", csv_path, "--batch-size", 16) == 0
    assert generate(points_run, "--num", 50, "--seed", 2, "--out", npy_path, "--batch-size", 7) == 0
    assert generate(points_run, "--num", 50, "--seed", 2, "--out", png_path) == 0
    with open(csv_path) as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 50 and list(rows[0]) == ["x", "y", "label"]
    assert [int(r["label"]) for r in rows[:10]] == [0, 1, 2, 3, 4, 5, 6, 7, 0, 1]
    array = np.load(npy_path)
    assert array.shape == (50, 2) and array.dtype == np.float32
    np.testing.assert_allclose(array, [[float(r["x"]), float(r["y"])] for r in rows], rtol=0, atol=1e-6)
    assert Image.open(png_path).size == (256, 256)


def test_class_names_and_indices_are_accepted(points_run: Path, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    by_name, by_index = tmp_path / "a.csv", tmp_path / "b.csv"
    assert generate(points_run, "--num", 6, "--class", "mode3,mode5", "--out", by_name) == 0
    assert generate(points_run, "--num", 6, "--class", "3,5", "--out", by_index) == 0
    assert by_name.read_bytes() == by_index.read_bytes()
    with open(by_name) as handle:
        assert [r["label"] for r in csv.DictReader(handle)] == ["3", "5"] * 3
    assert generate(points_run, "--class", "8", "--out", tmp_path / "c.csv") == 2
    assert "out of range" in capsys.readouterr().err


def test_the_ema_copy_is_reported_when_the_run_kept_one(image_run: Path, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    assert generate(image_run, "--num", 1, "--out", tmp_path / "raw.png") == 0
    assert "raw generator weights" in capsys.readouterr().out
    spec_file = image_run / "generator.json"
    document = json.loads(spec_file.read_text())
    spec_file.write_text(json.dumps({**document, "ema": True}))
    assert generate(image_run, "--num", 1, "--out", tmp_path / "ema.png") == 0
    assert "using the EMA generator (step 7)" in capsys.readouterr().out


def test_class_k_lands_on_mode_k_of_a_trained_conditional_ring(conditional_toy_run: Path, tmp_path: Path) -> None:
    centers, _ = toy2d_modes("ring")
    for k in range(len(centers)):
        out = tmp_path / f"class{k}.npy"
        assert generate(conditional_toy_run, "--num", 200, "--seed", k, "--class", k, "--out", out) == 0
        points = torch.from_numpy(np.load(out))
        nearest = torch.cdist(points, centers).argmin(dim=1)
        share = float((nearest == k).float().mean())
        assert share >= 0.8, f"only {share:.0%} of class {k} samples lie nearest mode {k}"
