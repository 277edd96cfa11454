"""``--log mlflow``: a run's config, scalars, sample grids and files in an MLflow tracking store.

The store is MLFLOW_TRACKING_URI's when that is set, else a file store in the run folder (``mlruns/``):
mlflow-skinny has no SQLAlchemy, so a file store is the only local one it can write (MLflow 3 wants
MLFLOW_ALLOW_FILE_STORE for it, which this sets for that store). The experiment is
MLFLOW_EXPERIMENT_NAME's or "ganforge", and the MLflow run is named after the run folder. trackers.json
records the MLflow run, so a resumed training run logs on into the same one.
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy

from ganforge.errors import GanforgeError
from ganforge.runfolder import RunFolder
from ganforge.training.loggers.base import RunEnd
from ganforge.training.loggers.trackers.common import (
    WarningsFromLog,
    checked_end,
    flat_params,
    import_library,
    one_line,
    save_run,
    saved_run,
)

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

TRACKER = "mlflow"
DEFAULT_EXPERIMENT = "ganforge"
PARAMS_PER_BATCH = 100  # MLflow's limit on the params of one log_batch call


def tracking_uri(run_dir: Path) -> str:
    """Where this run's MLflow run lives: MLFLOW_TRACKING_URI, else the run folder's own file store."""
    return os.environ.get("MLFLOW_TRACKING_URI") or RunFolder(run_dir).mlflow_store.resolve().as_uri()


class MlflowLogger:
    """Logs into one MLflow run; steps at or below ``last_step`` (logged before a resume) are skipped."""

    def __init__(self, client: MlflowClient, run_id: str, route: WarningsFromLog, last_step: int = -1) -> None:
        self.client = client
        self.run_id = run_id
        self.route = route
        self.last_step = last_step
        self._closed = False

    def log_config(self, config: Mapping[str, Any]) -> None:
        """The config as params; a resumed run keeps the values it was started with (MLflow params are
        write-once), with a warning naming any that changed."""
        from mlflow.entities import Param

        params = flat_params(config)
        logged = self.client.get_run(self.run_id).data.params
        changed = sorted(key for key in params.keys() & logged.keys() if logged[key] != params[key])
        if changed:
            warnings.warn("MLflow: params cannot change, the run keeps "
                          + ", ".join(f"{key}={logged[key]} (now {params[key]})" for key in changed),
                          UserWarning, stacklevel=2)
        new = [Param(key, value) for key, value in params.items() if key not in logged]
        for start in range(0, len(new), PARAMS_PER_BATCH):
            self.client.log_batch(self.run_id, params=new[start:start + PARAMS_PER_BATCH])

    def log_scalars(self, step: int, values: Mapping[str, float]) -> None:
        from mlflow.entities import Metric

        if step <= self.last_step or not values:
            return
        now = int(time.time() * 1000)
        self.client.log_batch(self.run_id, metrics=[Metric(key, float(value), now, step)
                                                    for key, value in values.items()])

    def log_image(self, step: int, name: str, picture: numpy.ndarray) -> None:
        """An HWC uint8 picture as an image of ``name`` at ``step`` (MLflow's image-per-step view)."""
        if step <= self.last_step:
            return
        self.client.log_image(self.run_id, picture, key=name, step=step)

    def log_artifact(self, path: Path) -> None:
        """A file at the top of the run's artifacts, or a folder as a folder of that name."""
        if path.is_dir():
            self.client.log_artifacts(self.run_id, str(path), artifact_path=path.name)
        else:
            self.client.log_artifact(self.run_id, str(path))

    def close(self, status: RunEnd = "finished") -> None:
        """End the MLflow run as FINISHED, FAILED or KILLED; later calls do nothing."""
        if self._closed:
            return
        self._closed = True
        try:
            self.client.set_terminated(self.run_id, checked_end(status).upper())
        finally:
            self.route.detach()


def _new_run(client: MlflowClient, run_dir: Path) -> str:
    name = os.environ.get("MLFLOW_EXPERIMENT_NAME") or DEFAULT_EXPERIMENT
    experiment = client.get_experiment_by_name(name)
    experiment_id = experiment.experiment_id if experiment else client.create_experiment(name)
    run = client.create_run(experiment_id, run_name=run_dir.name,
                            tags={"ganforge.run_dir": str(run_dir.resolve())})
    return run.info.run_id


def _resumed_run(client: MlflowClient, run_dir: Path) -> tuple[str, int] | None:
    """The recorded MLflow run, running again, and the last step it has; None when there is none here."""
    saved = saved_run(run_dir, TRACKER)
    if saved is None:
        return None
    store = os.environ.get("MLFLOW_TRACKING_URI")
    if saved.get("tracking_uri") != store:
        warnings.warn(f"MLflow: run {saved['run_id']} is in {saved.get('tracking_uri') or 'the run folder'}, "
                      f"not in {store or 'the run folder'}; logging into a new MLflow run", UserWarning,
                      stacklevel=3)
        return None
    run_id = str(saved["run_id"])
    metrics = client.get_run(run_id).data.metrics
    last_step = max((metric.step for key in metrics for metric in client.get_metric_history(run_id, key)),
                    default=-1)
    client.update_run(run_id, status="RUNNING")
    return run_id, last_step


def make_mlflow_logger(run_dir: Path, config: dict[str, Any], *, resume: bool) -> MlflowLogger:
    """A logger into a new MLflow run, or with ``resume`` into the one trackers.json records."""
    import_library("mlflow")
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    uri = tracking_uri(run_dir)
    if "MLFLOW_TRACKING_URI" not in os.environ:
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    route = WarningsFromLog("mlflow", "MLflow")
    route.attach()
    try:
        client = MlflowClient(uri)
        resumed = _resumed_run(client, run_dir) if resume else None
        run_id, last_step = resumed or (_new_run(client, run_dir), -1)
    except MlflowException as exc:
        route.detach()
        raise GanforgeError(f"MLflow tracking store {uri}: {one_line(exc.message)}") from exc
    save_run(run_dir, TRACKER, {"run_id": run_id, "tracking_uri": os.environ.get("MLFLOW_TRACKING_URI")})
    logger = MlflowLogger(client, run_id, route, last_step)
    logger.log_config(config)
    return logger
