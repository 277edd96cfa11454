"""The feature-extractor registry: name -> :class:`ganforge.metrics.extractor.ExtractorSpec`.

Each entry lives in its network's module and carries every fact about itself (input size and
resampling, normalisation, feature dimension, how its weights are found, where its protocol goes);
``MetricSpec.extractor`` names the entry a metric's features come from. Scoring
(:func:`ganforge.metrics.evaluate.score_images`), the reference cache, ``ganforge fid``/``stats`` and
``--eval-every`` read them here, so a new extractor is its module plus one line below.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from ganforge.errors import GanforgeError
from ganforge.metrics.digits import DIGITS
from ganforge.metrics.dinov2 import DINOV2
from ganforge.metrics.extractor import INCEPTION, ExtractorSettings, ExtractorSpec
from ganforge.metrics.modes import MODES
from ganforge.registry import Registry

EXTRACTORS: Registry[ExtractorSpec] = Registry("feature extractor", plugin_group="ganforge.extractors")
for _entry in (INCEPTION, DINOV2, DIGITS, MODES):  # registry order: the order sections of a record appear in
    EXTRACTORS.register(_entry.name, _entry)


def extractor_order(name: str) -> int:
    return EXTRACTORS.names().index(name)


def find_weights(names: Iterable[str], settings: ExtractorSettings, need_logits: bool = False) -> None:
    """Find the weight files of the named extractors now (a missing one is a one-line error), before any
    long work such as training up to the first evaluation."""
    for name in names:
        EXTRACTORS.get(name).find_weights(settings, need_logits)


def parse_weights(values: Iterable[str] | None, flag: str = "--extractor-weights") -> dict[str, Path]:
    """``['dinov2=PATH', ...]`` -> ``{'dinov2': Path(PATH)}``; a bad item or an unknown name is one line."""
    parsed: dict[str, Path] = {}
    for value in values or ():
        name, sep, path = value.partition("=")
        if not sep or not name.strip() or not path.strip():
            raise GanforgeError(f"{flag} takes NAME=PATH (e.g. {flag} dinov2=dinov2_vitl14_pretrain.pth), got "
                                f"'{value}'; names: {', '.join(EXTRACTORS.names())}")
        EXTRACTORS.get(name.strip())  # unknown names list the valid ones
        parsed[name.strip()] = Path(path.strip()).expanduser()
    return parsed


__all__ = ["EXTRACTORS", "extractor_order", "find_weights", "parse_weights"]
