"""The sweep file: expansion into runs, precedence of the layers, names, and strict one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from ganforge.errors import GanforgeError
from ganforge.presets import PRESETS
from ganforge.sweeps import load_sweep
from ganforge.sweeps.spec import run_name, slug, value_fragment

BASE = {"settings": {"steps": 40, "width": 8, "device": "cpu"}}


def test_grid_expands_in_order_with_settings_presets_and_entry_overrides(write_sweep, tmp_path: Path) -> None:
    path = write_sweep({
        "name": "study", "metrics": ["fid", "kid"], "evaluation": {"samples": 100, "reference_samples": 200},
        "settings": {"steps": 40, "width": 8, "batch-size": 32, "device": "cpu"},
        "grid": {"preset": ["dcgan", {"preset": "wgan", "steps": 10}], "data": ["digits5k"], "seed": [0, 1]},
        "runs": [{"name": "sagan-extra", "preset": "sagan", "data": "digits5k"}],
    })
    sweep = load_sweep(path, out=tmp_path / "out")
    names = [run.name for run in sweep.runs]
    assert names == ["dcgan_digits5k_seed0", "dcgan_digits5k_seed1", "wgan_digits5k_seed0", "wgan_digits5k_seed1",
                     "sagan-extra"]
    by_name = {run.name: run.config for run in sweep.runs}
    wgan = by_name["wgan_digits5k_seed1"]
    assert wgan.steps == 10  # the entry's own override beats the shared settings
    assert wgan.batch_size == 32  # settings beat the preset's batch size (64)
    assert (wgan.optimizer, wgan.clip, wgan.n_critic) == ("rmsprop", PRESETS["wgan"].values["clip"], 5)
    assert wgan.seed == 1 and wgan.preset == "wgan"
    assert by_name["dcgan_digits5k_seed0"].steps == 40
    assert by_name["sagan-extra"].model == "sagan"
    assert wgan.run_dir == str(tmp_path / "out" / "wgan_digits5k_seed1")
    assert sweep.evaluation.metrics_for("image") == ("fid", "kid") and sweep.evaluation.metrics_for("points") == ()
    assert sweep.evaluation.samples_for("image") == 100 and sweep.evaluation.reference_samples == 200


def test_names_are_readable_and_independent_of_other_runs() -> None:
    assert slug("celeba:Smiling") == "celeba-Smiling"
    assert slug("toy2d:ring") == "toy2d-ring"
    assert value_fragment("seed", 3) == "seed3"
    assert value_fragment("lr_d", 0.0004) == "lr-d0.0004"
    assert value_fragment("conditional", True) == "conditionaltrue"
    assert value_fragment("loss", "hinge") == "hinge"
    from ganforge.config_build import build_config

    config = build_config({"preset": "wgan-gp", "data": "mnist"})
    assert run_name(config, {"preset": "wgan-gp", "seed": 2}) == "wgan-gp_mnist_seed2"
    assert run_name(build_config({"model": "dcgan", "loss": "hinge"}), {"loss": "hinge"}) == "dcgan_digits5k_hinge"


@pytest.mark.parametrize(("document", "message"), [
    ({**BASE, "grids": {"seed": [0]}}, "unknown key 'grids'"),
    ({**BASE, "grid": {"seed": [0]}, "metric": ["fid"]}, "did you mean 'metrics'?"),
    ({"settings": {"batch_sise": 8}, "grid": {"seed": [0]}}, "did you mean 'batch_size'?"),
    ({**BASE, "grid": {"sead": [0, 1]}}, "did you mean 'seed'?"),
    ({**BASE, "grid": {"seed": [0]}, "evaluation": {"sample": 10}}, "did you mean 'samples'?"),
    ({**BASE, "grid": {"preset": ["dcgan", "wgan-pg"]}}, "unknown preset 'wgan-pg'"),
    ({**BASE, "grid": {"model": ["dcgan", "dcgann"]}}, "unknown model 'dcgann'"),
    ({**BASE, "grid": {"data": ["mnist", "cifar100"]}}, "unknown dataset 'cifar100'"),
    ({**BASE, "grid": {"steps": [10, -5]}}, "steps=-5"),
    ({**BASE, "grid": {"seed": [0, 0]}}, "more than once"),
    ({**BASE, "grid": {"seed": []}}, "non-empty list"),
    ({**BASE, "grid": {"preset": [{"steps": 3}]}}, "must include the value itself"),
    ({**BASE, "grid": {"preset": [{"preset": "dcgan", "lr_g": 1e-3}], "seed": [{"seed": 0, "lr_g": 1e-4}]}},
     "both set lr_g"),
    ({"settings": {"run_dir": "x"}, "grid": {"seed": [0]}}, "'run_dir' cannot be set"),
    ({**BASE, "grid": {"seed": [0]}, "metrics": ["fdi"]}, "did you mean 'fid'?"),
    ({**BASE, "grid": {"data": ["toy2d:ring"], "model": ["mlp"]}, "metrics": ["fid"]}, "use metrics: [toy2d]"),
    ({**BASE, "grid": {"seed": [0]}, "metrics": ["toy2d"]}, "no run trains on toy2d"),
    ({**BASE, "runs": [{"preset": "dcgan"}, {"preset": "dcgan", "lr_g": 1e-3}]}, "share the folder"),
    ({**BASE, "runs": [{"name": "a b", "preset": "dcgan"}]}, "folder-safe"),
    ({**BASE, "grid": {"seed": [0]}, "evaluation": {"samples": 0}}, "samples must be a whole number >= 1"),
    (BASE, "defines no run"),
    ({**BASE, "grid": {"clip": [0.01], "gp": [10.0]}}, "use one"),
])
def test_bad_sweep_files_are_one_line_errors(write_sweep, document: dict, message: str) -> None:
    with pytest.raises(GanforgeError) as caught:
        load_sweep(write_sweep(document))
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_unreadable_files_are_one_line_errors(write_sweep, cli, tmp_path: Path) -> None:
    code, _, err = cli("sweep", tmp_path / "missing.yaml")
    assert code == 2 and err.startswith("ganforge: error: cannot read sweep file") and err.count("\n") == 1
    code, _, err = cli("sweep", write_sweep("grid: [unclosed", name="broken.yaml"))
    assert code == 2 and "not valid YAML at line 1" in err
    code, _, err = cli("sweep", write_sweep("- just\n- a list\n", name="list.yaml"))
    assert code == 2 and "must be a mapping" in err


def test_dry_run_lists_runs_and_writes_nothing(write_sweep, cli, tmp_path: Path) -> None:
    path = write_sweep({"name": "plan", "out": str(tmp_path / "out"), "metrics": ["fid"],
                        "evaluation": {"samples": 500}, **BASE,
                        "grid": {"preset": ["gan", "dcgan", "wgan", "wgan-gp"], "data": ["digits5k"]}})
    code, out, _ = cli("sweep", path, "--dry-run")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == f"sweep plan: 4 runs in {tmp_path / 'out'}"
    assert "fid on 500 generated images" in lines[1]
    for index, name in enumerate(["gan_digits5k", "dcgan_digits5k", "wgan_digits5k", "wgan-gp_digits5k"], 1):
        assert f"{index}. {name}" in lines[1 + index] and "[not started]" in lines[1 + index]
    assert not (tmp_path / "out").exists()
    code, out, _ = cli("sweep", path, "--dry-run", "--only", "wgan*")
    assert code == 0 and "2 runs" in out and "wgan-gp_digits5k" in out and "dcgan_digits5k" not in out
    code, _, err = cli("sweep", path, "--dry-run", "--only", "dcgam_digits5k")
    assert code == 2 and "did you mean 'dcgan_digits5k'?" in err
