"""Plugins: a package installed next to ganforge adds a model family and a loss through entry points."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ganforge.runfolder import RunFolder

FIXTURE = Path(__file__).parent / "plugin_fixture"


@pytest.fixture(scope="module")
def plugin_env(tmp_path_factory) -> dict[str, str]:
    """The environment of a Python whose site has the plugin installed by pip (as a user would)."""
    target = tmp_path_factory.mktemp("site")
    build = tmp_path_factory.mktemp("build")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-index", "--no-deps",
                    "--no-build-isolation", "--disable-pip-version-check", "--target", str(target),
                    str(FIXTURE)], check=True, cwd=build, capture_output=True)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(target), env.get("PYTHONPATH")) if p)
    return env


def ganforge(env: dict[str, str], *args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ganforge", *args], env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=300)


def test_plugin_model_and_loss_train_by_name(plugin_env, tmp_path):
    run_dir = tmp_path / "run"
    result = ganforge(plugin_env, "train", "--model", "tinymlp", "--loss", "softhinge", "--width", "16",
                      "--steps", "4", "--batch-size", "8", "--log-every", "2", "--sample-every", "4",
                      "--checkpoint-every", "4", "--run-dir", str(run_dir), "--no-progress", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    spec = json.loads((run_dir / "generator.json").read_text())
    assert spec["spec"]["family"] == "tinymlp"
    assert (run_dir / "samples" / "final.png").is_file()
    # the saved generator is rebuilt through the plugin's family in another process
    out = tmp_path / "grid.png"
    result = ganforge(plugin_env, "generate", str(run_dir), "--num", "4", "--out", str(out), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert out.is_file()


def test_plugin_entries_appear_in_help(plugin_env, tmp_path):
    result = ganforge(plugin_env, "train", "--help", cwd=tmp_path)
    help_text = " ".join(result.stdout.split()).split("options:", 1)[1]
    assert "tinymlp" in help_text.split("--data", 1)[0]
    assert "softhinge" in help_text.split("--loss LOSS", 1)[1].split("--steps", 1)[0]


def test_without_the_plugin_the_name_is_unknown(tmp_path):
    result = ganforge(dict(os.environ), "train", "--model", "tinymlp", "--run-dir", str(tmp_path / "r"),
                      cwd=tmp_path)
    assert result.returncode == 2 and "unknown model 'tinymlp'" in result.stderr


def test_a_broken_plugin_is_one_warning_line(tmp_path):
    """A plugin whose import fails does not stop ganforge: one `ganforge: warning:` line names it."""
    site = tmp_path / "site"
    dist = site / "broken_plugin-0.1.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[ganforge.models]\nbroken = no_such_module_anywhere:FAMILY\n")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(site), env.get("PYTHONPATH")) if p)
    result = ganforge(env, "train", "--model", "dcgna", "--run-dir", str(tmp_path / "r"), cwd=tmp_path)
    assert result.returncode == 2 and "did you mean 'dcgan'" in result.stderr
    warning_lines = [line for line in result.stderr.splitlines() if line.startswith("ganforge: warning:")]
    assert len(warning_lines) == 1 and "plugin model 'broken'" in warning_lines[0]
    assert "Traceback" not in result.stderr


def test_plugin_options_and_regularizer_train_by_name(plugin_env, tmp_path):
    """The plugin family's declared option reaches its network; the plugin regularizer, found through the
    ganforge.regularizers group, is switched on by its own weight option and logged."""
    run_dir = tmp_path / "run"
    result = ganforge(plugin_env, "train", "--model", "tinymlp", "--model-opt", "hidden=3", "--reg-opt",
                      "drift.weight=0.5", "--reg-opt", "drift.power=1", "--width", "16", "--steps", "4",
                      "--batch-size", "8", "--log-every", "2", "--sample-every", "4", "--checkpoint-every", "4",
                      "--run-dir", str(run_dir), "--no-progress", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    spec = json.loads((run_dir / "generator.json").read_text())["spec"]
    assert spec["options"] == {"hidden": 3}
    generator = load_plugin_generator(plugin_env, run_dir, tmp_path)
    assert generator == {"linear_layers": 4}
    with (RunFolder(run_dir).history).open() as history:
        rows = list(csv.DictReader(history))
    assert rows and all(float(row["penalty_drift"]) > 0 for row in rows)


def load_plugin_generator(env: dict[str, str], run_dir: Path, cwd: Path) -> dict[str, int]:
    """The saved generator rebuilt through the plugin's family in another process: its Linear layers."""
    code = ("import json, sys; from torch import nn; from ganforge import load_generator; "
            f"g, _ = load_generator({str(run_dir)!r}); "
            "print(json.dumps({'linear_layers': sum(isinstance(m, nn.Linear) for m in g.modules())}))")
    result = subprocess.run([sys.executable, "-c", code], env=env, cwd=cwd, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_a_bad_plugin_option_is_one_error_line(plugin_env, tmp_path):
    result = ganforge(plugin_env, "train", "--model", "tinymlp", "--model-opt", "hidden=7", "--run-dir",
                      str(tmp_path / "r"), cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr == ("ganforge: error: model tinymlp option hidden must be a whole number in [1, 4], "
                             "got '7'\n")
    result = ganforge(plugin_env, "train", "--reg-opt", "drift.power=0", "--run-dir", str(tmp_path / "r"),
                      cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr == "ganforge: error: regularizer drift option power must be a number in [1, 4], got '0'\n"
