"""What a training config asks of the model family: the ModelSpec, and the options a dataset rules out."""

from __future__ import annotations

from typing import Protocol

from ganforge.config import TrainConfig
from ganforge.errors import GanforgeError
from ganforge.models import MODELS, ModelSpec
from ganforge.options import without_defaults


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


def model_spec(config: TrainConfig, dataset: DataShape) -> ModelSpec:
    """The networks ``config`` trains on ``dataset``: shapes from the data, options from the config."""
    check_data_options(config, dataset)
    if dataset.is_image:
        resolution, channels = dataset.resolution, dataset.channels
    else:
        resolution, channels = 0, dataset.sample_shape[0]
    # the family's declared options as the config gives them; a default stays out of the spec, as before
    # options were declared, so generator.json files of older runs and of new ones read alike
    options = without_defaults(MODELS.get(config.model).options, config.model_options)
    options.update(MODELS.get(config.model).spec_options)  # e.g. the class record of networks from Python
    return ModelSpec(family=config.model, z_dim=config.z_dim, resolution=resolution, channels=channels,
                     num_classes=dataset.num_classes if config.conditional else 0, width=config.width,
                     options=options)
