"""Crafted generator files are refused before anything in them can run or allocate."""

from __future__ import annotations

import json
import os
import pickle
import struct
from pathlib import Path
from urllib.parse import urlencode

import pytest
import torch

from ganforge.cli import main
from ganforge.errors import GanforgeError
from ganforge.loader import check_safetensors_header, load_generator


class Exploit:
    """Unpickling this creates a marker file: proof that code from the file ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def plant_pickle(run: Path, marker: Path) -> None:
    (run / "generator.safetensors").write_bytes(pickle.dumps({"net.0.weight": Exploit(marker)}))


def test_a_pickle_renamed_to_safetensors_is_refused_and_never_executed(image_run: Path, tmp_path: Path,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    marker = tmp_path / "pwned"
    plant_pickle(image_run, marker)
    for command in (["generate", str(image_run), "--out", str(tmp_path / "x.png")],
                    ["export", str(image_run), "--format", "torchscript", "--out", str(tmp_path / "x.pt")]):
        assert main(command) == 2
        err = capsys.readouterr().err
        assert "not a safetensors file" in err and "pickle" in err
    assert not marker.exists()
    # The payload really is live: unpickling it would have run the command.
    pickle.loads((image_run / "generator.safetensors").read_bytes())
    assert marker.exists()


def test_a_torch_save_zip_is_refused(image_run: Path) -> None:
    torch.save({"net.0.weight": torch.zeros(1)}, image_run / "generator.safetensors")
    with pytest.raises(GanforgeError, match=r"not a safetensors file \(it looks like a zip"):
        load_generator(image_run)


def test_an_unregistered_family_is_refused(image_run: Path) -> None:
    spec_file = image_run / "generator.json"
    document = json.loads(spec_file.read_text())
    document["spec"]["family"] = "os.system"
    spec_file.write_text(json.dumps(document))
    with pytest.raises(GanforgeError, match="unknown model 'os.system'"):
        load_generator(image_run)


def test_a_spec_that_would_allocate_a_huge_network_is_refused_without_allocating(image_run: Path) -> None:
    spec_file = image_run / "generator.json"
    document = json.loads(spec_file.read_text())
    document["spec"]["width"] = 2**20  # ~10^12 parameters: building it for real would exhaust memory
    spec_file.write_text(json.dumps(document))
    with pytest.raises(GanforgeError, match="generator.json describes a dcgan generator ganforge does not build"):
        load_generator(image_run)


@pytest.mark.parametrize("spec_patch", [{"bogus": 1}, {"z_dim": "100; rm -rf /"}, None])
def test_malformed_specs_are_refused(image_run: Path, spec_patch: dict | None) -> None:
    spec_file = image_run / "generator.json"
    document = json.loads(spec_file.read_text())
    document["spec"] = "not a dict" if spec_patch is None else {**document["spec"], **spec_patch}
    spec_file.write_text(json.dumps(document))
    with pytest.raises(GanforgeError):
        load_generator(image_run)


@pytest.mark.parametrize("payload", [b"", b"\x01\x00", struct.pack("<Q", 2**40) + b"{}",
                                     struct.pack("<Q", 4) + b"[1,]", struct.pack("<Q", 2) + b"[]"])
def test_corrupt_headers_are_refused(tmp_path: Path, payload: bytes) -> None:
    path = tmp_path / "generator.safetensors"
    path.write_bytes(payload)
    with pytest.raises(GanforgeError):
        check_safetensors_header(path)


def test_the_server_answers_400_for_a_malicious_run_and_keeps_serving(runs_dir: Path, tmp_path: Path,
                                                                      fetch, error_of) -> None:
    marker = tmp_path / "pwned-by-server"
    plant_pickle(runs_dir / "toy", marker)
    status, _, body = fetch(f"/api/generate?{urlencode({'run': 'toy'})}")
    assert status == 400 and "not a safetensors file" in error_of(body)
    assert not marker.exists()
    assert fetch("/api/generate?run=digits&num=1")[0] == 200


def _buildable_specs():
    from ganforge.models import MODELS, ModelSpec

    for name in MODELS.names():
        family = MODELS.get(name)
        candidates = [ModelSpec(family=name, z_dim=8, resolution=family.resolutions[0], channels=3,
                                num_classes=classes, width=8) for classes in (0, 10)]
        if "points" in family.data_kinds:
            candidates += [ModelSpec(family=name, z_dim=4, resolution=0, channels=2, num_classes=8, width=8)]
        for spec in candidates:
            try:
                family.check(spec)
            except GanforgeError:
                continue
            yield spec


@pytest.mark.parametrize("spec", list(_buildable_specs()), ids=lambda s: f"{s.family}-{s.resolution}-{s.num_classes}")
def test_the_meta_device_check_accepts_every_registered_family(spec) -> None:
    """The header check must never refuse a genuine generator: meta shapes equal real ones."""
    from ganforge.loader import expected_shapes
    from ganforge.models import MODELS

    generator, _ = MODELS.get(spec.family).build(spec)
    assert expected_shapes(spec) == {name: tuple(t.shape) for name, t in generator.state_dict().items()}
