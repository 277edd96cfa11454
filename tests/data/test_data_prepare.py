"""`ganforge data prepare`, StyleGAN zips both ways, hf: sets, non-square crops, bad input."""

from __future__ import annotations

import errno
import json
import os
import zipfile
from pathlib import Path

import datasets
import numpy as np
import pytest
import torch
from PIL import Image

from ganforge.cli import main
from ganforge.data import cache as cache_module
from ganforge.data import load_dataset

RED, GREEN, BLUE = (220, 20, 20), (20, 220, 20), (20, 20, 220)
TRAIN = ["train", "--steps", "2", "--width", "8", "--z-dim", "8", "--batch-size", "4", "--log", "csv",
         "--sample-every", "1000", "--device", "cpu", "--threads", "1", "--no-progress"]


def one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("ganforge: error: "), err[-2000:]
    return lines[0]


@pytest.fixture
def labelled_folder(tmp_path, make_image) -> Path:
    """pics/red/0..3.png, pics/green/0..3.png, plus a corrupt and a truncated file."""
    root = tmp_path / "pics"
    for name, color in (("red", RED), ("green", GREEN)):
        for i in range(4):
            make_image(root / name / f"{i}.png", color, size=(40, 40))
    (root / "red" / "corrupt.png").write_bytes(b"not an image")
    (root / "green" / "truncated.png").write_bytes((root / "green" / "0.png").read_bytes()[:60])
    return root


def test_prepare_names_skipped_files_and_rebuilds_a_changed_source(labelled_folder, cache, make_image, capsys):
    assert main(["data", "prepare", str(labelled_folder), "--resolution", "8", "--cache-dir", str(cache)]) == 0
    out = capsys.readouterr().out
    assert "8 images (3x8x8) prepared" in out and "img/s" in out
    assert "skipped 2 unreadable images" in out and "green/truncated.png" in out and "red/corrupt.png" in out
    (listing,) = (cache / "decoded").glob("*.skipped.txt")
    assert listing.read_text().split() == ["green/truncated.png", "red/corrupt.png"]
    first = load_dataset(f"folder:{labelled_folder}", cache_dir=cache, resolution=8)
    assert isinstance(first.data.numpy().base, np.memmap) or first.data.numpy().base is not None
    assert main(["data", "prepare", str(labelled_folder), "--resolution", "8", "--cache-dir", str(cache)]) == 0
    assert "already prepared from these files" in capsys.readouterr().out
    make_image(labelled_folder / "green" / "0.png", BLUE, size=(40, 40))
    os.utime(labelled_folder / "green" / "0.png", ns=(1, 1))
    assert main(["data", "prepare", str(labelled_folder), "--resolution", "8", "--cache-dir", str(cache)]) == 0
    assert "prepared in" in capsys.readouterr().out
    assert len(list((cache / "decoded").glob("*.npy"))) == 1  # the stale array is gone


def test_a_prepared_folder_is_memory_mapped_and_trains(labelled_folder, tmp_path, capsys):
    out = tmp_path / "prepared"
    assert main(["data", "prepare", f"folder:{labelled_folder}", "--resolution", "32", "--out", str(out),
                 "--workers", "2"]) == 0
    dataset = load_dataset(f"folder:{out}")
    assert isinstance(cache_module.load_decoded(out, "prepared", None).images, np.memmap)
    assert dataset.data.shape == (8, 3, 32, 32) and dataset.class_names == ["green", "red"]
    assert dataset.labels.tolist() == [0] * 4 + [1] * 4
    assert main([*TRAIN, "--data", f"folder:{out}", "--data-mode", "stream", "--conditional",
                 "--run-dir", str(tmp_path / "run")]) == 0
    with pytest.raises(Exception, match="prepared at 32 px, not 64"):
        load_dataset(f"folder:{out}", resolution=64)


