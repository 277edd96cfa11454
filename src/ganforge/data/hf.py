"""``hf:PATH``: a Hugging Face ``datasets`` set: a ``save_to_disk`` folder, Parquet files, or a hub name.

``hf:~/sets/faces`` (a folder written by ``Dataset.save_to_disk``), ``hf:~/sets/faces/*.parquet`` or a
folder of ``.parquet`` files, ``hf:user/name`` (anything else goes to ``datasets.load_dataset``, which
works wherever the hub is reachable). The image column is the first of the ``Image`` feature type and the
label column the first ``ClassLabel`` (its names become the class names), else an integer column named
``label`` or ``labels``; name them with ``hf:PATH?image=img&label=label`` (``label=`` empty: unlabelled).
A ``DatasetDict`` gives its ``train`` split. The images are decoded like a folder's (cropped to a square,
resized, cached as a memory map for big sets) from their encoded bytes.
"""

from __future__ import annotations

import contextlib
import glob
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from ganforge.data.base import IMAGE, DatasetSource, TensorDataset
from ganforge.data.decoded import DEFAULT_RESOLUTION, load_source
from ganforge.data.images import ImageSource
from ganforge.errors import GanforgeError
from ganforge.progress import interactive, silent

SAVED_MARKERS = ("dataset_info.json", "state.json", "dataset_dict.json")  # what save_to_disk writes
LABEL_NAMES = ("label", "labels")
SPLIT = "train"


def _datasets() -> Any:
    try:
        import datasets
    except ImportError:
        raise GanforgeError("hf: datasets need the Hugging Face datasets library; pip install 'ganforge[hf]'") from None
    return datasets


def parse_argument(arg: str) -> tuple[str, dict[str, str]]:
    """'PATH?image=img&label=y' -> ('PATH', {'image': 'img', 'label': 'y'}); unknown keys are refused."""
    location, _, query = arg.partition("?")
    options = {key: values[-1] for key, values in parse_qs(query, keep_blank_values=True).items()}
    unknown = sorted(set(options) - {"image", "label"})
    if unknown:
        raise GanforgeError(f"hf: unknown option '{unknown[0]}'; use hf:PATH?image=COLUMN&label=COLUMN")
    if not location:
        raise GanforgeError("hf: needs a path or hub name, e.g. --data hf:~/sets/faces")
    return location, options


def _parquet_files(path: Path, location: str) -> list[str]:
    if path.is_dir():
        return sorted(str(p) for p in path.rglob("*.parquet"))
    if path.suffix == ".parquet" and path.is_file():
        return [str(path)]
    return sorted(glob.glob(str(Path(location).expanduser()))) if any(c in location for c in "*?[") else []


def open_hf(location: str) -> Any:
    """The ``datasets.Dataset`` at ``location``: a saved folder, Parquet files, else a hub name."""
    datasets = _datasets()
    path = Path(location).expanduser()
    with library_bars(datasets):
        loaded = _load(datasets, path, location)
    if isinstance(loaded, datasets.DatasetDict):
        if SPLIT not in loaded and len(loaded) != 1:
            raise GanforgeError(f"'{location}' has splits {sorted(loaded)} and no '{SPLIT}'; save one split")
        loaded = loaded[SPLIT] if SPLIT in loaded else next(iter(loaded.values()))
    return loaded


@contextmanager
def library_bars(datasets: Any) -> Iterator[None]:
    """The datasets library's own tqdm bars (resolving files, generating splits) follow ganforge's: none
    under --no-progress, and none where a terminal does not redraw them (a log file would fill with them)."""
    quiet = silent() or not interactive(sys.stderr)
    was_off = datasets.are_progress_bars_disabled()
    if quiet and not was_off:
        datasets.disable_progress_bars()
    try:
        yield
    finally:
        if quiet and not was_off:
            datasets.enable_progress_bars()


