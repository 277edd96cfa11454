"""The MLflow and W&B loggers against the real libraries, read back through the libraries' own readers.

MLflow writes to a file store in tmp_path (read with MlflowClient); W&B runs offline in tmp_path (its
.wandb log read with ``wandb leet inspect --json``). Nothing reaches the network.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from ganforge.errors import GanforgeError
from ganforge.training.loggers.trackers import make_mlflow_logger, make_wandb_logger
from ganforge.training.loggers.trackers.mlflow_logger import tracking_uri
from ganforge.training.loggers.trackers.wandb_logger import artifact_name, wandb_mode

PICTURE = np.arange(8 * 8 * 3, dtype=np.uint8).reshape(8, 8, 3)


@pytest.fixture
def tracker_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No tracker setting of this machine's environment leaks in; W&B's own folders are in tmp_path."""
    home = tmp_path / "tracker-home"
    for name in ("WANDB_DIR", "WANDB_CACHE_DIR", "WANDB_CONFIG_DIR", "WANDB_DATA_DIR"):
        (home / name).mkdir(parents=True)
        monkeypatch.setenv(name, str(home / name))
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_ERROR_REPORTING", "false")
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    for name in ("WANDB_API_KEY", "WANDB_PROJECT", "WANDB_ENTITY", "MLFLOW_TRACKING_URI", "MLFLOW_EXPERIMENT_NAME"):
        monkeypatch.delenv(name, raising=False)
    # The MLflow logger sets this for the run folder's store; setenv first so monkeypatch restores it.
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "")
    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE")


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "dcgan-tiny-run"
    folder.mkdir()
    (folder / "generator.json").write_text('{"z_dim": 8}\n')
    return folder


@pytest.fixture
def config(make_config) -> dict[str, Any]:
    return make_config(lr_g=3e-4, loss="hinge").to_dict()


def log_a_short_run(logger, run_dir: Path) -> None:
    """Everything the training loop logs, once: scalars at steps 1-3, a sample grid, a file; then close."""
    for step in (1, 2, 3):
        logger.log_scalars(step, {"loss_d": step / 10, "lr_g": 3e-4})
    logger.log_image(3, "samples", PICTURE)
    logger.log_artifact(run_dir / "generator.json")
    logger.close()


def saved_id(run_dir: Path, tracker: str) -> str:
    return json.loads((run_dir / "trackers.json").read_text())[tracker]["run_id"]


# -- MLflow -------------------------------------------------------------------------------------------

def mlflow_client(run_dir: Path):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri(run_dir))


def metric_history(client, run_id: str, key: str) -> list[tuple[int, float]]:
    return [(m.step, m.value) for m in client.get_metric_history(run_id, key)]


def test_mlflow_logs_params_metrics_images_and_files(tracker_env, run_dir, config, tmp_path, capfd):
    logger = make_mlflow_logger(run_dir, config, resume=False)
    log_a_short_run(logger, run_dir)
    assert capfd.readouterr() == ("", "")

    assert (run_dir / "mlruns").is_dir()
    client = mlflow_client(run_dir)
    run_id = saved_id(run_dir, "mlflow")
    run = client.get_run(run_id)
    assert run.info.run_name == "dcgan-tiny-run"
    assert run.info.status == "FINISHED"
    assert client.get_experiment(run.info.experiment_id).name == "ganforge"
    params = run.data.params
    assert params["lr_g"] == "0.0003" and params["loss"] == "hinge"
    assert json.loads(params["betas"]) == config["betas"]
    assert params.keys() == config.keys()
    assert metric_history(client, run_id, "loss_d") == [(1, 0.1), (2, 0.2), (3, 0.3)]

    images = [a.path for a in client.list_artifacts(run_id, "images") if a.path.endswith(".png")]
    assert len(images) == 1 and "samples+step+3+" in images[0]
    image = client.download_artifacts(run_id, images[0], str(tmp_path / "image"))
    assert np.array_equal(np.asarray(Image.open(image)), PICTURE)
    assert [a.path for a in client.list_artifacts(run_id) if not a.is_dir] == ["generator.json"]
    copy = client.download_artifacts(run_id, "generator.json", str(tmp_path / "file"))
    assert Path(copy).read_text() == '{"z_dim": 8}\n'


