"""The public Python API: the README's example runs as written, and the API's edges give one-line errors."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
from torch import nn

import ganforge
from ganforge.errors import GanforgeError

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_example() -> str:
    section = README.read_text().split("## Python API", 1)[1].split("\n## ", 1)[0]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_the_readme_example_trains_evaluates_and_resumes(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "readme_example"}
    exec(compile(readme_example(), "README.md (Python API)", "exec"), namespace)
    run = tmp_path / "runs" / "squares"
    for name in ("config.yaml", "history.csv", "samples/final.png", "checkpoints/last.pt",
                 "generator.safetensors", "generator.json"):
        assert (run / name).is_file(), name
    import yaml

    saved = yaml.safe_load((run / "config.yaml").read_text())
    assert saved["model"] == "custom" and saved["data"].startswith("python:") and saved["steps"] == 400
    assert saved["z_dim"] == 32  # the resume kept the run's own settings
    import json

    assert json.loads((run / "generator.json").read_text())["step"] == 400  # the resume ran
    generator, info = ganforge.load_generator(run, generator=namespace["Generator"]())
    assert info.spec.z_dim == 32 and generator(torch.zeros(2, 32)).shape == (2, 1, 16, 16)


class PlainG(nn.Module):
    def forward(self, z):  # no labels argument
        return z


class TinyD(nn.Module):
    def forward(self, x, labels=None):
        return x.flatten(1).sum(1)


def test_modules_without_the_ganforge_signature_are_refused_before_training(tmp_path):
    with pytest.raises(GanforgeError, match=r"forward must accept \(z, labels=None\)"):
        ganforge.train(PlainG(), TinyD(), data=torch.rand(16, 1, 8, 8), run_dir=str(tmp_path / "r"))
    with pytest.raises(GanforgeError, match="pass both generator= and discriminator="):
        ganforge.train(PlainG(), data=torch.rand(16, 1, 8, 8), run_dir=str(tmp_path / "r"))
    assert not (tmp_path / "r").exists()


def test_data_outside_the_value_range_is_a_clear_error(tmp_path):
    with pytest.raises(GanforgeError, match=r"value_range=\(-1, 1\)"):
        ganforge.train(data=torch.rand(16, 1, 32, 32) * 2 - 1, run_dir=str(tmp_path / "r"), steps=1)


def test_a_tensor_of_points_trains_a_registered_family(tmp_path):
    points = torch.randn(256, 2) * 0.1 + torch.tensor([1.0, -1.0])
    result = ganforge.train(data=points, model="mlp", z_dim=2, width=16, steps=5, batch_size=32, log_every=5,
                            run_dir=str(tmp_path / "pts"), progress=False)
    assert result.steps == 5 and (tmp_path / "pts" / "generator.json").is_file()
    generator, info = ganforge.load_generator(tmp_path / "pts")
    assert info.spec.family == "mlp" and generator(torch.zeros(3, 2)).shape == (3, 2)


class Tiny8G(nn.Module):
    """An 8x8 gray generator: the smallest module pair the API tests train."""

    def __init__(self) -> None:
        super().__init__()
        self.z_dim, self.num_classes = 4, 0
        self.net = nn.Linear(4, 64)

    def forward(self, z, labels=None):
        return torch.tanh(self.net(z)).view(-1, 1, 8, 8)


class Tiny8D(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Linear(64, 1)

    def forward(self, x, labels=None):
        return self.net(x.flatten(1)).squeeze(1)


def train_tiny(run_dir) -> None:
    ganforge.train(Tiny8G(), Tiny8D(), data=torch.rand(64, 1, 8, 8), z_dim=4, steps=2, batch_size=16, log_every=1,
                   run_dir=str(run_dir), progress=False)


def test_a_custom_run_of_a_class_defined_in_a_function_says_how_to_load_it(tmp_path, capsys):
    class LocalG(Tiny8G):  # not importable by another process: its qualname holds <locals>
        pass

    with pytest.warns(UserWarning, match=r"LocalG is defined in a function.*define the class in an importable"):
        ganforge.train(LocalG(), Tiny8D(), data=torch.rand(64, 1, 8, 8), z_dim=4, steps=2, batch_size=16,
                       log_every=1, run_dir=str(tmp_path / "c"), progress=False)
    assert "custom" not in ganforge.MODELS  # the registration lasted only for the call
    with pytest.raises(GanforgeError, match=r"ganforge.load_generator\(path, generator=YourGenerator") as caught:
        ganforge.load_generator(tmp_path / "c")
    assert "\n" not in str(caught.value) and "defined in a function" in str(caught.value)
    from ganforge.cli import main

    assert main(["generate", str(tmp_path / "c"), "--out", str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot rebuild" in err, err
    generator, _ = ganforge.load_generator(tmp_path / "c", generator=LocalG())  # the fix the message names
    assert generator(torch.zeros(1, 4)).shape == (1, 1, 8, 8)


def test_generator_kwargs_are_recorded_and_checked(tmp_path):
    with pytest.raises(GanforgeError, match="generator_kwargs= describes your generator="):
        ganforge.train(data=torch.rand(16, 1, 8, 8), generator_kwargs={"z_dim": 4}, run_dir=str(tmp_path / "r"))
    with pytest.raises(GanforgeError, match=r"generator_kwargs\['act'\] is a ReLU"):
        ganforge.train(Tiny8G(), Tiny8D(), data=torch.rand(16, 1, 8, 8), generator_kwargs={"act": nn.ReLU()},
                       run_dir=str(tmp_path / "r"))
    assert not (tmp_path / "r").exists()
    ganforge.train(Tiny8G(), Tiny8D(), data=torch.rand(64, 1, 8, 8), z_dim=4, steps=1, batch_size=16, log_every=1,
                   run_dir=str(tmp_path / "k"), progress=False, generator_kwargs={})
    import json

    record = json.loads((tmp_path / "k" / "generator.json").read_text())["spec"]["options"]["network"]
    assert record == {"class": f"{Tiny8G.__module__}:Tiny8G", "kwargs": {}}


def test_serving_shows_a_run_trained_on_your_own_modules(tmp_path):
    """The web page of the CLI, from Python, for a `custom` run: its generator is rebuilt from your class."""
    import json
    import urllib.request

    train_tiny(tmp_path / "runs" / "mine")
    with ganforge.serving(tmp_path / "runs", generator=Tiny8G()) as server:
        runs = json.loads(urllib.request.urlopen(server.url + "api/runs", timeout=60).read())["runs"]
        [run] = runs
        with urllib.request.urlopen(f"{server.url}api/generate?run={run['id']}&num=4&seed=3", timeout=60) as reply:
            assert reply.status == 200 and reply.headers["Content-Type"] == "image/png"
    assert "custom" not in ganforge.MODELS
