"""Dataset sources and their registry.

``load_dataset("digits5k")``, ``load_dataset("folder:~/pics", resolution=64)``: every source decodes
once into a :class:`TensorDataset` kept in memory.
"""

from __future__ import annotations

from pathlib import Path

from ganforge.data.base import (
    DatasetSource,
    TensorDataset,
    default_cache_dir,
    resize_images,
    to_model_range,
    to_uint8,
)
from ganforge.data.digits import DIGITS5K
from ganforge.errors import GanforgeError
from ganforge.registry import Registry

DATASETS: Registry[DatasetSource] = Registry("dataset")
for _source in (DIGITS5K,):
    DATASETS.register(_source.name, _source)


def split_spec(spec: str) -> tuple[DatasetSource, str | None]:
    """'folder:PATH' -> (folder source, 'PATH'); 'mnist' -> (mnist source, None)."""
    name, sep, arg = spec.partition(":")
    source = DATASETS.get(name)
    if source.takes_argument and not (sep and arg):
        raise GanforgeError(f"dataset '{name}' needs an argument, e.g. --data {source.example}")
    if not source.takes_argument and sep:
        raise GanforgeError(f"dataset '{name}' takes no ':' argument; use --data {name}")
    return source, (arg if sep else None)


def load_dataset(spec: str, *, cache_dir: Path | None = None, resolution: int | None = None,
                 download: bool = True) -> TensorDataset:
    """Load a dataset by name, resized to ``resolution`` when given (images only)."""
    source, arg = split_spec(spec)
    dataset = source.load(arg, Path(cache_dir) if cache_dir else default_cache_dir(), download, resolution)
    if resolution and dataset.is_image and dataset.resolution != resolution:
        dataset.data = resize_images(dataset.data, resolution)
    return dataset


__all__ = ["DATASETS", "DatasetSource", "TensorDataset", "default_cache_dir", "load_dataset",
           "split_spec", "to_model_range", "to_uint8"]
