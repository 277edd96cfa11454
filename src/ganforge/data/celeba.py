"""``celeba`` / ``celeba:ATTR``: the 202,599 aligned CelebA faces, center-cropped to a square, 64x64.

Files live in ``<cache>/celeba/``: ``img_align_celeba.zip`` (or that zip extracted, i.e. a folder
``img_align_celeba/`` of ``000001.jpg``...) and, for labels, ``list_attr_celeba.txt``. The official host
is Google Drive, which often refuses automated downloads ("quota exceeded"); then download the files in
a browser from the CelebA page and put them in that folder under those exact names.

``celeba`` is unlabelled; ``celeba:Smiling`` (any of the 40 binary attributes) gives 2 classes:
0 = without the attribute, 1 = with it. Decoding takes minutes, so the decoded array is cached under
``<cache>/decoded/`` per resolution and later runs load it instantly.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import numpy as np
import torch

from ganforge.data.base import IMAGE, DatasetSource, TensorDataset
from ganforge.data.cache import Decoded, cached_or_built, decoded_dir, load_decoded, warn_skipped
from ganforge.data.download import RemoteFile, ensure_files, removing_if_corrupt
from ganforge.data.images import file_fingerprint, open_image_source
from ganforge.data.rowfile import RowFile
from ganforge.errors import GanforgeError, did_you_mean

IMAGES_ZIP = "img_align_celeba.zip"
IMAGES_FOLDER = "img_align_celeba"
ATTR_FILE = "list_attr_celeba.txt"
CELEBA_SIZE = 202_599
DEFAULT_RESOLUTION = 64
CELEBA_PAGE = "https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html"
EXTRACTED_HINT = (f" (the zip may also be extracted there, as {{}}/{IMAGES_FOLDER}/000001.jpg ...; "
                  f"browser downloads are linked from {CELEBA_PAGE})")


def _drive_urls(file_id: str) -> tuple[str, ...]:
    # the usercontent host with confirm=t skips the "cannot scan for viruses" page of large files
    return (f"https://drive.usercontent.google.com/download?id={file_id}&export=download&confirm=t",
            f"https://drive.google.com/uc?export=download&id={file_id}")


# Google Drive ids and md5 sums of the official CelebA release (as used by torchvision)
CELEBA_IMAGES: tuple[RemoteFile, ...] = (
    RemoteFile(IMAGES_ZIP, "00d2c5bc6d35e252742224ab0c1e8fcb", _drive_urls("0B7EVK8r0v71pZjFTYXZWM3FlRnM")),
)
CELEBA_ATTRS: tuple[RemoteFile, ...] = (
    RemoteFile(ATTR_FILE, "75e246fa4810816ffd6ee81facbd244c", _drive_urls("0B7EVK8r0v71pblRyaVFSWGxPY0U")),
)

# the header of list_attr_celeba.txt, so a misspelled attribute fails before any download
CELEBA_ATTRIBUTES = (
    "5_o_Clock_Shadow", "Arched_Eyebrows", "Attractive", "Bags_Under_Eyes", "Bald", "Bangs", "Big_Lips",
    "Big_Nose", "Black_Hair", "Blond_Hair", "Blurry", "Brown_Hair", "Bushy_Eyebrows", "Chubby", "Double_Chin",
    "Eyeglasses", "Goatee", "Gray_Hair", "Heavy_Makeup", "High_Cheekbones", "Male", "Mouth_Slightly_Open",
    "Mustache", "Narrow_Eyes", "No_Beard", "Oval_Face", "Pale_Skin", "Pointy_Nose", "Receding_Hairline",
    "Rosy_Cheeks", "Sideburns", "Smiling", "Straight_Hair", "Wavy_Hair", "Wearing_Earrings", "Wearing_Hat",
    "Wearing_Lipstick", "Wearing_Necklace", "Wearing_Necktie", "Young",
)


def celeba_dir(cache_dir: Path) -> Path:
    return cache_dir / "celeba"


def resolve_attribute(arg: str) -> str:
    """Case-insensitive attribute name -> its official spelling; GanforgeError listing them otherwise."""
    by_lower = {name.lower(): name for name in CELEBA_ATTRIBUTES}
    if arg.lower() in by_lower:
        return by_lower[arg.lower()]
    raise GanforgeError(f"unknown CelebA attribute '{arg}'{did_you_mean(arg, CELEBA_ATTRIBUTES)}; "
                        f"choose one of: {', '.join(CELEBA_ATTRIBUTES)}")


def parse_attributes(text: str) -> tuple[list[str], dict[str, np.ndarray]]:
    """list_attr_celeba.txt -> (attribute names, {image file name: row of +1/-1})."""
    lines = text.splitlines()
    count = int(lines[0])
    header = lines[1].split()
    rows = {}
    for line in lines[2:]:
        fields = line.split()
        if not fields:
            continue
        if len(fields) != len(header) + 1:
            raise ValueError(f"row for {fields[0]} has {len(fields) - 1} values, header has {len(header)}")
        rows[fields[0]] = np.array([int(v) for v in fields[1:]], dtype=np.int8)
    if len(rows) != count:
        raise ValueError(f"{len(rows)} rows, first line announces {count}")
    return header, rows


def attribute_labels(attr_path: Path, attribute: str, names: list[str]) -> torch.Tensor:
    with removing_if_corrupt(attr_path, "CelebA attribute list"):
        header, rows = parse_attributes(attr_path.read_text())
    if attribute not in header:
        raise GanforgeError(f"{attr_path} has no column '{attribute}'; is it the official {ATTR_FILE}?")
    column = header.index(attribute)
    labels = []
    for name in names:
        row = rows.get(PurePosixPath(name).name)
        if row is None:
            raise GanforgeError(f"{attr_path} has no row for image {name}; use the official {ATTR_FILE}")
        labels.append(1 if row[column] > 0 else 0)
    return torch.tensor(labels, dtype=torch.int64)


def _image_location(folder: Path) -> Path | None:
    """The extracted folder when it holds images, else the zip; None when neither is there."""
    extracted = folder / IMAGES_FOLDER
    if extracted.is_dir() and any(extracted.iterdir()):
        return extracted
    return folder / IMAGES_ZIP if (folder / IMAGES_ZIP).is_file() else None


def decode_celeba(cache_dir: Path, download: bool, resolution: int) -> Decoded:
    folder = celeba_dir(cache_dir)
    key = f"celeba-{resolution}"
    location = _image_location(folder)
    if location is None or location.suffix == ".zip":
        # a zip's fingerprint is a stat, so a cached decoding is found without hashing 1.4 GB; with no
        # images at all any cached decoding serves (the zip may be deleted once decoded)
        cached = load_decoded(decoded_dir(cache_dir), key, file_fingerprint(location) if location else None)
        if cached is not None:
            return cached
        hint = EXTRACTED_HINT.format(folder)
        location = ensure_files("celeba", CELEBA_IMAGES, folder, download, hint=hint)[0]
    with open_image_source(location) as source:
        if not source.names:
            raise GanforgeError(f"no .jpg images in {location}; expected the CelebA {IMAGES_FOLDER} images")
        return cached_or_built(cache_dir, key, source, resolution, "center")


def load_celeba(arg: str | None, cache_dir: Path, download: bool, resolution: int | None) -> TensorDataset:
    attribute = resolve_attribute(arg) if arg is not None else None
    decoded = decode_celeba(cache_dir, download, resolution or DEFAULT_RESOLUTION)
    warn_skipped(decoded.skipped, "CelebA")
    images = torch.from_numpy(decoded.images)
    if attribute is None:
        return TensorDataset(images, torch.zeros(len(images), dtype=torch.int64), num_classes=0, name="celeba",
                             skipped=decoded.skipped, rows=RowFile.of(decoded.images))
    (attr_path,) = ensure_files("celeba", CELEBA_ATTRS, celeba_dir(cache_dir), download)
    labels = attribute_labels(attr_path, attribute, decoded.names)
    return TensorDataset(images, labels, num_classes=2, name=f"celeba:{attribute}",
                         class_names=[f"not {attribute}", attribute], skipped=decoded.skipped,
                         rows=RowFile.of(decoded.images))


def _present(cache_dir: Path) -> bool:
    if _image_location(celeba_dir(cache_dir)) is not None:
        return True
    return (cache_dir / "decoded" / f"celeba-{DEFAULT_RESOLUTION}.json").is_file()


def _fetch(cache_dir: Path) -> list[Path]:
    folder = celeba_dir(cache_dir)
    return ensure_files("celeba", CELEBA_IMAGES + CELEBA_ATTRS, folder, download=True,
                        hint=EXTRACTED_HINT.format(folder))


CELEBA = DatasetSource(
    name="celeba",
    description="CelebA aligned faces, center-cropped, 64x64 RGB; celeba:ATTR labels a binary attribute "
                "(e.g. celeba:Smiling)",
    load=load_celeba,
    kind=IMAGE,
    resolution=DEFAULT_RESOLUTION,
    channels=3,
    size=CELEBA_SIZE,
    classes_note="0 | 2 (:ATTR)",
    is_present=_present,
    argument_optional=True,
    metavar="ATTR",
    example="celeba:Smiling",
    download_files=_fetch,
)
