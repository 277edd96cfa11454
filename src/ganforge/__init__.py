"""ganforge: train, evaluate, compare and share GANs for image generation.

The public Python API (see README, "Python API")::

    import ganforge
    result = ganforge.train(MyGenerator(), MyDiscriminator(), data=my_dataset, steps=500, z_dim=64)
    generator, info = ganforge.load_generator(result.run_dir, generator=MyGenerator())
    scores = ganforge.evaluate(generator, reference=my_dataset, metrics="fid,pr")

Names are imported on first use, so ``import ganforge`` (and the CLI's ``--help``) stays fast.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name -> the module that defines it
_EXPORTS = {
    "train": "ganforge.api", "evaluate": "ganforge.api", "load_generator": "ganforge.loader", "serving": "ganforge.api",
    "sample": "ganforge.api", "compare": "ganforge.api", "export": "ganforge.api",
    "TrainConfig": "ganforge.config", "build_config": "ganforge.config_build", "TrainResult": "ganforge.training",
    "GanforgeError": "ganforge.errors", "MODELS": "ganforge.models", "ModelFamily": "ganforge.models",
    "ModelSpec": "ganforge.models", "LOSSES": "ganforge.losses", "GanLoss": "ganforge.losses",
    "REGULARIZERS": "ganforge.regularizers", "DATASETS": "ganforge.data", "METRICS": "ganforge.metrics.specs",
    "PRESETS": "ganforge.presets", "LOGGERS": "ganforge.training.loggers", "OptionSpec": "ganforge.options",
    "Regularizer": "ganforge.regularizers",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'ganforge' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
