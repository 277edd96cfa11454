"""Dataset sources and their registry.

``load_dataset("digits5k")``, ``load_dataset("folder:~/pics", resolution=64)``: every source decodes
once into a :class:`TensorDataset` kept in memory.

Downloaded files live in ``<cache>/<name>/`` (cache: ``--cache-dir``, ``$GANFORGE_CACHE`` or
``~/.cache/ganforge``); slow decodings (CelebA, big folders) are cached in ``<cache>/decoded/``.
"""

from __future__ import annotations

from pathlib import Path

from ganforge.data.base import (
    IMAGE,
    KIND_NOUNS,
    POINTS,
    DatasetSource,
    TensorDataset,
    default_cache_dir,
    resize_images,
    to_model_range,
    to_uint8,
)
from ganforge.data.celeba import CELEBA
from ganforge.data.cifar import CIFAR10
from ganforge.data.crops import RANDOM, margin_size, with_random_crops
from ganforge.data.digits import DIGITS5K
from ganforge.data.folder import FOLDER
from ganforge.data.hf import HF
from ganforge.data.mnist import FASHION_MNIST, MNIST
from ganforge.data.stacked import STACKED, STACKED_MODES, stack_digits, triple_labels
from ganforge.data.toy2d import TOY2D, TOY2D_NAMES, sample_toy2d, toy2d_modes
from ganforge.errors import GanforgeError, did_you_mean
from ganforge.registry import Registry

DATASETS: Registry[DatasetSource] = Registry("dataset", plugin_group="ganforge.datasets")
for _source in (DIGITS5K, MNIST, FASHION_MNIST, CIFAR10, CELEBA, FOLDER, HF, TOY2D, STACKED):
    DATASETS.register(_source.name, _source)


def split_spec(spec: str) -> tuple[DatasetSource, str | None]:
    """'folder:PATH' -> (folder source, 'PATH'); 'mnist' -> (mnist source, None); 'celeba[:ATTR]'."""
    name, sep, arg = spec.partition(":")
    if name not in DATASETS and Path(spec).expanduser().exists():  # a path where a name belongs
        raise GanforgeError(f"unknown dataset '{spec}': it is a path, not a dataset name; to use the images in "
                            f"it, pass folder:{spec}")
    source = DATASETS.get(name)
    accepts_argument = source.takes_argument or source.argument_optional
    if sep and not accepts_argument:
        raise GanforgeError(f"dataset '{name}' takes no ':' argument; use --data {name}")
    if (source.takes_argument and not arg) or (sep and not arg):
        raise GanforgeError(f"dataset '{name}' needs an argument after ':', e.g. --data {source.example}")
    if source.choices and arg not in source.choices:
        valid = ", ".join(f"{name}:{choice}" for choice in source.choices)
        raise GanforgeError(f"unknown {name} variant '{arg}'{did_you_mean(arg, source.choices)}; "
                            f"choose one of: {valid}")
    return source, (arg if sep else None)


def dataset_kind(spec: str) -> str:
    """IMAGE or POINTS for a --data value, as its source declares; nothing is read or downloaded."""
    source, _ = split_spec(spec)
    return source.kind


def dataset_channels(spec: str) -> int | None:
    """The image channels a --data value's source declares; None where they are not fixed (folder:PATH)
    or the name is not a registered source (a run trained on data passed from Python). Nothing is loaded."""
    name = spec.partition(":")[0]
    if name not in DATASETS:
        return None
    return split_spec(spec)[0].channels


def kind_sources(kind: str) -> list[str]:
    """How the --data values of ``kind`` are written (``toy2d:ring|grid``), for messages."""
    return [source.usage for _, source in DATASETS.items() if source.kind == kind]


def load_dataset(spec: str, *, cache_dir: Path | None = None, resolution: int | None = None,
                 download: bool = True, crop: str = "center") -> TensorDataset:
    """Load a dataset by name, resized to ``resolution`` when given (images only); ``crop`` ("center" or
    "pad") squares non-square images, for the sources that decode image files; "random" stores them 1/8
    larger, center-cropped, for a random crop each time an image is drawn (``ganforge.data.crops``)."""
    source, arg = split_spec(spec)
    if resolution is not None and resolution < 1:
        raise GanforgeError(f"resolution must be a positive number of pixels, got {resolution}")
    if crop == RANDOM:
        stored = margin_size(resolution) if resolution else None
        return with_random_crops(load_dataset(spec, cache_dir=cache_dir, resolution=stored, download=download),
                                 resolution)
    cache = Path(cache_dir) if cache_dir else default_cache_dir()
    dataset = (source.load(arg, cache, download, resolution, crop=crop) if source.crops
               else source.load(arg, cache, download, resolution))
    if dataset.kind != source.kind:
        raise ValueError(f"dataset source '{source.name}' declares {source.kind} data but loaded {dataset.kind}")
    if resolution and dataset.is_image and dataset.resolution != resolution:
        if dataset.items is not None:  # resizing here would read every item once and freeze its transforms
            raise GanforgeError(f"the Dataset's images are {dataset.resolution}x{dataset.resolution}, not "
                                f"{resolution}x{resolution}; resize them in its transform, or leave resolution unset")
        dataset.data, dataset.rows = resize_images(dataset.data, resolution), None  # the file no longer holds data
    return dataset


__all__ = ["DATASETS", "IMAGE", "KIND_NOUNS", "POINTS", "STACKED_MODES", "TOY2D_NAMES", "DatasetSource",
           "TensorDataset", "dataset_channels", "dataset_kind", "default_cache_dir", "kind_sources", "load_dataset", "sample_toy2d",
           "split_spec", "stack_digits", "to_model_range", "to_uint8", "toy2d_modes", "triple_labels"]