@pytest.mark.parametrize(("status", "mlflow_status"), [("failed", "FAILED"), ("killed", "KILLED")])
def test_mlflow_run_status_says_how_training_ended(tracker_env, run_dir, config, status, mlflow_status):
    make_mlflow_logger(run_dir, config, resume=False).close(status)
    assert mlflow_client(run_dir).get_run(saved_id(run_dir, "mlflow")).info.status == mlflow_status


def test_mlflow_resume_logs_into_the_same_run_without_repeating_steps(tracker_env, run_dir, config):
    logger = make_mlflow_logger(run_dir, config, resume=False)
    for step in (1, 2, 3):
        logger.log_scalars(step, {"loss_g": float(step)})
    logger.close("killed")
    run_id = saved_id(run_dir, "mlflow")

    # Resumed from a checkpoint at step 1: steps 2 and 3 come again and are already in the run.
    logger = make_mlflow_logger(run_dir, config, resume=True)
    assert mlflow_client(run_dir).get_run(run_id).info.status == "RUNNING"
    for step in (2, 3, 4, 5):
        logger.log_scalars(step, {"loss_g": 10.0 * step})
    logger.close()

    client = mlflow_client(run_dir)
    assert saved_id(run_dir, "mlflow") == run_id
    run = client.get_run(run_id)
    assert len(client.search_runs([run.info.experiment_id])) == 1
    assert run.info.status == "FINISHED"
    assert metric_history(client, run_id, "loss_g") == [(1, 1.0), (2, 2.0), (3, 3.0), (4, 40.0), (5, 50.0)]


def test_mlflow_resume_keeps_params_and_warns_about_changed_ones(tracker_env, run_dir, make_config):
    make_mlflow_logger(run_dir, make_config(steps=3).to_dict(), resume=False).close()
    with pytest.warns(UserWarning, match=r"MLflow: params cannot change, the run keeps steps=3 \(now 10\)"):
        logger = make_mlflow_logger(run_dir, make_config(steps=10).to_dict(), resume=True)
    logger.close()
    assert mlflow_client(run_dir).get_run(saved_id(run_dir, "mlflow")).data.params["steps"] == "3"


def test_mlflow_honours_tracking_uri_and_experiment_name(tracker_env, run_dir, config, tmp_path, monkeypatch):
    from mlflow.tracking import MlflowClient

    store = (tmp_path / "team-store").as_uri()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store)
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "gans")
    logger = make_mlflow_logger(run_dir, config, resume=False)
    logger.log_scalars(1, {"loss_d": 0.5})
    logger.close()
    assert not (run_dir / "mlruns").exists()
    experiment = MlflowClient(store).get_experiment_by_name("gans")
    runs = MlflowClient(store).search_runs([experiment.experiment_id])
    assert [r.info.run_id for r in runs] == [saved_id(run_dir, "mlflow")]
    assert runs[0].data.metrics == {"loss_d": 0.5}


def test_mlflow_log_warnings_become_python_warnings(tracker_env, run_dir, capfd):
    with pytest.warns(UserWarning, match=r"^MLflow: Param value 'x+\.\.\.' \(7000 characters\) is truncated"):
        make_mlflow_logger(run_dir, {"note": "x" * 7000}, resume=False).close()
    assert capfd.readouterr().err == ""