def test_stylegan_zip_is_written_in_its_layout_and_trains_with_labels(labelled_folder, tmp_path, capsys):
    out = tmp_path / "set.zip"
    assert main(["data", "prepare", str(labelled_folder), "--resolution", "32", "--format", "stylegan-zip",
                 "--out", str(out), "--cache-dir", str(tmp_path / "cache")]) == 0
    with zipfile.ZipFile(out) as archive:
        meta = json.loads(archive.read("dataset.json"))
        pngs = sorted(info.filename for info in archive.infolist() if info.filename.endswith(".png"))
        assert all(info.compress_type == zipfile.ZIP_STORED for info in archive.infolist())
        with Image.open(archive.open("00000/img00000005.png")) as img:
            assert img.size == (32, 32) and img.getpixel((16, 16)) == RED  # red/ sorts after green/
    assert pngs == [f"00000/img{i:08d}.png" for i in range(8)]
    assert meta == {"labels": [[name, 0 if i < 4 else 1] for i, name in enumerate(pngs)]}
    dataset = load_dataset(f"folder:{out}", resolution=32)
    assert dataset.num_classes == 2 and dataset.labels.tolist() == [0] * 4 + [1] * 4
    assert main([*TRAIN, "--data", f"folder:{out}", "--resolution", "32", "--conditional",
                 "--run-dir", str(tmp_path / "run")]) == 0


def test_a_stylegan_zip_from_their_tool_reads_its_labels(tmp_path, image_data):
    out = tmp_path / "theirs.zip"
    with zipfile.ZipFile(out, "w") as archive:
        for i, color in enumerate((RED, GREEN, BLUE)):
            archive.writestr(f"00000/img{i:08d}.png", image_data(color, (16, 16)))
        archive.writestr("dataset.json", json.dumps({"labels": [[f"00000/img{i:08d}.png", 2 - i] for i in range(3)]}))
    dataset = load_dataset(f"folder:{out}", resolution=16)
    assert dataset.labels.tolist() == [2, 1, 0] and dataset.num_classes == 3
    with zipfile.ZipFile(tmp_path / "unlabelled.zip", "w") as archive:
        archive.writestr("00000/img00000000.png", image_data(RED, (16, 16)))
        archive.writestr("dataset.json", json.dumps({"labels": None}))
    assert load_dataset(f"folder:{tmp_path / 'unlabelled.zip'}", resolution=16).num_classes == 0


def _hf_set(count: int = 6) -> datasets.Dataset:
    images = [Image.new("RGB", (24, 16), (40 * i, 0, 0)) for i in range(count)]
    features = datasets.Features({"picture": datasets.Image(), "kind": datasets.ClassLabel(names=["a", "b"]),
                                  "id": datasets.Value("int64")})
    return datasets.Dataset.from_dict({"picture": images, "kind": [i % 2 for i in range(count)],
                                       "id": list(range(count))}, features=features)


def test_hf_sets_from_save_to_disk_and_parquet_train_with_their_labels(tmp_path, cache):
    saved, parquet = tmp_path / "saved", tmp_path / "parquet"
    _hf_set().save_to_disk(str(saved))
    _hf_set().to_parquet(str(parquet / "part-0.parquet"))
    for spec in (f"hf:{saved}", f"hf:{parquet}"):
        dataset = load_dataset(spec, cache_dir=cache, resolution=32)
        assert dataset.class_names == ["a", "b"] and dataset.labels.tolist() == [0, 1, 0, 1, 0, 1]
        assert dataset.data[:, 0, 16, 16].tolist() == [40 * i for i in range(6)]
        assert main([*TRAIN, "--data", spec, "--resolution", "32", "--conditional", "--cache-dir", str(cache),
                     "--run-dir", str(tmp_path / f"run-{spec[-6:]}")]) == 0
    named = load_dataset(f"hf:{saved}?image=picture&label=id", cache_dir=cache, resolution=32)
    assert named.num_classes == 6
    assert load_dataset(f"hf:{saved}?label=", cache_dir=cache, resolution=32).num_classes == 0


@pytest.mark.parametrize(("quiet", "terminal", "bars_while_loading"),
                         [(False, True, True), (True, True, False), (False, False, False)])
