"""Whether data are images or points is declared by each dataset source and read from the registry."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest
import torch

from ganforge.config_build import data_kind, is_toy2d
from ganforge.data import (
    DATASETS,
    IMAGE,
    KIND_NOUNS,
    POINTS,
    TensorDataset,
    dataset_kind,
    kind_sources,
    load_dataset,
)
from ganforge.errors import GanforgeError


@pytest.mark.parametrize(("spec", "kind"), [("digits5k", IMAGE), ("mnist", IMAGE), ("fashion-mnist", IMAGE),
                                            ("cifar10", IMAGE), ("celeba:Smiling", IMAGE), ("folder:/nowhere", IMAGE),
                                            ("toy2d:ring", POINTS), ("toy2d:grid", POINTS)])
def test_the_kind_of_a_data_value_comes_from_its_source_without_loading(spec, kind, monkeypatch) -> None:
    source = DATASETS.get(spec.partition(":")[0])

    def refuse(*args):
        raise AssertionError("dataset_kind must not load data")

    monkeypatch.setattr(DATASETS, "_entries", {**DATASETS._entries,
                                               source.name: dataclasses.replace(source, load=refuse)})
    assert dataset_kind(spec) == kind == data_kind(spec)
    assert is_toy2d(spec) == (kind == POINTS)


def test_every_source_declares_a_known_kind_and_messages_list_the_sources_of_each() -> None:
    assert {source.kind for _, source in DATASETS.items()} == set(KIND_NOUNS) == {IMAGE, POINTS}
    assert kind_sources(POINTS) == ["toy2d:ring|grid"]
    assert "digits5k" in kind_sources(IMAGE) and "folder:PATH" in kind_sources(IMAGE)
    with pytest.raises(GanforgeError, match="unknown dataset 'cifar100'"):
        dataset_kind("cifar100")


def test_loaded_datasets_carry_the_kind_their_source_declares(monkeypatch) -> None:
    points = load_dataset("toy2d:ring")
    assert points.kind == POINTS and not points.is_image
    images = TensorDataset(torch.zeros(4, 1, 8, 8, dtype=torch.uint8), torch.zeros(4, dtype=torch.long), 0, "x")
    assert images.kind == IMAGE and images.is_image  # hand-built: the kind follows the tensor layout
    with pytest.raises(ValueError, match="a points dataset cannot hold data of shape"):
        TensorDataset(images.data, images.labels, 0, "x", kind=POINTS)
    # a source whose data contradict its declaration is a bug, caught on load
    toy = DATASETS.get("toy2d")
    monkeypatch.setattr(DATASETS, "_entries", {**DATASETS._entries, "toy2d": dataclasses.replace(toy, kind=IMAGE)})
    with pytest.raises(ValueError, match="declares image data but loaded points"):
        load_dataset("toy2d:ring")


def test_config_stays_cheap_to_import() -> None:
    code = "import sys, ganforge.config; assert 'torch' not in sys.modules, 'config imported torch'"
    subprocess.run([sys.executable, "-c", code], check=True)
