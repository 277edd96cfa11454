"""What a training config asks of the model family: the ModelSpec, and the options a dataset rules out."""

from __future__ import annotations

from typing import Any, Protocol

from ganforge.config import TrainConfig
from ganforge.errors import GanforgeError
from ganforge.models import MODELS, ModelSpec
from ganforge.models.r3gan import GROUP_CHANNELS


class DataShape(Protocol):
    """What the model spec reads of a dataset: a TensorDataset, or a stand-in with the shape its registry
    entry declares (sweeps check every run's model before loading any data)."""

    @property
    def is_image(self) -> bool: ...

    @property
    def resolution(self) -> int: ...

    @property
    def channels(self) -> int: ...

    @property
    def sample_shape(self) -> tuple[int, ...]: ...

    @property
    def num_classes(self) -> int: ...


def check_data_options(config: TrainConfig, dataset: DataShape) -> None:
    """Options that only make sense for some datasets; checked before anything is built."""
    if config.conditional and dataset.num_classes == 0:
        raise GanforgeError(f"--conditional needs class labels, but dataset '{config.data}' has none; "
                            "drop --conditional or use a labelled dataset")
    if config.augment != "none" and not dataset.is_image:
        raise GanforgeError(f"--augment {config.augment} transforms images; '{config.data}' holds points, "
                            "drop --augment")


def parse_widths(text: str) -> list[int]:
    """``--stage-widths 768,768,384``: whole numbers, one per stage."""
    try:
        widths = [int(part) for part in text.replace(",", " ").split()]
    except ValueError:
        raise GanforgeError(f"--stage-widths must be whole numbers separated by commas, e.g. 768,768,384, "
                            f"got {text!r}") from None
    if not widths or min(widths) < 1:
        raise GanforgeError(f"--stage-widths needs positive channel counts, got {text!r}")
    return widths


def model_spec(config: TrainConfig, dataset: DataShape) -> ModelSpec:
    """The networks ``config`` trains on ``dataset``: shapes from the data, switches from the config."""
    check_data_options(config, dataset)
    if dataset.is_image:
        resolution, channels = dataset.resolution, dataset.channels
    else:
        resolution, channels = 0, dataset.sample_shape[0]
    options: dict[str, Any] = {}
    if config.spectral_norm is not None:  # None: the family's paper default
        options["spectral_norm"] = config.spectral_norm
    if config.pack > 1:
        options["pack"] = config.pack
    if config.arch:
        options["arch"] = config.arch
    if config.stage_widths:
        options["stage_widths"] = parse_widths(config.stage_widths)
    if config.group_channels != GROUP_CHANNELS:  # the r3gan default stays out of every other family's spec
        options["group_channels"] = config.group_channels
    options.update(MODELS.get(config.model).spec_options)  # e.g. the class record of networks from Python
    return ModelSpec(family=config.model, z_dim=config.z_dim, resolution=resolution, channels=channels,
                     num_classes=dataset.num_classes if config.conditional else 0, width=config.width,
                     options=options)
