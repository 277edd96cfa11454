"""``folder:PATH``: your own images, from a folder (searched recursively) or a .zip.

Images (.png .jpg .jpeg .webp .bmp, any case) are center-cropped to a square and resized to the
requested resolution (64 by default). Labels come from class subfolders, ``PATH/cat/1.jpg`` and
``PATH/dog/2.jpg`` -> classes ``cat``, ``dog`` (sorted); when any image sits directly in the root the
set is unlabelled. A single folder holding everything (typical of zips) is looked through, not a class.
A StyleGAN dataset zip's ``dataset.json`` labels win over folders. Unreadable files are skipped and named.
Folders of 2,000+ images are decoded once into a memory-mapped cache; ``PATH`` may also be a folder
written by ``ganforge data prepare --out``.
"""

from __future__ import annotations

from pathlib import Path

from ganforge.data.base import IMAGE, DatasetSource, TensorDataset
from ganforge.data.decoded import DEFAULT_RESOLUTION, load_source
from ganforge.data.images import IMAGE_EXTENSIONS, open_image_source
from ganforge.data.prepared import is_prepared, load_prepared
from ganforge.errors import GanforgeError


def load_folder(arg: str | None, cache_dir: Path, download: bool, resolution: int | None,
                crop: str = "center") -> TensorDataset:
    if not arg:
        raise GanforgeError("folder dataset needs a path, e.g. --data folder:~/pictures")
    path = Path(arg).expanduser()
    if is_prepared(path):
        return load_prepared(path, arg, resolution)
    resolution = resolution or DEFAULT_RESOLUTION
    with open_image_source(path) as source:
        if not source.names:
            raise GanforgeError(f"no image files ({' '.join(IMAGE_EXTENSIONS)}) in {path}; check the path")
        return load_source(source, "folder", path, f"folder:{arg}", cache_dir, resolution, crop)


FOLDER = DatasetSource(
    name="folder",
    description="your images: a folder (recursive) or .zip; class subfolders become labels; "
                "center-cropped, resized to --resolution (default 64)",
    load=load_folder,
    kind=IMAGE,
    is_present=lambda cache_dir: None,  # depends on the path, not on the cache
    takes_argument=True,
    example="folder:~/pictures",
    metavar="PATH",
    classes_note="subfolders",
    crops=True,
)
