"""The user's own data as a ganforge dataset: a ``torch.utils.data.Dataset`` or a tensor.

A tensor is a :class:`TensorDataset` as it is. A map-style Dataset becomes an :class:`ItemDataset`: its
first item gives the sample shape, and the samples are read through ``__getitem__`` when a batch needs
them (``--data-mode stream``: every epoch, in DataLoader workers, so random transforms stay live), or all
at once, on the first use of ``data``, for the resident mode and the metrics' reference images. Images
become uint8 ``(N, C, H, W)``; float images are taken to lie in ``value_range`` (``(0, 1)``, the ToTensor
convention, unless told otherwise). A 2-D float tensor ``(N, D)`` is point data, trained on as it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from ganforge.data.base import TensorDataset
from ganforge.errors import GanforgeError


def split_item(item: Any) -> tuple[torch.Tensor, int | None]:
    """A dataset item is a sample or (sample, label, ...); anything else is refused."""
    if isinstance(item, (tuple, list)):
        if not item:
            raise GanforgeError("a dataset item is an empty tuple; return a sample or (sample, label)")
        sample, label = item[0], (item[1] if len(item) > 1 else None)
    else:
        sample, label = item, None
    if not isinstance(sample, torch.Tensor):
        raise GanforgeError(f"dataset items must be tensors or (tensor, label), got {type(sample).__name__}; "
                            "convert images with torch.as_tensor or a transform")
    return sample, None if label is None else int(label)


def _stack(dataset: Any) -> tuple[torch.Tensor, torch.Tensor | None]:
    try:
        size = len(dataset)
    except TypeError:
        raise GanforgeError("the dataset has no len(); pass a map-style torch Dataset or a tensor") from None
    if size == 0:
        raise GanforgeError("the dataset is empty; it needs at least one batch of samples")
    samples, labels = [], []
    for index in range(size):
        sample, label = split_item(dataset[index])
        samples.append(sample)
        labels.append(label)
    try:
        data = torch.stack(samples)
    except RuntimeError:
        raise GanforgeError("dataset samples differ in shape; resize them to one shape first") from None
    if all(label is None for label in labels):
        return data, None
    if any(label is None for label in labels):
        raise GanforgeError("some dataset items have a label and others do not; label all or none")
    return data, torch.tensor(labels, dtype=torch.int64)


def to_uint8_images(images: torch.Tensor, value_range: tuple[float, float]) -> torch.Tensor:
    if images.dtype == torch.uint8:
        return images
    low, high = value_range
    images = images.float()
    found_low, found_high = float(images.min()), float(images.max())
    slack = 1e-3 * (high - low)
    if found_low < low - slack or found_high > high + slack:
        raise GanforgeError(f"image values span [{found_low:.3g}, {found_high:.3g}], outside value_range "
                            f"{value_range}; pass value_range=(-1, 1) for images in [-1, 1] or uint8 images")
    scaled = (images - low) / (high - low) * 255.0
    return scaled.round().clamp(0, 255).to(torch.uint8)


def as_tensor_dataset(data: Any, *, labels: torch.Tensor | Sequence[int] | None = None,
                      class_names: Sequence[str] | None = None, name: str = "user",
                      value_range: tuple[float, float] = (0.0, 1.0)) -> TensorDataset:
    """A tensor ``(N, C, H, W)`` / ``(N, D)`` or a map-style Dataset as a :class:`TensorDataset`.

    Labels come from ``labels`` or from ``(sample, label)`` items; classes are 0..K-1 with K the largest
    label plus one (or ``len(class_names)``).
    """
    if isinstance(data, TensorDataset):
        return data
    item_labels = None
    tensor = data if isinstance(data, torch.Tensor) else None
    if tensor is None:
        tensor, item_labels = _stack(data)
    if labels is not None:
        item_labels = torch.as_tensor(labels, dtype=torch.int64)
    if tensor.dim() == 3:  # (N, H, W) grayscale
        tensor = tensor.unsqueeze(1)
    if tensor.dim() == 4:
        if tensor.shape[-1] != tensor.shape[-2]:
            raise GanforgeError(f"images must be square (N, C, H, W), got {tuple(tensor.shape)}; crop or resize")
        tensor = to_uint8_images(tensor, value_range)
    elif tensor.dim() == 2:
        tensor = tensor.float()
    else:
        raise GanforgeError(f"data must be images (N, C, H, W) or points (N, D), got shape {tuple(tensor.shape)}")
    count = len(tensor)
    if item_labels is None:
        return TensorDataset(tensor, torch.zeros(count, dtype=torch.int64), num_classes=0, name=name)
    if item_labels.shape != (count,) or (count and int(item_labels.min()) < 0):
        raise GanforgeError(f"labels must be {count} whole numbers >= 0, got shape {tuple(item_labels.shape)}")
    num_classes = len(class_names) if class_names else int(item_labels.max()) + 1
    if int(item_labels.max()) >= num_classes:
        raise GanforgeError(f"label {int(item_labels.max())} has no entry in class_names ({num_classes} names)")
    return TensorDataset(tensor, item_labels, num_classes=num_classes, name=name,
                         class_names=list(class_names) if class_names else None)


def _sample(sample: torch.Tensor, value_range: tuple[float, float]) -> torch.Tensor:
    """One item's sample as the dataset holds it: uint8 ``(C, H, W)`` images, float ``(D,)`` points."""
    if sample.dim() == 2:  # (H, W) grayscale
        sample = sample.unsqueeze(0)
    if sample.dim() == 3:
        return to_uint8_images(sample, value_range)
    return sample.float()