def test_the_datasets_librarys_bars_follow_ganforges(tmp_path, monkeypatch, quiet, terminal, bars_while_loading):
    """--no-progress (and a log file instead of a terminal) quiets the library's own bars too; its setting
    comes back after the load."""
    from ganforge.data import hf
    from ganforge.progress import silenced

    saved = tmp_path / "saved"
    _hf_set().save_to_disk(str(saved))
    seen = []
    real_load = datasets.load_from_disk
    monkeypatch.setattr(datasets, "load_from_disk",
                        lambda *a, **k: seen.append(not datasets.are_progress_bars_disabled()) or real_load(*a, **k))
    monkeypatch.setattr(hf, "interactive", lambda stream: terminal)
    assert not datasets.are_progress_bars_disabled()
    with silenced(quiet):
        assert len(hf.open_hf(str(saved))) == 6
    assert seen == [bars_while_loading] and not datasets.are_progress_bars_disabled()


def test_hf_bad_columns_are_one_line(tmp_path, capsys):
    saved = tmp_path / "saved"
    _hf_set().save_to_disk(str(saved))
    capsys.readouterr()  # the datasets library's own progress bar
    assert main(["data", "info", f"hf:{saved}?image=photo"]) == 2
    assert "no column 'photo'" in one_error_line(capsys.readouterr().err)
    assert main(["data", "info", f"hf:{saved}?colour=x"]) == 2
    assert "unknown option 'colour'" in one_error_line(capsys.readouterr().err)


def test_pad_keeps_the_whole_image_where_center_crops(tmp_path, make_image):
    wide = make_image(tmp_path / "wide" / "a.png", RED, size=(40, 20))
    center = load_dataset(f"folder:{wide.parent}", resolution=8)
    padded = load_dataset(f"folder:{wide.parent}", resolution=8, crop="pad")
    assert center.data[0, :, 0, 4].tolist() == list(RED)  # the crop: red to the edge
    assert padded.data[0, :, 0, 4].tolist() == [0, 0, 0] and padded.data[0, :, 4, 4].tolist() == list(RED)


def test_a_full_disk_during_prepare_leaves_no_partial_cache(labelled_folder, full_folder, tmp_path, monkeypatch,
                                                             capsys):
    out = (full_folder or tmp_path / "out") / "prepared"
    if full_folder is None:  # no tmpfs without root: the write itself reports ENOSPC
        def full_disk(*args, **kwargs):
            raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr(cache_module, "_write_gray", full_disk)
        monkeypatch.setattr(cache_module, "_write_rows", full_disk)
    assert main(["data", "prepare", str(labelled_folder), "--resolution", "160", "--out", str(out)]) == 2
    line = one_error_line(capsys.readouterr().err)
    assert "no space left" in line and str(out) in line
    assert not out.exists() or list(out.iterdir()) == []  # no array, no metadata, no temporary file


def test_a_read_only_cache_folder_is_one_line_naming_it(labelled_folder, read_only_folder, capsys):
    assert main(["data", "prepare", str(labelled_folder), "--resolution", "8", "--cache-dir",
                 str(read_only_folder)]) == 2
    line = one_error_line(capsys.readouterr().err)
    assert str(read_only_folder / "decoded") in line


def test_bad_prepare_arguments_are_one_line(labelled_folder, tmp_path, capsys):
    assert main(["data", "prepare", str(labelled_folder), "--resolution", "0"]) == 2
    assert "--resolution must be" in one_error_line(capsys.readouterr().err)
    assert main(["data", "prepare", str(labelled_folder), "--resolution", "8", "--format", "stylegan-zip",
                 "--out", str(tmp_path / "x.tar")]) == 2
    assert "writes a .zip" in one_error_line(capsys.readouterr().err)
    assert main(["data", "prepare", str(tmp_path / "missing"), "--resolution", "8"]) == 2
    assert "does not exist" in one_error_line(capsys.readouterr().err)


def test_stream_reads_the_prepared_rows_the_resident_mode_holds(labelled_folder, tmp_path):
    out = tmp_path / "prepared"
    assert main(["data", "prepare", str(labelled_folder), "--resolution", "32", "--out", str(out)]) == 0
    runs = {}
    for mode in ("resident", "stream"):
        runs[mode] = tmp_path / mode
        assert main([*TRAIN, "--steps", "3", "--data", f"folder:{out}", "--data-mode", mode,
                     "--run-dir", str(runs[mode])]) == 0
    a, b = (torch.load(runs[m] / "checkpoints" / "last.pt", weights_only=True)["generator"] for m in runs)
    assert all(torch.equal(a[k], b[k]) for k in a)