def _load(datasets: Any, path: Path, location: str) -> Any:
    try:
        if path.is_dir() and any((path / marker).is_file() for marker in SAVED_MARKERS):
            loaded = datasets.load_from_disk(str(path))
        elif files := _parquet_files(path, location):
            loaded = datasets.load_dataset("parquet", data_files=files, split=SPLIT)
        elif path.exists():
            raise GanforgeError(f"{path} is neither a folder written by save_to_disk nor Parquet files")
        else:
            loaded = datasets.load_dataset(location)
    except GanforgeError:
        raise
    except Exception as exc:  # datasets raises many types (FileNotFoundError, DatasetNotFoundError, ...)
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise GanforgeError(f"cannot load the Hugging Face dataset '{location}' ({first[:200]}); give a "
                            "save_to_disk folder, Parquet files, or a hub name reachable from here") from None
    return loaded


def find_columns(dataset: Any, options: dict[str, str], location: str) -> tuple[str, str | None]:
    """(image column, label column or None), as named in ``options`` or found by feature type."""
    datasets = _datasets()
    features = dataset.features
    columns = list(features)
    image = options.get("image") or next((c for c in columns if isinstance(features[c], datasets.Image)), None)
    if image is None or image not in features:
        what = f"no column '{image}'" if image else "no column of the Image feature type"
        raise GanforgeError(f"hf:{location} has {what} (columns: {', '.join(columns)}); "
                            "name it with hf:PATH?image=COLUMN")
    if "label" in options:
        label = options["label"] or None
        if label is not None and label not in features:
            raise GanforgeError(f"hf:{location} has no column '{label}' (columns: {', '.join(columns)})")
        return image, label
    label = next((c for c in columns if isinstance(features[c], datasets.ClassLabel)), None)
    if label is None:
        label = next((c for c in LABEL_NAMES if c in features and str(getattr(features[c], "dtype", ""))
                      .startswith(("int", "uint"))), None)
    return image, label


class RowReader:
    """The encoded bytes of row ``int(name)``'s image (embedded bytes, or the file its path names)."""

    def __init__(self, dataset: Any, column: str) -> None:
        self.dataset, self.column = dataset, column

    def __call__(self, name: str) -> bytes:
        cell = self.dataset[int(name)][self.column]
        if cell.get("bytes"):
            return bytes(cell["bytes"])
        return Path(cell["path"]).read_bytes()


def _labels(dataset: Any, column: str | None) -> tuple[dict[str, int] | None, list[str] | None]:
    if column is None:
        return None, None
    values = [int(v) for v in dataset[column]]
    if values and min(values) < 0:
        raise GanforgeError(f"column '{column}' has negative labels; unlabelled rows cannot be trained on "
                            "as a class: filter them out, or pass label= to train unlabelled")
    feature = dataset.features[column]
    names = list(feature.names) if hasattr(feature, "names") else None
    return {f"{i:09d}": v for i, v in enumerate(values)}, names


@contextlib.contextmanager
def open_hf_source(arg: str) -> Iterator[ImageSource]:
    """The rows of an ``hf:`` set as an :class:`ImageSource` (names are row numbers) with its labels."""
    location, options = parse_argument(arg)
    dataset = open_hf(location)
    image, label = find_columns(dataset, options, location)
    labels, class_names = _labels(dataset, label)
    raw = dataset.select_columns([image]).cast_column(image, _datasets().Image(decode=False))
    names = [f"{i:09d}" for i in range(len(raw))]
    fingerprint = f"hf-{dataset._fingerprint}-{image}-{label}"
    yield ImageSource(Path(location), names, RowReader(raw, image), fingerprint, labels, class_names)


def load_hf(arg: str | None, cache_dir: Path, download: bool, resolution: int | None,
            crop: str = "center") -> TensorDataset:
    if not arg:
        raise GanforgeError("hf dataset needs a path, e.g. --data hf:~/sets/faces")
    resolution = resolution or DEFAULT_RESOLUTION
    with open_hf_source(arg) as source:
        if not source.names:
            raise GanforgeError(f"hf:{arg} has no rows")
        return load_source(source, "hf", f"hf:{arg}", f"hf:{arg}", cache_dir, resolution, crop)


HF = DatasetSource(
    name="hf",
    description="a Hugging Face datasets set: save_to_disk folder, Parquet files or hub name; image and "
                "label columns found (or hf:PATH?image=COL&label=COL); resized to --resolution (default 64)",
    load=load_hf,
    kind=IMAGE,
    is_present=lambda cache_dir: None,
    takes_argument=True,
    example="hf:~/sets/faces",
    metavar="PATH",
    classes_note="ClassLabel",
    crops=True,
)
