"""The run's outputs as loggers: history.csv grows columns, TensorBoard gets every scalar and the config,
--log picks the optional loggers, and a registered logger receives every call of the protocol."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import yaml
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from ganforge.cli import main
from ganforge.config_build import build_config
from ganforge.training import train
from ganforge.training.loggers import FINAL_SAMPLES, LOGGERS, SAMPLES, HistoryCsv, LoggerBase

TINY = {"width": 8, "batch_size": 4, "z_dim": 8, "device": "cpu", "log_every": 2, "sample_every": 4,
        "checkpoint_every": 100}


def _rows(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        return list(reader.fieldnames or ()), list(reader)


class ReportsAt:
    """A callback reporting ``key`` at the steps given (as the metrics do at evaluation steps)."""

    def __init__(self, key: str, steps: tuple[int, ...]) -> None:
        self.key, self.steps = key, steps

    def on_step_end(self, trainer, step: int) -> dict[str, float] | None:
        return {self.key: step / 10} if step in self.steps else None

    def on_train_end(self, trainer) -> None:
        pass


def test_history_gains_a_column_when_a_callback_first_reports_a_key(tmp_path, tiny_data) -> None:
    run_dir = tmp_path / "run"
    config = build_config(TINY, {"steps": 6, "run_dir": str(run_dir)})
    train(config, progress=False, callbacks=[ReportsAt("score", (4,)), ReportsAt("late", (6,))])
    header, rows = _rows(run_dir / "history.csv")
    assert header == ["step", "epoch", "loss_d", "loss_g", "d_real", "d_fake", "lr", "seconds", "images_per_s",
                      "score", "late"]
    assert [(r["step"], r["score"], r["late"]) for r in rows] == [("2", "", ""), ("4", "0.4", ""), ("6", "", "0.6")]
    assert all(r["loss_d"] for r in rows)  # rows written before the rewrite keep their values

    # a resumed run keeps the columns, drops the rows after its checkpoint and logs them again
    train(build_config(TINY, {"steps": 8, "run_dir": str(run_dir)}), resume=True, progress=False)
    header_after, rows_after = _rows(run_dir / "history.csv")
    assert header_after == header
    assert [r["step"] for r in rows_after] == ["2", "4", "6", "8"] and rows_after[:3] == rows


def test_history_csv_resume_drops_rows_after_the_checkpoint(tmp_path) -> None:
    path = tmp_path / "history.csv"
    history = HistoryCsv(path)
    for step in (5, 10, 12):  # 12: the last row of a run that stopped off the log grid
        history.log_scalars(step, {"loss_d": 1.0, "lr_g": 0.1, "lr_d": 0.2, "penalty": float(step)})
    history.close()
    header, rows = _rows(path)
    assert header[-1] == "penalty" and "lr_d" not in header  # lr is G's rate; D's goes to TensorBoard
    assert [r["lr"] for r in rows] == ["0.1"] * 3
    # an evaluation's row off the log grid, written before its checkpoint (no steps left unreported): kept
    HistoryCsv(path, resume_step=12, resume_window_open=False).close()
    assert [r["step"] for r in _rows(path)[1]] == ["5", "10", "12"]
    # the final, partial row after the checkpoint: its steps are reported again as part of row 15
    HistoryCsv(path, resume_step=12, resume_window_open=True).close()
    assert [r["step"] for r in _rows(path)[1]] == ["5", "10"]
    HistoryCsv(path, resume_step=5).close()
    assert [r["step"] for r in _rows(path)[1]] == ["5"] and _rows(path)[0] == header


def test_tensorboard_gets_both_learning_rates_and_the_config(tmp_path, tiny_data) -> None:
    run_dir = tmp_path / "run"
    train(build_config(TINY, {"steps": 4, "run_dir": str(run_dir), "lr_g": 2e-4, "lr_d": 4e-4,
                             "lr_decay": "linear"}),
          progress=False)
    events = EventAccumulator(str(run_dir / "tb"))
    events.Reload()
    scalars = events.Tags()["scalars"]
    assert {"loss_d", "loss_g", "d_real", "d_fake", "lr_g", "lr_d", "images_per_s"} <= set(scalars)
    lr_g = [(e.step, e.value) for e in events.Scalars("lr_g")]
    lr_d = [(e.step, e.value) for e in events.Scalars("lr_d")]
    # the rate of the last update of each logged step: linear decay from 2e-4 and 4e-4 over 4 steps
    assert lr_g == [(2, pytest.approx(2e-4 * 3 / 4)), (4, pytest.approx(2e-4 / 4))]
    assert lr_d == [(2, pytest.approx(4e-4 * 3 / 4)), (4, pytest.approx(4e-4 / 4))]
    (text,) = events.Tensors("config/text_summary")
    config = yaml.safe_load(text.tensor_proto.string_val[0].decode())
    assert config["lr_d"] == 4e-4 and config["lr_decay"] == "linear" and config["run_dir"] == str(run_dir)
    assert "torch_version" in config
    assert set(events.Tags()["images"]) == {SAMPLES, FINAL_SAMPLES}


def test_log_picks_the_optional_loggers(tmp_path, tiny_data, capsys) -> None:
    flags = ["--width", "8", "--batch-size", "4", "--z-dim", "8", "--steps", "4", "--log-every", "2",
             "--sample-every", "2", "--device", "cpu", "--no-progress"]
    assert main(["train", *flags, "--log", "csv", "--run-dir", str(tmp_path / "csv")]) == 0
    assert (tmp_path / "csv" / "history.csv").is_file() and not (tmp_path / "csv" / "tb").exists()
    assert main(["train", *flags, "--log", "none", "--run-dir", str(tmp_path / "none")]) == 0
    folder = tmp_path / "none"
    assert not (folder / "history.csv").exists() and not (folder / "tb").exists()
    for always in ("samples/step_0000002.png", "samples/final.png", "progress.gif", "checkpoints/last.pt",
                   "generator.safetensors"):
        assert (folder / always).is_file(), always
    capsys.readouterr()
    assert main(["train", *flags, "--log", "csv,mlfow", "--run-dir", str(tmp_path / "bad")]) == 2
    err = capsys.readouterr().err
    assert "unknown logger 'mlfow'" in err and "tensorboard, csv" in err and err.count("\n") == 1
    assert not (tmp_path / "bad").exists()


class Recorder(LoggerBase):
    calls: list[tuple] = []

    def log_config(self, config):
        self.calls.append(("config", config["loss"]))

    def log_scalars(self, step, values):
        self.calls.append(("scalars", step, sorted(values)))

    def log_image(self, step, name, image):
        self.calls.append(("image", step, name, image.dtype.name, image.ndim))

    def log_artifact(self, path):
        self.calls.append(("artifact", Path(path).name))

    def close(self, status="finished"):
        self.calls.append(("close", status))



def test_a_registered_logger_receives_every_call(tmp_path, tiny_data) -> None:
    Recorder.calls = []
    LOGGERS.register("recorder", lambda context: Recorder())
    try:
        train(build_config(TINY, {"steps": 4, "log": "recorder", "run_dir": str(tmp_path / "run")}), progress=False)
    finally:
        LOGGERS.unregister("recorder")
    keys = sorted(["epoch", "loss_d", "loss_g", "d_real", "d_fake", "lr_g", "lr_d", "seconds", "images_per_s"])
    calls = Recorder.calls
    assert calls[0] == ("config", "bce") and calls[-1] == ("close", "finished")
    assert [c for c in calls if c[0] == "scalars"] == [("scalars", 2, keys), ("scalars", 4, keys)]
    assert [c for c in calls if c[0] == "image"] == [("image", 4, SAMPLES, "uint8", 3),
                                                      ("image", 4, FINAL_SAMPLES, "uint8", 3)]
    artifacts = {c[1] for c in calls if c[0] == "artifact"}
    # no loss_curves.png: they are drawn from history.csv, and --log names the recorder only
    assert artifacts == {"final.png", "progress.gif", "config.yaml", "generator.safetensors", "generator.json"}
    assert not (tmp_path / "run" / "history.csv").exists()
    with pytest.raises(Exception, match="unknown logger 'recorder'"):
        build_config({"log": "recorder"})


class Stopper:
    """A callback that raises ``error`` at step 2, as a Ctrl-C or a failing evaluation would."""

    def __init__(self, error: BaseException) -> None:
        self.error = error

    def on_step_end(self, trainer, step):
        if step == 2:
            raise self.error

    def on_train_end(self, trainer):
        return None


@pytest.mark.parametrize(("error", "status"), [(KeyboardInterrupt(), "killed"), (RuntimeError("boom"), "failed")])
def test_loggers_are_told_how_the_run_ended(tmp_path, tiny_data, error, status) -> None:
    Recorder.calls = []
    LOGGERS.register("recorder", lambda context: Recorder())
    try:
        with pytest.raises(type(error)):
            train(build_config(TINY, {"steps": 4, "log": "recorder", "run_dir": str(tmp_path / "run")}),
                  callbacks=[Stopper(error)], progress=False)
    finally:
        LOGGERS.unregister("recorder")
    assert Recorder.calls[-1] == ("close", status)
