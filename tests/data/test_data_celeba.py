"""celeba / celeba:ATTR on a small CelebA-like zip and attribute list in the official layout."""

from __future__ import annotations

import io
import shutil
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

from ganforge.data import cache as cache_module
from ganforge.data import celeba, load_dataset
from ganforge.errors import GanforgeError

N = 6
SMILING = [1, -1, 1, 1, -1, -1]


def face_jpeg(seed: int) -> bytes:
    """178x218 like the aligned faces: red bands in the 20 rows cropped away top and bottom."""
    image = np.zeros((218, 178, 3), dtype=np.uint8)
    image[:, :] = (30, 200 - 10 * seed, 30)
    image[:20] = (250, 0, 0)
    image[-20:] = (250, 0, 0)
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=95)
    return buffer.getvalue()


def attr_text(names: list[str]) -> str:
    header = " ".join(celeba.CELEBA_ATTRIBUTES) + " \n"  # the official file ends its header with a space
    smiling = celeba.CELEBA_ATTRIBUTES.index("Smiling")
    rows = []
    for i, name in enumerate(names):
        values = [-1] * len(celeba.CELEBA_ATTRIBUTES)
        values[smiling] = SMILING[i]
        rows.append(name + " " + " ".join(f"{v:2d}" for v in values))
    return f"{len(names)}\n" + header + "\n".join(rows) + "\n"


@pytest.fixture
def celeba_files(mirror, remote_for, zip_of, monkeypatch):
    names = [f"{i:06d}.jpg" for i in range(1, N + 1)]
    zip_of(mirror / celeba.IMAGES_ZIP, {f"img_align_celeba/{name}": face_jpeg(i) for i, name in enumerate(names)})
    (mirror / celeba.ATTR_FILE).write_text(attr_text(names))
    monkeypatch.setattr(celeba, "CELEBA_IMAGES", (remote_for(mirror / celeba.IMAGES_ZIP),))
    monkeypatch.setattr(celeba, "CELEBA_ATTRS", (remote_for(mirror / celeba.ATTR_FILE),))
    return names


def test_unlabelled_faces_are_cropped_resized_and_cached(celeba_files, cache, monkeypatch):
    dataset = load_dataset("celeba", cache_dir=cache)
    assert dataset.data.shape == (N, 3, 64, 64) and dataset.data.dtype == torch.uint8
    assert dataset.num_classes == 0 and dataset.labels.tolist() == [0] * N
    assert (cache / "celeba" / celeba.IMAGES_ZIP).is_file()
    assert not (cache / "celeba" / celeba.ATTR_FILE).exists()  # only fetched when labels are asked for
    # the center square crop removes the red bands entirely
    red, green = dataset.data[:, 0].float().mean(), dataset.data[:, 1].float().mean()
    assert red < 60 and green > 120
    assert (cache / "decoded" / "celeba-64.json").is_file()

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded again although cached")

    monkeypatch.setattr(cache_module, "decode_chunk", no_decoding)
    again = load_dataset("celeba", cache_dir=cache)
    assert torch.equal(again.data, dataset.data)
    (cache / "celeba" / celeba.IMAGES_ZIP).unlink()  # decoded once, the 1.4 GB zip may go
    assert torch.equal(load_dataset("celeba", cache_dir=cache, download=False).data, dataset.data)
    assert celeba.CELEBA.is_present(cache)


def test_attribute_gives_two_classes(celeba_files, cache):
    dataset = load_dataset("celeba:smiling", cache_dir=cache, resolution=32)
    assert dataset.data.shape == (N, 3, 32, 32)
    assert dataset.num_classes == 2 and dataset.class_names == ["not Smiling", "Smiling"]
    assert dataset.labels.tolist() == [1 if v > 0 else 0 for v in SMILING]
    assert dataset.name == "celeba:Smiling"
    assert (cache / "decoded" / "celeba-32.json").is_file()


def test_extracted_folder_placed_by_hand_is_used(celeba_files, cache, mirror):
    with zipfile.ZipFile(mirror / celeba.IMAGES_ZIP) as archive:
        archive.extractall(cache / "celeba")
    (cache / "celeba" / "img_align_celeba" / "000003.jpg").write_bytes(b"corrupt")
    shutil.copy(mirror / celeba.ATTR_FILE, cache / "celeba" / celeba.ATTR_FILE)
    dataset = load_dataset("celeba:Smiling", cache_dir=cache, download=False)
    assert len(dataset) == N - 1 and dataset.skipped == 1
    kept = [v for i, v in enumerate(SMILING) if i != 2]
    assert dataset.labels.tolist() == [1 if v > 0 else 0 for v in kept]


def test_unknown_attribute_fails_before_any_download(cache):
    with pytest.raises(GanforgeError, match="unknown CelebA attribute 'Smile'.*Smiling"):
        load_dataset("celeba:Smile", cache_dir=cache)
    assert not (cache / "celeba").exists()


def test_missing_files_name_drive_url_and_folder(cache):
    with pytest.raises(GanforgeError) as info:
        load_dataset("celeba", cache_dir=cache, download=False)
    message = str(info.value)
    assert "https://drive.usercontent.google.com/download?id=0B7EVK8r0v71pZjFTYXZWM3FlRnM" in message
    assert str(cache / "celeba") in message and "img_align_celeba/" in message
    assert not celeba.CELEBA.is_present(cache)


def test_attribute_file_is_parsed_like_the_official_one():
    header, rows = celeba.parse_attributes(attr_text(["000001.jpg", "000002.jpg"]))
    assert header == list(celeba.CELEBA_ATTRIBUTES) and len(header) == 40
    assert rows["000001.jpg"][header.index("Smiling")] == 1
    with pytest.raises(ValueError, match="announces"):
        celeba.parse_attributes("3\n" + attr_text(["000001.jpg"]).split("\n", 1)[1])
