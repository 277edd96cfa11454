"""The record a run of your own networks keeps (models/custom.py), and its rebuild: no training needed."""

from __future__ import annotations

import pytest
from torch import nn

from ganforge.errors import GanforgeError
from ganforge.models import ModelSpec
from ganforge.models.custom import NETWORK_OPTION, network_record, record_problem, recorded_generator


class Exposed(nn.Module):
    """Keeps its arguments as attributes: the record recovers them."""

    def __init__(self, z_dim: int, widths: tuple[int, ...] = (4, 2), scale: float = 1.0) -> None:
        super().__init__()
        self.z_dim, self.widths = z_dim, widths
        self.net = nn.Linear(z_dim, widths[0])


class Hidden(nn.Module):
    """Does not keep its required argument: the record cannot rebuild it."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.net = nn.Linear(size, 1)


def spec_of(record: dict) -> ModelSpec:
    return ModelSpec(family="custom", z_dim=3, resolution=8, channels=1, options={NETWORK_OPTION: record})


def test_arguments_kept_as_attributes_are_recorded_and_rebuild_the_class() -> None:
    record = network_record(Exposed(3, (5, 2)))
    assert record == {"class": f"{__name__}:Exposed", "kwargs": {"z_dim": 3, "widths": [5, 2]}}
    assert record_problem(record) is None
    rebuilt = recorded_generator(spec_of(record), "run")
    assert isinstance(rebuilt, Exposed) and rebuilt.net.out_features == 5
    assert network_record(Hidden(4), {"size": 4})["kwargs"] == {"size": 4}  # given ones win


def test_what_cannot_be_rebuilt_is_said_with_the_fix() -> None:
    record = network_record(Hidden(4))
    assert "size" in record["problem"] and "generator_kwargs" in record_problem(record)
    with pytest.raises(GanforgeError, match="cannot rebuild.*ganforge.load_generator") as caught:
        recorded_generator(spec_of(record), "run")
    assert "\n" not in str(caught.value)
    missing = {"class": "no_such_module_here:Thing", "kwargs": {}}
    with pytest.raises(GanforgeError, match="cannot be imported here.*PYTHONPATH"):
        recorded_generator(spec_of(missing), "run")
    with pytest.raises(GanforgeError, match="records no importable class"):
        recorded_generator(spec_of({}), "run")
    with pytest.raises(GanforgeError, match=r"Exposed\(\*\*\{'wrong': 1\}\) failed \(TypeError"):
        recorded_generator(spec_of({"class": f"{__name__}:Exposed", "kwargs": {"wrong": 1}}), "run")
