"""save_generator / load_generator round-trips for every family, spectral-norm parametrizations included."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from ganforge.errors import GanforgeError
from ganforge.loader import load_generator
from ganforge.models import save_generator
from ganforge.models.io import SPEC_FILE, WEIGHTS_FILE

ROUND_TRIP = [
    ("mlp", 0, 2, {}), ("mlp", 0, 2, {"arch": "pacgan"}), ("mlp", 32, 1, {}),
    ("dcgan", 32, 3, {}), ("dcgan", 64, 1, {"spectral_norm": True, "pack": 2}),
    ("sagan", 32, 3, {}), ("sagan", 64, 1, {}),
    ("sngan", 32, 1, {}), ("sngan", 64, 3, {}),
]


@pytest.mark.parametrize("conditional", [False, True], ids=["uncond", "cond"])
@pytest.mark.parametrize(("family", "resolution", "channels", "options"), ROUND_TRIP,
                         ids=[f"{f}-{r}-{c}-{'-'.join(o)}" for f, r, c, o in ROUND_TRIP])
def test_trained_generator_round_trips_with_identical_eval_outputs(family, resolution, channels, options,
                                                                   conditional, kit, tmp_path):
    if conditional and options.get("pack", 1) > 1:
        options = {k: v for k, v in options.items() if k != "pack"}
    spec = kit.Case(family, resolution, channels, kit.num_classes if conditional else 0, options).spec()
    G, D = kit.build(spec)
    # Train a little so BN running stats, SN singular vectors and weights all move from their init.
    kit.bce_update(G, kit.Packed(D, spec.options.get("pack", 1)), spec, steps=2)
    save_generator(tmp_path, G, spec, {"step": 2, "ema": False})

    loaded, info = load_generator(tmp_path)
    assert info.spec == spec and info.meta["step"] == 2
    assert not loaded.training
    assert set(loaded.state_dict()) == set(G.state_dict())
    G.eval()
    z = torch.randn(6, spec.z_dim)
    labels = torch.arange(6) % kit.num_classes if conditional else None
    with torch.no_grad():
        assert torch.equal(loaded(z, labels), G(z, labels))
    # the same again through generator.json, and a second load is stable too
    again, _ = load_generator(tmp_path / SPEC_FILE)
    with torch.no_grad():
        assert torch.equal(again(z, labels), G(z, labels))


def test_spectral_norm_state_is_saved_as_parametrization_tensors(kit, tmp_path):
    spec = kit.Case("sagan", 32, 3, 0).spec()
    G, _ = kit.build(spec)
    save_generator(tmp_path, G, spec, {})
    keys = set(load_file(str(tmp_path / WEIGHTS_FILE)))
    assert "net.0.parametrizations.weight.original" in keys
    assert "net.0.parametrizations.weight.0._u" in keys and "net.0.parametrizations.weight.0._v" in keys
    assert not any(k.endswith(".weight") and "parametrizations" not in k and k.startswith("net.0.") for k in keys)
    assert json.loads((tmp_path / SPEC_FILE).read_text())["spec"]["family"] == "sagan"


def test_mismatched_weights_are_a_clear_error(kit, tmp_path):
    spec = kit.Case("dcgan", 32, 3, 0).spec()
    G, _ = kit.build(spec)
    save_generator(tmp_path, G, spec, {})
    document = json.loads((tmp_path / SPEC_FILE).read_text())
    document["spec"]["width"] = 16
    (tmp_path / SPEC_FILE).write_text(json.dumps(document))
    with pytest.raises(GanforgeError, match="does not match"):
        load_generator(tmp_path)


def test_unsupported_saved_spec_is_rejected_by_the_family_check(kit, tmp_path):
    spec = kit.Case("sngan", 32, 3, 0).spec()
    G, _ = kit.build(spec)
    save_generator(tmp_path, G, spec, {})
    document = json.loads((tmp_path / SPEC_FILE).read_text())
    document["spec"]["resolution"] = 96
    (tmp_path / SPEC_FILE).write_text(json.dumps(document))
    with pytest.raises(GanforgeError, match="--resolution 32 or --resolution 48 or --resolution 64 or --resolution 128"):
        load_generator(tmp_path)


def test_generators_build_on_the_meta_device_with_the_same_tensor_shapes(family, kit):
    """The web server checks generator files against a weightless (meta) build of the spec.

    Conditional only: it has every tensor the unconditional build has plus the class tables.
    """
    from ganforge.models import MODELS

    spec = kit.Case(family, 32, 3, kit.num_classes).spec()
    G, _ = kit.build(spec)
    with torch.device("meta"):
        meta_G, _ = MODELS.get(family).build(spec)
    assert {k: v.shape for k, v in meta_G.state_dict().items()} == {k: v.shape for k, v in G.state_dict().items()}
    assert all(v.is_meta for v in meta_G.state_dict().values())


def test_generator_saved_under_the_old_family_name_resnet_still_loads(kit, tmp_path):
    """Runs trained before the family was renamed sngan wrote ``"family": "resnet"`` into generator.json."""
    spec = kit.Case("resnet", 32, 3, kit.num_classes).spec()
    G, D = kit.build(spec)
    kit.bce_update(G, D, spec, steps=1)
    save_generator(tmp_path, G, spec, {"step": 1})
    assert json.loads((tmp_path / SPEC_FILE).read_text())["spec"]["family"] == "resnet"

    loaded, info = load_generator(tmp_path)
    assert info.spec.family == "resnet" and type(loaded).__name__ == "SNGANGenerator"
    G.eval()
    z, labels = torch.randn(3, spec.z_dim), torch.arange(3)
    with torch.no_grad():
        assert torch.equal(loaded(z, labels), G(z, labels))


@pytest.mark.parametrize(("family", "resolution", "channels", "dataset", "kind"), [
    ("mlp", 0, 2, "toy2d:ring", "points"), ("dcgan", 32, 1, "digits5k", "image"),
    ("mlp", 32, 1, "toy-like-but-unknown", "image"), ("mlp", 0, 2, None, "points")])
def test_generator_json_records_the_data_kind_and_older_files_derive_it(family, resolution, channels, dataset,
                                                                        kind, kit, tmp_path):
    spec = kit.Case(family, resolution, channels, 0).spec()
    G, _ = kit.build(spec)
    meta = {"step": 1} if dataset is None else {"step": 1, "dataset": dataset}
    save_generator(tmp_path, G, spec, meta)
    document = json.loads((tmp_path / SPEC_FILE).read_text())
    assert document["kind"] == kind
    _, info = load_generator(tmp_path)
    assert info.kind == kind
    del document["kind"]  # as written before the kind was recorded: from the dataset, else the network's shape
    (tmp_path / SPEC_FILE).write_text(json.dumps(document))
    _, info = load_generator(tmp_path)
    assert info.kind == kind and "kind" not in info.meta


def test_the_recorded_kind_wins_over_the_networks_shape(kit, tmp_path):
    spec = kit.Case("mlp", 32, 1, 0).spec()  # precedence: the recorded kind, the dataset's, the network's shape
    G, _ = kit.build(spec)
    save_generator(tmp_path, G, spec, {"dataset": "toy2d:grid"})
    assert json.loads((tmp_path / SPEC_FILE).read_text())["kind"] == "points"
    save_generator(tmp_path, G, spec, {"dataset": "toy2d:grid", "kind": "image"})
    assert load_generator(tmp_path).info.kind == "image"
