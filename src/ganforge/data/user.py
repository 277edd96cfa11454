"""The user's own data as a ganforge dataset: a ``torch.utils.data.Dataset`` or a tensor.

Training keeps a whole dataset in memory as one tensor (see :class:`TensorDataset`), so a user dataset is
read once, item by item, into that form. Images become uint8 ``(N, C, H, W)``; float images are taken to
lie in ``value_range`` (``(0, 1)``, the ToTensor convention, unless told otherwise). A 2-D float tensor
``(N, D)`` is point data, trained on as it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from ganforge.data.base import TensorDataset
from ganforge.errors import GanforgeError


def _split_item(item: Any) -> tuple[torch.Tensor, int | None]:
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
        sample, label = _split_item(dataset[index])
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


def _to_uint8(images: torch.Tensor, value_range: tuple[float, float]) -> torch.Tensor:
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
        tensor = _to_uint8(tensor, value_range)
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
