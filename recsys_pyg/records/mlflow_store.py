"""The local MLflow store every run under the outputs folder shares: where it is, its lock, and a rewind.

A store is a folder with ``mlflow.db`` (SQLite: runs, params, metrics) and ``artifacts/``. SQLite, not
MLflow's file store: the UI and the REST API read it well, parallel sweep jobs write it safely, and a
resumed run can drop what its killed predecessor logged after the checkpoint (:func:`drop_steps_after`).
Nothing here imports mlflow.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

DB_NAME = "mlflow.db"
ARTIFACTS = "artifacts"


def default_store() -> Path:
    """``<paths.log_dir>/mlflow`` as ``conf/paths/default.yaml`` sets it: ``$RECSYS_LOG_DIR`` or ``outputs``."""
    return Path(os.environ.get("RECSYS_LOG_DIR", "outputs")) / "mlflow"


def store_uri(store: Path) -> str:
    """The SQLAlchemy URI of ``store``'s database (``sqlite:////abs/path/mlflow.db``)."""
    return f"sqlite:///{Path(store).resolve() / DB_NAME}"


def artifact_root(store: Path) -> str:
    """Where the store's runs keep their artifacts (a ``file://`` URI: readable by the UI on this machine)."""
    return (Path(store).resolve() / ARTIFACTS).as_uri()


@contextmanager
def store_lock(store: Path | None) -> Iterator[None]:
    """Exclusive use of ``store`` while a job creates its tables or an experiment: two sweep jobs starting at
    once would otherwise both run the schema migrations, or both create the sweep's experiment."""
    if store is None:  # a tracking server serialises for itself
        yield
        return
    Path(store).mkdir(parents=True, exist_ok=True)
    with open(Path(store) / ".lock", "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


# The latest value per key is the one at the highest step (then time, then value), as MLflow ranks them.
_LATEST = """
INSERT INTO latest_metrics (key, value, timestamp, step, is_nan, run_uuid)
SELECT key, value, timestamp, step, is_nan, run_uuid FROM (
    SELECT *, ROW_NUMBER() OVER (PARTITION BY key ORDER BY step DESC, timestamp DESC, value DESC) AS n
    FROM metrics WHERE run_uuid = ?
) WHERE n = 1
"""


def drop_steps_after(store: Path, run_id: str, last_step: int) -> int:
    """Delete run ``run_id``'s metric values logged after ``last_step`` and recompute its latest values;
    returns how many were dropped. MLflow's API cannot delete a metric, and a run resumed from its last
    checkpoint logs those steps again: without this each would appear twice."""
    with closing(sqlite3.connect(Path(store) / DB_NAME, timeout=60)) as db, db:  # one transaction
        dropped = db.execute("DELETE FROM metrics WHERE run_uuid = ? AND step > ?", (run_id, last_step)).rowcount
        if dropped:
            db.execute("DELETE FROM latest_metrics WHERE run_uuid = ?", (run_id,))
            db.execute(_LATEST, (run_id,))
    return dropped
