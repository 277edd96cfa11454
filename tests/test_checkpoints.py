"""Any checkpoint of a run is usable: ``--step N`` / ``--checkpoint best|last|PATH`` for evaluate and serve,
and a checkpoint .pt given where a run folder is expected is read (load_generator) or refused in one line."""

from __future__ import annotations

import json
import threading
import urllib.request
from pathlib import Path

import pytest
import torch

from ganforge.checkpoints import CheckpointChoice, resolve_checkpoint, run_folder_of
from ganforge.cli import main
from ganforge.errors import GanforgeError
from ganforge.loader import load_generator
from ganforge.models.io import read_generator_info
from ganforge.web.server import GanforgeServer

RUN = ["--data", "toy2d:ring", "--model", "mlp", "--width", "8", "--z-dim", "4", "--batch-size", "16",
       "--steps", "6", "--checkpoint-every", "2", "--log-every", "2", "--sample-every", "1000", "--log", "csv",
       "--device", "cpu", "--threads", "1", "--no-progress"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("checkpoints") / "run"
    assert main(["train", *RUN, "--ema", "0", "--run-dir", str(folder)]) == 0  # G itself is what is saved
    return folder


@pytest.fixture(scope="module")
def ema_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("checkpoints") / "ema"
    assert main(["train", *RUN, "--ema", "0.9", "--run-dir", str(folder)]) == 0
    return folder


def saved(path: Path, part: str = "generator") -> dict[str, torch.Tensor]:
    return torch.load(path, weights_only=True)[part]


def same_weights(module: torch.nn.Module, tensors: dict[str, torch.Tensor]) -> bool:
    state = module.state_dict()
    return state.keys() == tensors.keys() and all(torch.equal(state[k], tensors[k]) for k in state)


def test_choices_resolve_to_files(run_dir: Path) -> None:
    checkpoints = run_dir / "checkpoints"
    assert resolve_checkpoint(run_dir) == run_dir
    assert resolve_checkpoint(run_dir, CheckpointChoice(step=4)) == checkpoints / "step_0000004.pt"
    assert resolve_checkpoint(run_dir, CheckpointChoice(checkpoint="last")) == checkpoints / "last.pt"
    with pytest.raises(GanforgeError, match=r"has no checkpoint of step 5 \(periodic checkpoints: 2, 4, 6\)"):
        resolve_checkpoint(run_dir, CheckpointChoice(step=5))
    with pytest.raises(GanforgeError, match="trained without --eval-every, so it has no best generator"):
        resolve_checkpoint(run_dir, CheckpointChoice(checkpoint="best"))
    with pytest.raises(GanforgeError, match="pass one of them"):
        resolve_checkpoint(run_dir, CheckpointChoice(step=2, checkpoint="last"))
    assert run_folder_of(checkpoints / "step_0000002.pt") == run_dir
    assert run_folder_of(run_dir / "generator.json") == run_dir


def test_a_step_loads_that_steps_generator(run_dir: Path) -> None:
    early, info = load_generator(run_dir, CheckpointChoice(step=2))
    assert info.meta["step"] == 2 and info.kind == "points" and info.meta["dataset"] == "toy2d:ring"
    assert same_weights(early, saved(run_dir / "checkpoints" / "step_0000002.pt"))
    final, final_info = load_generator(run_dir)
    assert final_info.meta["step"] == 6 and not same_weights(final, saved(run_dir / "checkpoints" / "step_0000002.pt"))
    # a .pt handed to the shared loader is read as the checkpoint it is
    direct, direct_info = load_generator(run_dir / "checkpoints" / "step_0000004.pt")
    assert direct_info.meta["step"] == 4 and same_weights(direct, saved(run_dir / "checkpoints" / "step_0000004.pt"))


def test_the_ema_copy_is_what_a_checkpoint_gives(ema_run: Path) -> None:
    generator, info = load_generator(ema_run, CheckpointChoice(checkpoint="last"))
    path = ema_run / "checkpoints" / "last.pt"
    assert info.meta["ema"] is True
    assert same_weights(generator, saved(path, "generator_ema"))
    assert not same_weights(generator, saved(path, "generator"))


def test_foreign_files_are_one_line_errors(run_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(GanforgeError, match="is a training checkpoint, not a generator.json; pass its run folder"):
        read_generator_info(run_dir / "checkpoints" / "last.pt")
    foreign = tmp_path / "weights.pt"
    torch.save({"conv.weight": torch.zeros(2)}, foreign)
    with pytest.raises(GanforgeError, match="is a torch file but not a ganforge checkpoint"):
        load_generator(foreign)
    binary = tmp_path / "generator.json"
    binary.write_bytes(b"\x80\x02\xff not json")
    with pytest.raises(GanforgeError, match="cannot read .*generator.json") as info:
        read_generator_info(binary)
    assert "\n" not in str(info.value)


def test_evaluate_scores_a_chosen_checkpoint(run_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    metrics = run_dir / "metrics.jsonl"
    metrics.unlink(missing_ok=True)
    args = ["--num-samples", "200", "--device", "cpu", "--no-progress"]
    assert main(["evaluate", str(run_dir), "--step", "2", *args]) == 0
    assert "step 2" in capsys.readouterr().out
    assert main(["evaluate", str(run_dir / "checkpoints" / "step_0000004.pt"), *args]) == 0
    records = [json.loads(line) for line in metrics.read_text().splitlines()]
    assert [r["step"] for r in records] == [2, 4]
    assert records[0]["checkpoint"].endswith("step_0000002.pt") and records[1]["checkpoint"].endswith("step_0000004.pt")
    assert main(["evaluate", str(run_dir), "--checkpoint", "best", *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no best generator" in err


def test_evaluate_keeps_one_samples_flag(run_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["evaluate", str(run_dir), "--samples", "100", "--device", "cpu", "--no-progress"]) == 0
    captured = capsys.readouterr()
    assert captured.err == "ganforge: warning: --samples is deprecated; use --num-samples\n"
    assert "N fake 100 points" in captured.out
    assert main(["evaluate", str(run_dir), "--samples", "100", "--num-samples", "100"]) == 2
    assert "pass only --num-samples" in capsys.readouterr().err


def test_generate_reads_a_checkpoint_file_and_refuses_a_torchscript_export(run_dir: Path, tmp_path: Path,
                                                                             capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["generate", str(run_dir / "checkpoints" / "step_0000002.pt"), "--out", str(tmp_path / "x.csv"),
                 "--num", "8", "--no-progress"])
    captured = capsys.readouterr()
    assert code == 0 and "step 2" in captured.out, captured.err
    assert len((tmp_path / "x.csv").read_text().splitlines()) >= 8
    exported = tmp_path / "g.pt"
    assert main(["export", str(run_dir), "--format", "torchscript", "--out", str(exported)]) == 0
    capsys.readouterr()
    assert main(["generate", str(exported), "--out", str(tmp_path / "y.csv")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is a TorchScript export" in err, err


def test_serve_uses_the_chosen_checkpoint(run_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    server = GanforgeServer(run_dir, "127.0.0.1", 0, quiet=True, choice=CheckpointChoice(step=2))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        loaded = server.cache.get("run", run_dir)
        assert loaded.info.meta["step"] == 2
        assert same_weights(loaded.module, saved(run_dir / "checkpoints" / "step_0000002.pt"))
        host, port = server.server_address[:2]
        with urllib.request.urlopen(f"http://{host}:{port}/api/generate?run=run&num=4", timeout=60) as response:
            assert response.status == 200 and response.read(8) == b"\x89PNG\r\n\x1a\n"
    finally:
        server.shutdown()
        server.server_close()
    assert main(["serve", str(run_dir.parent), "--checkpoint", str(run_dir / "checkpoints" / "last.pt")]) == 2
    assert "RUNS_DIR must be its run folder" in capsys.readouterr().err


def test_generate_and_export_read_the_chosen_checkpoint(run_dir: Path, tmp_path: Path) -> None:
    """`generate` and `export` take --step / --checkpoint like evaluate and serve."""
    pictures = {}
    for step in ("2", "6"):
        out = tmp_path / f"step{step}.png"
        assert main(["generate", str(run_dir), "--step", step, "--seed", "1", "--out", str(out)]) == 0
        pictures[step] = out.read_bytes()
    latest = tmp_path / "latest.png"
    assert main(["generate", str(run_dir), "--seed", "1", "--out", str(latest)]) == 0
    assert pictures["2"] != pictures["6"]  # other weights, other picture
    assert pictures["6"] == latest.read_bytes()  # step 6 is the final generator
    onnx = tmp_path / "step2.onnx"
    assert main(["export", str(run_dir), "--step", "2", "--format", "onnx", "--out", str(onnx)]) == 0
    assert onnx.is_file()
    assert main(["generate", str(run_dir), "--step", "2", "--checkpoint", "last", "--out", str(tmp_path / "x.png")]) == 2
