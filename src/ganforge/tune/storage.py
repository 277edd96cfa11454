"""The study's storage: Optuna's relational database, by default a SQLite file in the study folder.

``--storage postgresql://user:password@host/db`` (or ``mysql://...``, or ``$GANFORGE_STORAGE``) puts the
study in a database server instead, so that ``ganforge tune`` workers on several machines join one study:
Optuna coordinates them (trial numbers, the grid, the sampler's view of finished trials), not ganforge.
Each worker sends a heartbeat; a trial whose worker stopped beating for twice the interval is marked
failed, and retried as the study's ``retries`` allow. ``optuna-dashboard <storage URL>`` shows the study.
"""

from __future__ import annotations

import inspect
import json
import os
import time
import warnings
from collections.abc import Callable
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import optuna
from sqlalchemy.engine import make_url

from ganforge.errors import GanforgeError
from ganforge.fileio import atomic_write_text
from ganforge.tune.plan import StudyPlan

DATABASE_FILE = "study.db"
INDEX_FILE = "study.json"
STORAGE_ENV = "GANFORGE_STORAGE"
SQLITE_TIMEOUT_S = 120  # workers sharing one SQLite file wait this long for its write lock
OPEN_ATTEMPTS = 5  # workers that create the same tables at once: all but one retry


def quiet_optuna() -> None:
    """ganforge prints its own one-line progress; Optuna's log lines (with tracebacks of failed trials) and
    its experimental-feature warnings (heartbeats) would drown them."""
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    warnings.filterwarnings("ignore", category=FutureWarning, module="optuna")


def default_storage(out: Path) -> str:
    return f"sqlite:///{(out / DATABASE_FILE).resolve()}"


def storage_url(given: str | None, out: Path) -> str:
    return given or os.environ.get(STORAGE_ENV) or default_storage(out)


def shown_url(url: str) -> str:
    """The URL with its password hidden, for messages and study.json."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL SQLAlchemy can parse: opening it reports that
        return url


def with_driver(url: str) -> str:
    """``postgresql://`` with the driver that is installed: SQLAlchemy 2.1 takes it to mean psycopg 3,
    earlier versions psycopg2 (what ``ganforge[postgres]`` installs)."""
    try:
        parsed = make_url(url)
    except Exception:  # opening it reports what is wrong
        return url
    if parsed.drivername == "postgresql" and find_spec("psycopg") is None and find_spec("psycopg2") is not None:
        return parsed.set(drivername="postgresql+psycopg2").render_as_string(hide_password=False)
    return url


def open_storage(url: str, heartbeat: int, on_stale: Callable[[Any, Any], None] | None) -> Any:
    quiet_optuna()
    engine: dict[str, Any] = ({"connect_args": {"timeout": SQLITE_TIMEOUT_S}} if url.startswith("sqlite")
                              else {"pool_pre_ping": True})
    # Optuna 4.9 renamed failed_trial_callback (the name older 4.x releases take)
    parameters = inspect.signature(optuna.storages.RDBStorage).parameters
    stale = "heartbeat_stale_trial_callback" if "heartbeat_stale_trial_callback" in parameters else "failed_trial_callback"
    callback: dict[str, Any] = {stale: on_stale}
    return optuna.storages.RDBStorage(with_driver(url), engine_kwargs=engine, heartbeat_interval=heartbeat,
                                      grace_period=2 * heartbeat, **callback)


def storage_error(url: str, exc: BaseException) -> GanforgeError:
    if isinstance(exc, ImportError):
        return GanforgeError(f"cannot open the study storage {shown_url(url)}: {exc}; install its database "
                             "driver (pip install 'ganforge[postgres]' for PostgreSQL)")
    return GanforgeError(f"cannot open the study storage {shown_url(url)}: {type(exc).__name__}: "
                         f"{str(exc).splitlines()[0] if str(exc) else ''}; check the URL and that the server runs")


def open_study(plan: StudyPlan, url: str, *, on_stale: Callable[[Any, Any], None] | None = None) -> Any:
    """Create the study or join it (several workers may do this at the same moment)."""
    if url.startswith("sqlite"):
        plan.out.mkdir(parents=True, exist_ok=True)
    for attempt in range(OPEN_ATTEMPTS):
        try:
            storage = open_storage(url, plan.heartbeat, on_stale)
            return optuna.create_study(storage=storage, study_name=plan.study_name,
                                       direction=optuna.study.StudyDirection[plan.direction.upper()],
                                       sampler=plan.sampler.build(plan.space),
                                       pruner=plan.pruner.build(plan.space), load_if_exists=True)
        except GanforgeError:
            raise
        except ValueError as exc:  # the study exists with another direction
            raise GanforgeError(f"study {plan.study_name} in {shown_url(url)}: {exc}; give the study another "
                                "name:") from None
        except ImportError as exc:
            raise storage_error(url, exc) from None
        except Exception as exc:  # a race on table creation, or a server not up (yet)
            if attempt == OPEN_ATTEMPTS - 1:
                raise storage_error(url, exc) from None
            time.sleep(0.5 + attempt)
    raise AssertionError("unreachable")


def read_index(folder: Path) -> dict[str, Any] | None:
    try:
        index = json.loads((folder / INDEX_FILE).read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return index if isinstance(index, dict) and index.get("format") == "ganforge-study" else None


def write_index(plan: StudyPlan, url: str) -> None:
    """study.json in the study folder; a folder holding another tune study is refused."""
    plan.out.mkdir(parents=True, exist_ok=True)
    previous = read_index(plan.out)
    if plan.kind == "tune" and previous and previous.get("kind") == "tune" and previous.get("study_name") != plan.study_name:
        raise GanforgeError(f"{plan.out} holds the study {previous.get('study_name')}; choose another out: (or "
                            f"--out) for the study {plan.study_name}")
    index = {**plan.index(), "storage": shown_url(url)}
    atomic_write_text(plan.out / INDEX_FILE, json.dumps(index, indent=2) + "\n")