def test_mlflow_unusable_store_is_a_one_line_error(tracker_env, run_dir, config, tmp_path, monkeypatch):
    # MLflow 3 refuses a file store the user names unless they opt in; the logger says so, on one line.
    monkeypatch.setenv("MLFLOW_TRACKING_URI", (tmp_path / "store").as_uri())
    with pytest.raises(GanforgeError, match=r"^MLflow tracking store file:.*MLFLOW_ALLOW_FILE_STORE") as caught:
        make_mlflow_logger(run_dir, config, resume=False)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(("factory", "library"), [(make_mlflow_logger, "mlflow"), (make_wandb_logger, "wandb")])
def test_missing_library_is_a_one_line_error(run_dir, factory, library, monkeypatch):
    monkeypatch.setitem(sys.modules, library, None)  # what an environment without the package imports
    with pytest.raises(GanforgeError) as caught:
        factory(run_dir, {}, resume=False)
    assert str(caught.value) == f"--log {library} needs the {library} package: pip install 'ganforge[{library}]'"


# -- W&B ----------------------------------------------------------------------------------------------

def wandb_runs(run_dir: Path) -> list[Path]:
    return sorted((run_dir / "wandb").glob("offline-run-*"))


def wandb_records(offline_run: Path, kind: str) -> list[dict[str, Any]]:
    """The records of one kind in an offline run's .wandb log, as W&B's own inspector prints them."""
    listing = subprocess.run([sys.executable, "-m", "wandb", "leet", "inspect", "--json", str(offline_run)],
                             capture_output=True, text=True, check=True, timeout=60)
    records = [json.loads(line) for line in listing.stdout.splitlines()]
    return [record[kind] for record in records if record["type"] == kind]


def logged_values(offline_run: Path, key: str) -> list[tuple[int, float]]:
    return [(int(h["step"]["num"]), h["item"][key]) for h in wandb_records(offline_run, "history")
            if key in h["item"]]


def test_wandb_offline_run_has_config_scalars_image_and_artifact(tracker_env, run_dir, config, capfd):
    logger = make_wandb_logger(run_dir, config, resume=False)
    log_a_short_run(logger, run_dir)
    assert capfd.readouterr() == ("", "")

    [offline] = wandb_runs(run_dir)
    run_id = saved_id(run_dir, "wandb")
    [run] = wandb_records(offline, "run")
    assert run["run_id"] == run_id and run["display_name"] == "dcgan-tiny-run" and run["project"] == "ganforge"
    logged_config = run["config"]["update"]
    assert logged_config["lr_g"] == 3e-4 and logged_config["loss"] == "hinge"
    assert logged_config["betas"] == config["betas"]
    assert logged_values(offline, "loss_d") == [(1, 0.1), (2, 0.2), (3, 0.3)]
    [image] = [h["item"] for h in wandb_records(offline, "history") if "samples.path" in h["item"]]
    assert image["samples._type"] == "image-file"
    assert np.array_equal(np.asarray(Image.open(offline / "files" / image["samples.path"])), PICTURE)
    [artifact] = wandb_records(offline, "artifact")
    assert artifact["name"] == artifact_name(run_id, run_dir / "generator.json")
    assert [entry["path"] for entry in artifact["manifest"]["contents"]] == ["generator.json"]
    assert [e["exit_code"] for e in wandb_records(offline, "exit")] == [0]


def test_wandb_resume_continues_the_same_run(tracker_env, run_dir, config):
    logger = make_wandb_logger(run_dir, config, resume=False)
    logger.log_scalars(1, {"loss_g": 1.0})
    logger.close("killed")
    run_id = saved_id(run_dir, "wandb")

    logger = make_wandb_logger(run_dir, config, resume=True)
    logger.log_scalars(2, {"loss_g": 2.0})
    logger.close()
    first, second = wandb_runs(run_dir)
    assert [e.get("exit_code", 0) for e in wandb_records(first, "exit")] == [130]
    [resumed] = wandb_records(second, "run")
    assert resumed["run_id"] == run_id and resumed["resume"] is True
    assert logged_values(second, "loss_g") == [(2, 2.0)]
    assert saved_id(run_dir, "wandb") == run_id


