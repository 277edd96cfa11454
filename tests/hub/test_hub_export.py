"""``ganforge export --format hub``: a Hub model folder that ganforge itself loads back, with a model card the
Hub's own client reads; ``--push`` hands the folder to ``huggingface_hub.upload_folder`` (patched: no network)."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

import ganforge
from ganforge.cli import main
from ganforge.metrics.records import read_metric_records
from ganforge.sampling import latents
from ganforge.web.runs import find_runs, run_summary

HUB_FILES = {"model.safetensors", "config.json", "README.md", "generator.onnx", "samples.png", "loss_curves.png"}


def export(run: Path, out: Path, *extra: str) -> int:
    return main(["export", str(run), "--format", "hub", "--out", str(out), *extra])


def front_matter(card: Path) -> dict[str, Any]:
    text = card.read_text()
    assert text.startswith("---\n")
    head, _, _ = text[4:].partition("\n---\n")
    document = yaml.safe_load(head)
    assert isinstance(document, dict)
    return document


@pytest.fixture(scope="module")
def hub_folders(scored_run: Path, conditional_run: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("hub")
    folders = {"unconditional": root / "digits-gan", "conditional": root / "digits-cgan"}
    assert export(scored_run, folders["unconditional"]) == 0
    assert export(conditional_run, folders["conditional"]) == 0
    return folders


@pytest.fixture(params=["unconditional", "conditional"])
def pair(request: pytest.FixtureRequest, hub_folders: dict[str, Path], scored_run: Path,
         conditional_run: Path) -> tuple[Path, Path]:
    """(run folder, its Hub folder)."""
    run = scored_run if request.param == "unconditional" else conditional_run
    return run, hub_folders[request.param]


def test_folder_holds_the_hub_layout(pair: tuple[Path, Path]) -> None:
    run, folder = pair
    assert {p.name for p in folder.iterdir()} >= HUB_FILES
    assert not (folder / "generator.json").exists()  # the Hub names only, so one layout is read
    config = json.loads((folder / "config.json").read_text())
    assert config["spec"] == json.loads((run / "generator.json").read_text())["spec"]
    assert "run_dir" not in config["config"]  # no folder of the exporting machine is published


def test_load_generator_gives_the_runs_pixels(pair: tuple[Path, Path]) -> None:
    run, folder = pair
    from_run, _ = ganforge.load_generator(run)
    from_hub, info = ganforge.load_generator(folder)
    z = latents(7, info.spec.z_dim, 6)
    labels = torch.arange(6) % info.spec.num_classes if info.spec.num_classes else None
    with torch.no_grad():
        expected, got = from_run(z, labels), from_hub(z, labels)
    assert torch.equal(got, expected)
    assert got.std() > 0.01  # the pictures are not flat: the comparison means something


def test_generate_reads_the_folder_and_the_card_grid_is_seed_0(pair: tuple[Path, Path], tmp_path: Path) -> None:
    run, folder = pair
    assert main(["generate", str(folder), "--seed", "0", "--num", "64", "--out", str(tmp_path / "hub.png"),
                 "--no-progress"]) == 0
    assert main(["generate", str(run), "--seed", "0", "--num", "64", "--out", str(tmp_path / "run.png"),
                 "--no-progress"]) == 0
    hub_grid = np.asarray(Image.open(tmp_path / "hub.png"))
    assert np.array_equal(hub_grid, np.asarray(Image.open(tmp_path / "run.png")))
    assert np.array_equal(hub_grid, np.asarray(Image.open(folder / "samples.png")))


def test_serve_lists_the_folder(pair: tuple[Path, Path]) -> None:
    _, folder = pair
    runs = find_runs(folder)
    assert list(runs) == [folder.name]
    summary = run_summary(runs[folder.name], folder)
    assert "error" not in summary, summary
    assert "loss_curves.png" in summary["artifacts"]


def test_serve_draws_the_folders_samples(hub_folders: dict[str, Path]) -> None:
    import urllib.request

    from ganforge.web.server import start_in_thread

    folder = hub_folders["unconditional"]
    server = start_in_thread(folder)
    try:
        host, port = server.server_address[:2]
        with urllib.request.urlopen(f"http://{host}:{port}/api/generate?run={folder.name}&seed=0&num=64",
                                    timeout=120) as response:
            served = np.asarray(Image.open(io.BytesIO(response.read())).convert("RGB"))
    finally:
        server.shutdown()
        server.server_close()
    assert np.array_equal(served, np.asarray(Image.open(folder / "samples.png").convert("RGB")))


def test_card_front_matter_parses_and_the_hub_client_reads_it(pair: tuple[Path, Path],
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from huggingface_hub import ModelCard

    run, folder = pair
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    document = front_matter(folder / "README.md")
    card = ModelCard.load(folder / "README.md")
    assert card.data.library_name == document["library_name"] == "ganforge"
    assert card.data.pipeline_tag == "unconditional-image-generation"
    assert card.data.datasets == ["digits5k"]
    conditional = json.loads((run / "generator.json").read_text())["spec"]["num_classes"] > 0
    assert {"ganforge", "gan", "dcgan", "bce", "class-conditional" if conditional else "unconditional"} \
        <= set(card.data.tags)
    assert "ganforge.load_generator" in card.text and "![samples](samples.png)" in card.text
    assert "loss: bce" in card.text  # the training config


def test_card_metrics_carry_value_and_protocol(hub_folders: dict[str, Path], scored_run: Path) -> None:
    from huggingface_hub import ModelCard

    (record,) = read_metric_records(scored_run / "metrics.jsonl")
    card = ModelCard.load(hub_folders["unconditional"] / "README.md")
    (result,) = card.data.eval_results
    assert (result.metric_type, result.metric_value) == ("fd_digits", record.values["fd_digits"])
    assert result.dataset_name == "digits5k" and result.task_type == "unconditional-image-generation"
    assert result.metric_args["num_fake"] == record.protocol["num_fake"] == 64
    assert result.metric_args["step"] == record.step
    assert "| FD_digits |" in card.text
    unscored = ModelCard.load(hub_folders["conditional"] / "README.md")
    assert not unscored.data.eval_results and "was not evaluated" in unscored.text


def test_push_uploads_the_folder(scored_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import huggingface_hub

    calls: list[tuple[str, dict[str, Any]]] = []

    class Commit:
        commit_url = "hub/me/digits-gan/commit/1"

    def create_repo(repo_id: str, **kwargs: Any) -> None:
        calls.append(("create_repo", {"repo_id": repo_id, **kwargs}))

    def upload_folder(**kwargs: Any) -> Commit:
        calls.append(("upload_folder", kwargs))
        assert {p.name for p in Path(kwargs["folder_path"]).iterdir()} >= HUB_FILES  # complete when uploaded
        return Commit()

    monkeypatch.setattr(huggingface_hub, "create_repo", create_repo)
    monkeypatch.setattr(huggingface_hub, "upload_folder", upload_folder)
    out = tmp_path / "digits-gan"
    assert export(scored_run, out, "--push", "me/digits-gan") == 0
    assert [name for name, _ in calls] == ["create_repo", "upload_folder"]
    assert calls[0][1]["repo_id"] == calls[1][1]["repo_id"] == "me/digits-gan"
    assert Path(calls[1][1]["folder_path"]) == out and calls[1][1]["repo_type"] == "model"
    assert "hf download me/digits-gan" in (out / "README.md").read_text()


def test_push_failure_keeps_the_folder(scored_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    import huggingface_hub

    def offline(*args: Any, **kwargs: Any) -> None:
        raise OSError("network unreachable")

    monkeypatch.setattr(huggingface_hub, "create_repo", offline)
    out = tmp_path / "digits-gan"
    assert export(scored_run, out, "--push", "me/digits-gan") == 2
    assert "uploading" in capsys.readouterr().err and (out / "model.safetensors").is_file()


@pytest.mark.parametrize(("extra", "message"), [
    (["--push", "not a repo"], "USER/NAME"),
    (["--push", "me/../x"], "USER/NAME"),
    (["--runtime", "ort"], "--runtime does not apply to --format hub"),
])
def test_bad_options_are_one_line_errors_and_write_nothing(scored_run: Path, tmp_path: Path, extra: list[str],
                                                           message: str, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert export(scored_run, out, *extra) == 2
    err = capsys.readouterr().err
    assert message in err and err.startswith("ganforge: error:") and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_push_without_huggingface_hub_says_what_to_install(scored_run: Path, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "huggingface_hub", None)  # import fails as if not installed
    assert export(scored_run, tmp_path / "out", "--push", "me/x") == 2
    assert "ganforge[hub]" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_push_only_applies_to_hub(scored_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export", str(scored_run), "--format", "onnx", "--out", str(tmp_path / "g.onnx"),
                 "--push", "me/x"]) == 2
    assert "--push does not apply to --format onnx" in capsys.readouterr().err


def test_points_generators_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "ring"
    assert main(["train", "--no-progress", "--model", "mlp", "--data", "toy2d:ring", "--steps", "2",
                 "--batch-size", "16", "--width", "8", "--z-dim", "4", "--threads", "1", "--run-dir", str(run)]) == 0
    assert export(run, tmp_path / "out") == 2
    assert "2-D points" in capsys.readouterr().err
