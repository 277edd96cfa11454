"""Property-based: whatever a config file or the flags hold, building the config either works or raises a
one-line GanforgeError; nothing else escapes (no TypeError, OverflowError, ValueError, KeyError...).

Budget: FUZZ_EXAMPLES examples per property (a few seconds); the derandomized seed keeps CI repeatable.
"""

from __future__ import annotations

import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ganforge.config import TrainConfig, config_fields
from ganforge.config_build import build_config
from ganforge.errors import GanforgeError

FUZZ_EXAMPLES = 400
FIELDS = sorted(config_fields())

scalars = st.one_of(
    st.none(), st.booleans(),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    st.sampled_from(["", "0", "1e400", "-1", "nan", "inf", "dcgan", "toy2d:ring", "folder:", "folder:/nonexistent",
                     "0.5,0.999", "tensorboard,csv", "none", "auto", "a\nb", "x" * 300, "mnist:train"]),
)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                                            max_size=3), max_leaves=6)
keys = st.one_of(st.sampled_from(FIELDS), st.sampled_from([f.replace("_", "-") for f in FIELDS]), st.text(max_size=12))
FUZZ = settings(max_examples=FUZZ_EXAMPLES, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow])


def check_layer(layer: dict) -> None:
    try:
        config = build_config(layer)
    except GanforgeError as exc:
        message = str(exc)
        assert message and "\n" not in message and "\r" not in message, repr(message)
        return
    assert isinstance(config, TrainConfig)
    for name, spec in config_fields().items():  # what was accepted lies inside every declared bound
        value = getattr(config, name)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            assert math.isfinite(value), name
            if spec.metadata.get("maximum") is not None:
                assert value <= spec.metadata["maximum"], name
            if spec.metadata.get("minimum") is not None:
                assert value >= spec.metadata["minimum"], name


@FUZZ
@given(st.dictionaries(keys, values, max_size=4))
def test_any_config_mapping_builds_or_is_one_line(layer: dict) -> None:
    check_layer(layer)


@FUZZ
@given(st.sampled_from(FIELDS), st.text(max_size=30))
def test_any_flag_text_builds_or_is_one_line(name: str, text: str) -> None:
    """Flags arrive as text (argparse keeps them so until build_config converts)."""
    check_layer({name.replace("_", "-"): text})