def test_wandb_is_offline_unless_told_otherwise(tracker_env, run_dir, monkeypatch):
    monkeypatch.delenv("WANDB_MODE")
    assert wandb_mode() == "offline"
    make_wandb_logger(run_dir, {}, resume=False).close()
    assert len(wandb_runs(run_dir)) == 1
    monkeypatch.setenv("WANDB_API_KEY", "0" * 40)
    assert wandb_mode() == "online"
    monkeypatch.setenv("WANDB_MODE", "disabled")
    assert wandb_mode() == "disabled"


def test_wandb_terminal_warnings_become_python_warnings(tracker_env, run_dir, capfd):
    logger = make_wandb_logger(run_dir, {}, resume=False)
    with pytest.warns(UserWarning, match=r"^W&B: Tried to log to step 1 that is less than the current step 2"):
        logger.log_scalars(2, {"loss_d": 1.0})
        logger.log_scalars(1, {"loss_d": 2.0})
        logger.close()  # W&B reports the dropped step asynchronously; by the end of the run it has
    assert capfd.readouterr().err == ""


def test_wandb_bad_mode_is_a_one_line_error(tracker_env, run_dir, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "sometimes")
    with pytest.raises(GanforgeError, match=r"^W&B could not start a run .*mode") as caught:
        make_wandb_logger(run_dir, {}, resume=False)
    assert "\n" not in str(caught.value)


def test_importing_the_trackers_imports_neither_library():
    # The libraries take seconds to import; only a run that logs to them should pay for that.
    code = ("import sys, ganforge.training.loggers.trackers; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('mlflow', 'wandb')))")
    listing = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert listing.stdout.strip() == "[]"


# -- through a real training run ----------------------------------------------------------------------

def test_a_training_run_logs_to_every_tracker_and_they_read_back(tracker_env, tiny_data, tmp_path):
    """`--log tensorboard,csv,mlflow,wandb` on a real run: each tracker's own reader sees the losses, the
    evaluation-free scalars (lr), the sample grid and the generator, and the run's end status."""
    from ganforge.cli import main

    run = tmp_path / "tracked"
    code = main(["train", "--run-dir", str(run), "--no-progress", "--width", "8", "--batch-size", "8",
                 "--steps", "4", "--log-every", "2", "--sample-every", "2", "--checkpoint-every", "4",
                 "--log", "tensorboard,csv,mlflow,wandb"])
    assert code == 0
    history = (run / "history.csv").read_text().splitlines()
    client = mlflow_client(run)
    mlflow_run = client.get_run(saved_id(run, "mlflow"))
    assert mlflow_run.info.status == "FINISHED" and mlflow_run.data.params["steps"] == "4"
    assert [step for step, _ in metric_history(client, mlflow_run.info.run_id, "loss_d")] == [2, 4]
    assert {step for step, _ in metric_history(client, mlflow_run.info.run_id, "lr_g")} == {2, 4}
    artifacts = {a.path for a in client.list_artifacts(mlflow_run.info.run_id)}
    assert {"generator.safetensors", "generator.json", "config.yaml", "final.png", "progress.gif"} <= artifacts
    images = client.list_artifacts(mlflow_run.info.run_id, "images")
    assert images, f"no sample grid among the MLflow artifacts: {artifacts}"
    [offline] = wandb_runs(run)
    wandb_loss = logged_values(offline, "loss_d")
    assert [step for step, _ in wandb_loss] == [2, 4]
    csv_loss = [float(line.split(",")[history[0].split(",").index("loss_d")]) for line in history[1:]]
    assert [value for _, value in wandb_loss] == pytest.approx(csv_loss)
    assert any("samples.path" in h["item"] for h in wandb_records(offline, "history"))
    assert [e["exit_code"] for e in wandb_records(offline, "exit")] == [0]