class ItemDataset(TensorDataset):
    """A map-style Dataset seen as a :class:`TensorDataset` without reading it: ``items`` gives the samples.

    ``data`` reads every item once, on first use, and keeps the stack (the resident mode, the metrics'
    reference images); the shape facts (``len``, ``sample_shape``, ``resolution``) come from the first item.
    """

    def __init__(self, items: Any, first: torch.Tensor, labels: torch.Tensor, num_classes: int, name: str,
                 class_names: list[str] | None, value_range: tuple[float, float]) -> None:
        self._items, self._first, self._value_range = items, first, value_range
        self._data: torch.Tensor | None = None
        self.labels, self.num_classes, self.name, self.class_names = labels, num_classes, name, class_names
        self.skipped = 0
        self.kind = "image" if first.dim() == 3 else "points"

    @property
    def items(self) -> Any:
        return self._items

    @property
    def data(self) -> torch.Tensor:
        if self._data is None:
            self._data = read_rows(self, torch.arange(len(self)))[0]
        return self._data

    @data.setter
    def data(self, value: torch.Tensor) -> None:
        self._data = value

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return tuple(self._first.shape) if self._data is None else tuple(self._data.shape[1:])

    @property
    def channels(self) -> int:
        return self.sample_shape[0] if self.is_image else 0

    @property
    def resolution(self) -> int:
        return self.sample_shape[-1] if self.is_image else 0

    def read(self, index: torch.Tensor) -> torch.Tensor:
        """The samples at ``index``, each read through the Dataset's ``__getitem__`` now."""
        samples = [_sample(split_item(self._items[int(i)])[0], self._value_range) for i in index]
        try:
            return torch.stack(samples)
        except RuntimeError:
            raise GanforgeError("dataset samples differ in shape; resize them to one shape first") from None


def read_rows(dataset: TensorDataset, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The samples and labels at ``index``: read through the items of an :class:`ItemDataset` (live
    transforms) that has not been stacked, else read from the cache file ``data`` maps, else gathered
    from ``data``."""
    if isinstance(dataset, ItemDataset) and dataset._data is None:
        return dataset.read(index), dataset.labels[index]
    if dataset.rows is not None and dataset.rows.describes(dataset.data):
        return dataset.rows.read(index), dataset.labels[index]
    return dataset.data[index], dataset.labels[index]


def _item_labels(data: Any, size: int, first_label: int | None) -> torch.Tensor | None:
    """Every item's label without decoding the samples where the Dataset lists them (``targets``, as
    torchvision's do); else one pass over the items."""
    if first_label is None:
        return None
    targets = getattr(data, "targets", None)
    if targets is not None and len(targets) == size:
        return torch.as_tensor(targets, dtype=torch.int64)
    labels = [split_item(data[index])[1] for index in range(size)]
    if any(label is None for label in labels):
        raise GanforgeError("some dataset items have a label and others do not; label all or none")
    return torch.tensor(labels, dtype=torch.int64)


def as_item_dataset(data: Any, *, labels: torch.Tensor | Sequence[int] | None = None,
                    class_names: Sequence[str] | None = None, name: str = "user",
                    value_range: tuple[float, float] = (0.0, 1.0)) -> ItemDataset:
    """A map-style Dataset as an :class:`ItemDataset` (read when batches need it), labels as
    :func:`as_tensor_dataset` finds them."""
    try:
        size = len(data)
    except TypeError:
        raise GanforgeError("the dataset has no len(); pass a map-style torch Dataset or a tensor") from None
    if size == 0:
        raise GanforgeError("the dataset is empty; it needs at least one batch of samples")
    sample, first_label = split_item(data[0])
    first = _sample(sample, value_range)
    if first.dim() == 3 and first.shape[-1] != first.shape[-2]:
        raise GanforgeError(f"images must be square (C, H, W), got {tuple(first.shape)}; crop or resize")
    if first.dim() not in (1, 3):
        raise GanforgeError(f"items must be images (C, H, W) or points (D,), got shape {tuple(sample.shape)}")
    item_labels = torch.as_tensor(labels, dtype=torch.int64) if labels is not None else _item_labels(
        data, size, first_label)
    if item_labels is None:
        return ItemDataset(data, first, torch.zeros(size, dtype=torch.int64), 0, name, None, value_range)
    if item_labels.shape != (size,) or int(item_labels.min()) < 0:
        raise GanforgeError(f"labels must be {size} whole numbers >= 0, got shape {tuple(item_labels.shape)}")
    num_classes = len(class_names) if class_names else int(item_labels.max()) + 1
    if int(item_labels.max()) >= num_classes:
        raise GanforgeError(f"label {int(item_labels.max())} has no entry in class_names ({num_classes} names)")
    return ItemDataset(data, first, item_labels, num_classes, name, list(class_names) if class_names else None,
                       value_range)
