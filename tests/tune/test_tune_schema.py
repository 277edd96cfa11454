"""The study file: strict one-line errors, the objective's direction from the metric registry, the search
space and engines as Optuna gets them, the dry run; and the example study and sweep files still load."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml
from studies import study_document

from ganforge.errors import GanforgeError
from ganforge.tune.draws import TrialSeededSampler
from ganforge.tune.study import load_study

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def with_search(**search) -> dict:
    return study_document(search=search)


@pytest.mark.parametrize(("document", "message"), [
    ({**study_document(), "n_trails": 3}, "unknown key 'n_trails' in"),
    ({**study_document(), "n_trails": 3}, "did you mean 'n_trials'?"),
    ({**study_document(), "objective": "fdi"}, "unknown metric value 'fdi'"),
    ({**study_document(), "objective": "modez"}, "did you mean 'modes'?"),
    ({**study_document(), "objective": "fid"}, "does not score the data of settings (points)"),
    ({**study_document(), "objective": "num_modes"}, "spread or total of another value"),
    ({**study_document(), "objective": "toy2d"}, "name one: modes, high_quality, reverse_kl"),
    ({k: v for k, v in study_document().items() if k != "n_trials"}, "needs n_trials:"),
    (study_document(settings={"eval_every": 0}), "set settings.eval_every"),
    (study_document(settings={"eval_every": 30}), "steps 200 is not a multiple of eval_every 30"),
    (study_document(settings={"checkpoint_every": 20}), "eval_every 50 must be a multiple of checkpoint_every 20"),
    (study_document(settings={"eval_metrics": "fid"}), "--eval-metrics fid needs images"),
    ({**study_document(settings={"data": "digits5k", "model": "dcgan", "eval_metrics": "fd_digits"}),
      "objective": "fid"}, "eval_metrics fd_digits does not measure the objective fid; add fid"),
    (study_document(settings={"run_dir": "x"}), "'run_dir' cannot be set"),
    (study_document(settings={"lr_gg": 1.0}), "did you mean 'lr_g'?"),
    (with_search(lr_g={"type": "flaot", "low": 1e-4, "high": 1e-2}), "unknown search type 'flaot' (did you mean 'float'?)"),
    (with_search(lr_g={"type": "float", "low": 1e-4, "hihg": 1e-2}), "did you mean 'high'?"),
    (with_search(lr_g={"type": "float", "low": 1e-2, "high": 1e-4}), "low 0.01 is above high 0.0001"),
    (with_search(lr_g={"type": "float", "low": 0.0, "high": 1e-2, "log": True}), "a log scale needs low > 0"),
    (with_search(n_critic={"type": "int", "low": 1.5, "high": 3}), "low must be a whole number"),
    (with_search(n_critic={"type": "float", "low": 1.0, "high": 3.0}), "n_critic must be a whole number; use type: int"),
    (with_search(seed=[0, 1]), "use the study's seeds: key"),
    (with_search(lss=["bce", "hinge"]), "did you mean 'loss'?"),
    (with_search(loss=["bce", "hnige"]), "unknown loss 'hnige'"),
    (with_search(r1={"type": "float", "low": 0.1, "high": 1.0, "when": {"loss": "bce"}}), "not a search key listed above"),
    (with_search(loss=["bce"], r1={"type": "float", "low": 0.1, "high": 1.0, "when": {"loss": "hinge"}}),
     "loss never takes 'hinge'"),
    ({**study_document(), "sampler": "tpee"}, "unknown sampler 'tpee' (did you mean 'tpe'?)"),
    ({**study_document(), "sampler": {"name": "tpe", "n_startup_trails": 3}}, "did you mean 'n_startup_trials'?"),
    ({**study_document(), "sampler": "grid"}, "grid search needs every search key to be an unconditional list"),
    ({**study_document(search={"loss": ["bce", "hinge"], "lr_g": {"type": "float", "low": 1e-3, "high": 1e-2}}),
      "sampler": "cmaes"}, "CMA-ES samples float and int keys that every trial has; loss"),
    ({**study_document(), "pruner": {"name": "median", "n_warmup_step": 3}}, "did you mean 'n_warmup_steps'?"),
    ({**study_document(), "pruner": "hyperbnd"}, "did you mean 'hyperband'?"),
    ({**study_document(), "seeds": [0, 0]}, "lists a seed more than once"),
    ({**study_document(), "seeds": 0}, "seeds must be a count >= 1"),
    ({**study_document(), "name": "a b"}, "folder-safe name"),
])
def test_bad_study_files_are_one_line_errors(write_yaml, document: dict, message: str) -> None:
    with pytest.raises(GanforgeError) as caught:
        load_study(write_yaml(document))
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_objective_direction_space_and_engines_come_out_as_optuna_takes_them(write_yaml, tmp_path: Path) -> None:
    import optuna

    study = load_study(write_yaml({**study_document(), "objective": "reverse_kl", "seeds": 3,
                                   "sampler": {"name": "tpe", "seed": 7, "n_startup_trials": 3},
                                   "pruner": {"name": "hyperband", "min_resource": 50}}))
    plan = study.plan()
    assert plan.direction == "minimize" and study.seeds == (0, 1, 2)
    assert load_study(write_yaml(study_document(), "modes.yaml")).plan().direction == "maximize"
    sampler = plan.sampler.build(plan.space)  # TPE, drawing each trial with a sampler seeded for it
    assert isinstance(sampler, TrialSeededSampler) and isinstance(sampler.inner, optuna.samplers.TPESampler)
    assert isinstance(plan.pruner.build(plan.space), optuna.pruners.HyperbandPruner)
    # every trial gets the objective's metric during training and checkpoints at each evaluation
    assert study.settings["eval_metrics"] == "toy2d" and study.settings["checkpoint_every"] == 50
    fixed = optuna.trial.FixedTrial({"lr_g": 2e-3})
    values = plan.space.sample(fixed)
    assert values == {"lr_g": 2e-3, "lr_d": 2e-3}
    config = study.config(values, seed=1, run_dir=tmp_path / "r")
    assert (config.lr_g, config.lr_d, config.seed, config.eval_every) == (2e-3, 2e-3, 1, 50)


def test_conditional_keys_are_sampled_only_when_their_condition_holds(write_yaml) -> None:
    import optuna

    study = load_study(write_yaml(with_search(loss=["bce", "hinge"],
                                              r1={"type": "float", "low": 0.01, "high": 1.0, "log": True,
                                                  "when": {"loss": "bce"}},
                                              n_critic={"type": "int", "low": 1, "high": 3})))
    assert study.space.sample(optuna.trial.FixedTrial({"loss": "hinge", "n_critic": 2})) == {"loss": "hinge",
                                                                                            "n_critic": 2}
    assert study.space.sample(optuna.trial.FixedTrial({"loss": "bce", "r1": 0.1, "n_critic": 1})) == {
        "loss": "bce", "r1": 0.1, "n_critic": 1}


def test_dry_run_shows_the_plan_and_writes_nothing(write_yaml, cli, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, err = cli("tune", write_yaml(study_document()), "--dry-run")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "study ring: 4 trials of 1 run(s) each in out"
    assert lines[1].startswith("objective: modes (higher is better); sampler random; pruner none; seeds 0")
    assert lines[2] == "  lr_g: a number in [0.001, 0.005] (log scale), also lr_d"
    assert lines[-1] == "not started" and not (tmp_path / "out").exists()


def test_the_readme_study_file_is_complete_and_valid(cli, tmp_path: Path) -> None:
    path = EXAMPLES / "tune-toy2d-ring.yaml"
    readme = (EXAMPLES.parent / "README.md").read_text()
    body = "\n".join(line for line in path.read_text().splitlines() if not line.startswith("#"))
    assert body.strip() in readme  # the README shows the whole file
    study = load_study(path, out=tmp_path / "study")
    assert study.plan().direction == "minimize" and len(study.seeds) == 2
    assert [p.key for p in study.space.params] == ["lr_g", "n_critic", "loss", "r1", "pack"]
    code, out, err = cli("tune", path, "--dry-run", "--out", tmp_path / "study")
    assert code == 0 and "30 trials of 2 run(s)" in out, err


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.yaml")) + sorted(EXAMPLES.glob("*/sweep.yaml")),
                         ids=lambda p: p.name if p.name != "sweep.yaml" else p.parent.name)
def test_example_files_still_load_and_dry_run(path: Path, cli, tmp_path: Path) -> None:
    command = "tune" if "objective" in yaml.safe_load(path.read_text()) else "sweep"
    code, out, err = cli(command, path, "--dry-run", "--out", tmp_path / "out")
    assert code == 0, err
    assert not (tmp_path / "out").exists()


def test_a_tiny_variant_of_the_digits5k_study_runs(write_yaml, cli, tmp_path: Path, one_thread) -> None:
    document = copy.deepcopy(yaml.safe_load((EXAMPLES / "digits5k-study" / "sweep.yaml").read_text()))
    document.pop("metrics")  # Inception FID needs weights downloaded; the engine and the grid are what is run
    document.update(out=str(tmp_path / "out"))
    document["settings"].update(steps=2, width=8, batch_size=8, log_every=1, sample_every=2, checkpoint_every=2,
                                eval_every=0)
    code, out, err = cli("sweep", write_yaml(document, "digits.yaml"), "--no-progress")
    assert code == 0, err
    assert "sweep digits5k-study: 6/6 runs done (0 already done)" in out
    for index, group in enumerate(["dcgan_digits5k", "wgan_digits5k", "wgan-gp_digits5k"], 1):
        for name in (f"{group}_seed0", f"{group}_seed1"):
            assert f"[{index}/3] {name}: trained to step 2" in out
            assert (tmp_path / "out" / name / "generator.safetensors").is_file()
