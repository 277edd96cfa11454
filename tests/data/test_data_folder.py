"""folder:PATH: folders and zips of images, labels from subfolders, gray/RGB, corrupt files."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from ganforge.data import cache as cache_module
from ganforge.data import decoded as decoded_module
from ganforge.data import load_dataset
from ganforge.errors import GanforgeError

RED, GREEN, BLUE = (220, 20, 20), (20, 220, 20), (20, 20, 220)


def test_class_subfolders_become_sorted_labels(tmp_path, cache, make_image):
    root = tmp_path / "pics"
    make_image(root / "dog" / "a.png", GREEN)
    make_image(root / "dog" / "nested" / "b.JPG", GREEN)  # recursive, extension in any case
    make_image(root / "cat" / "c.webp", RED)
    make_image(root / "cat" / "d.bmp", RED)
    make_image(root / "cat" / "e.jpeg", RED)
    (root / "cat" / "notes.txt").write_text("not an image")
    (root / "cat" / ".hidden.png").write_bytes(b"AppleDouble junk")
    dataset = load_dataset(f"folder:{root}", cache_dir=cache)
    assert dataset.class_names == ["cat", "dog"]
    assert dataset.num_classes == 2 and dataset.skipped == 0
    assert dataset.data.shape == (5, 3, 64, 64) and dataset.data.dtype == torch.uint8
    assert sorted(dataset.labels.tolist()) == [0, 0, 0, 1, 1]
    red = dataset.data[dataset.labels == 0].float().mean((0, 2, 3))
    green = dataset.data[dataset.labels == 1].float().mean((0, 2, 3))
    assert red[0] > 180 and red[1] < 60 and green[1] > 180 and green[0] < 60


def test_images_in_the_root_make_an_unlabelled_set(tmp_path, cache, make_image):
    make_image(tmp_path / "pics" / "a.png")
    make_image(tmp_path / "pics" / "sub" / "b.png")
    dataset = load_dataset(f"folder:{tmp_path / 'pics'}", cache_dir=cache, resolution=16)
    assert dataset.num_classes == 0 and dataset.class_names is None
    assert dataset.labels.tolist() == [0, 0]
    assert dataset.data.shape == (2, 3, 16, 16)


def test_center_crop_keeps_the_middle_square(tmp_path, cache):
    from PIL import Image

    image = np.zeros((30, 50, 3), dtype=np.uint8)  # 50 wide: 10 px bands left and right get cropped
    image[:, :10] = RED
    image[:, 10:40] = GREEN
    image[:, 40:] = BLUE
    (tmp_path / "pics").mkdir()
    Image.fromarray(image).save(tmp_path / "pics" / "wide.png")
    dataset = load_dataset(f"folder:{tmp_path / 'pics'}", cache_dir=cache, resolution=30)
    assert dataset.data.shape == (1, 3, 30, 30)
    assert torch.equal(dataset.data[0].permute(1, 2, 0).reshape(-1, 3).unique(dim=0), torch.tensor([GREEN],
                                                                                               dtype=torch.uint8))


def test_all_gray_images_stay_one_channel(tmp_path, cache, make_image):
    make_image(tmp_path / "g" / "a.png", 100, mode="L")
    make_image(tmp_path / "g" / "b.png", 200, mode="L")
    make_image(tmp_path / "g" / "c.jpg", 50, mode="L")
    dataset = load_dataset(f"folder:{tmp_path / 'g'}", cache_dir=cache, resolution=8)
    assert dataset.data.shape == (3, 1, 8, 8)
    assert sorted(int(v) for v in dataset.data.float().mean((1, 2, 3)).round()) == [50, 100, 200]


def test_one_colour_image_makes_everything_rgb(tmp_path, cache, make_image):
    make_image(tmp_path / "m" / "a_gray.png", 100, mode="L")
    make_image(tmp_path / "m" / "b_palette.png", 3, mode="P")
    make_image(tmp_path / "m" / "c_rgb.png", BLUE)
    dataset = load_dataset(f"folder:{tmp_path / 'm'}", cache_dir=cache, resolution=8)
    assert dataset.data.shape == (3, 3, 8, 8)
    gray = dataset.data[0]
    assert torch.equal(gray[0], gray[1]) and torch.equal(gray[1], gray[2]) and gray[0, 0, 0] == 100
    assert dataset.data[2, :, 0, 0].tolist() == list(BLUE)


def test_transparency_is_flattened_on_white(tmp_path, cache, make_image):
    make_image(tmp_path / "t" / "clear.png", (255, 0, 0, 0), mode="RGBA")  # fully transparent red
    make_image(tmp_path / "t" / "solid.png", (0, 0, 255, 255), mode="RGBA")
    dataset = load_dataset(f"folder:{tmp_path / 't'}", cache_dir=cache, resolution=8)
    assert dataset.data[0, :, 3, 3].tolist() == [255, 255, 255]
    assert dataset.data[1, :, 3, 3].tolist() == [0, 0, 255]


def test_sixteen_bit_gray_is_scaled_not_clipped(tmp_path, cache):
    from PIL import Image

    (tmp_path / "d").mkdir()
    Image.fromarray(np.full((8, 8), 32896, dtype=np.uint16)).save(tmp_path / "d" / "deep.png")
    dataset = load_dataset(f"folder:{tmp_path / 'd'}", cache_dir=cache, resolution=8)
    assert dataset.data.shape == (1, 1, 8, 8) and dataset.data[0, 0, 0, 0].item() == 128


def test_corrupt_images_are_skipped_counted_and_reported(tmp_path, cache, make_image, capsys):
    root = tmp_path / "pics"
    make_image(root / "good1.png")
    make_image(root / "good2.jpg")
    (root / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 definitely not a jpeg")
    whole = (root / "good1.png").read_bytes()
    (root / "truncated.png").write_bytes(whole[: len(whole) // 2])
    dataset = load_dataset(f"folder:{root}", cache_dir=cache, resolution=8)
    assert len(dataset) == 2 and dataset.skipped == 2
    err = capsys.readouterr().err
    assert "skipped 2 unreadable images" in err and len(err.strip().splitlines()) == 1


def test_zip_with_a_wrapper_folder_and_class_subfolders(tmp_path, cache, zip_of, image_data):
    archive = zip_of(tmp_path / "pics.zip", {
        "pics/zebra/1.png": image_data((10, 10, 10)),
        "pics/zebra/2.JPEG": image_data((10, 10, 10), fmt="JPEG"),
        "pics/ant/3.png": image_data((250, 250, 250)),
        "pics/ant/broken.png": b"not a png",
        "__MACOSX/pics/ant/._3.png": b"resource fork",
        "pics/ant/readme.md": b"text",
    })
    dataset = load_dataset(f"folder:{archive}", cache_dir=cache, resolution=8)
    assert dataset.class_names == ["ant", "zebra"]
    assert dataset.labels.tolist() == [0, 1, 1] and dataset.skipped == 1
    assert dataset.data[0].float().mean() > 240 and dataset.data[1].float().mean() < 20


def test_zip_with_images_at_its_root_is_unlabelled(tmp_path, cache, zip_of, image_data):
    archive = zip_of(tmp_path / "flat.zip", {"a.png": image_data(RED), "b.webp": image_data(GREEN, fmt="WEBP")})
    dataset = load_dataset(f"folder:{archive}", cache_dir=cache, resolution=8)
    assert len(dataset) == 2 and dataset.num_classes == 0


def test_truncated_zip_is_an_error(tmp_path, cache, zip_of, image_data):
    archive = zip_of(tmp_path / "cut.zip", {f"{i}.png": image_data(RED) for i in range(3)})
    archive.write_bytes(archive.read_bytes()[:100])
    with pytest.raises(GanforgeError, match="not a valid zip file"):
        load_dataset(f"folder:{archive}", cache_dir=cache)


def test_no_readable_image_is_an_error(tmp_path, cache):
    root = tmp_path / "bad"
    root.mkdir()
    (root / "a.png").write_bytes(b"garbage")
    with pytest.raises(GanforgeError, match="no readable image"):
        load_dataset(f"folder:{root}", cache_dir=cache)


def test_folder_without_images_is_an_error(tmp_path, cache):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("hi")
    with pytest.raises(GanforgeError, match="no image files"):
        load_dataset(f"folder:{tmp_path / 'empty'}", cache_dir=cache)


def test_missing_path_and_non_zip_file_are_errors(tmp_path, cache):
    with pytest.raises(GanforgeError, match="does not exist"):
        load_dataset(f"folder:{tmp_path / 'nope'}", cache_dir=cache)
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(GanforgeError, match="neither a folder nor a .zip"):
        load_dataset(f"folder:{tmp_path / 'file.txt'}", cache_dir=cache)
    with pytest.raises(GanforgeError, match="needs an argument"):
        load_dataset("folder", cache_dir=cache)


def test_tilde_is_expanded(tmp_path, cache, make_image, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    make_image(tmp_path / "mypics" / "a.png")
    dataset = load_dataset("folder:~/mypics", cache_dir=cache, resolution=8)
    assert len(dataset) == 1 and dataset.name == "folder:~/mypics"


def test_big_folders_are_decoded_once_and_cached(tmp_path, cache, make_image, monkeypatch):
    monkeypatch.setattr(decoded_module, "CACHE_MIN_IMAGES", 2)
    root = tmp_path / "pics"
    make_image(root / "a" / "1.png", RED)
    make_image(root / "b" / "2.png", GREEN)
    first = load_dataset(f"folder:{root}", cache_dir=cache, resolution=8)
    assert len(list((cache / "decoded").glob("folder-*.npy"))) == 1

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded again although cached")

    monkeypatch.setattr(cache_module, "decode_chunk", no_decoding)
    second = load_dataset(f"folder:{root}", cache_dir=cache, resolution=8)
    assert torch.equal(first.data, second.data) and torch.equal(first.labels, second.labels)
    assert second.class_names == ["a", "b"]

    # a changed file invalidates the cached copy (and its old array is replaced, not kept)
    monkeypatch.undo()
    monkeypatch.setattr(decoded_module, "CACHE_MIN_IMAGES", 2)
    make_image(root / "b" / "2.png", BLUE)
    os.utime(root / "b" / "2.png", ns=(1, 1))
    third = load_dataset(f"folder:{root}", cache_dir=cache, resolution=8)
    assert third.data[1, :, 0, 0].tolist() == list(BLUE)
    assert len(list((cache / "decoded").glob("folder-*.npy"))) == 1
    assert not list((cache / "decoded").glob(".*part"))
