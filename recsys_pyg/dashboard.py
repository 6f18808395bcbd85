"""``recsys-dashboard`` (``make dashboard``): the MLflow UI over the outputs folder's store, on 127.0.0.1.

Runs trained with ``logger=mlflow`` (or ``logger=all``) land in ``<paths.log_dir>/mlflow``; this serves
that store's UI and REST API on this machine only, so nothing leaves it::

    recsys-dashboard                       # http://127.0.0.1:5000, store outputs/mlflow
    recsys-dashboard --port 0              # any free port (the address is printed)
    recsys-dashboard --store /scratch/runs/mlflow
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import socket
import sqlite3
import sys
from contextlib import closing
from pathlib import Path

from recsys_pyg.records.mlflow_logger import VIEW
from recsys_pyg.records.mlflow_store import DB_NAME, artifact_root, default_store, store_uri

# No usage report to MLflow's servers; no GenAI job workers (a dozen processes a run browser does not need).
LOCAL_ONLY = {"MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true", "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}


def free_port(host: str) -> int:
    """A port nothing listens on at ``host`` now (the OS's pick)."""
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def count_runs(store: Path) -> int:
    """How many runs ``store``'s database holds (0 for a database MLflow has not set up)."""
    with closing(sqlite3.connect((store / DB_NAME).as_uri() + "?mode=ro", uri=True)) as db:
        try:
            return int(db.execute("SELECT COUNT(*) FROM runs").fetchone()[0])
        except sqlite3.OperationalError:  # no runs table: not an MLflow store yet
            return 0


def experiments(store: Path, latest: int = 5) -> list[tuple[str, str, int]]:
    """The ``latest`` active experiments of ``store``, newest first, that hold runs: ``(id, name, runs)``."""
    query = """SELECT e.experiment_id, e.name, COUNT(r.run_uuid) FROM experiments e
               JOIN runs r ON r.experiment_id = e.experiment_id AND r.lifecycle_stage = 'active'
               WHERE e.lifecycle_stage = 'active' GROUP BY e.experiment_id ORDER BY e.creation_time DESC LIMIT ?"""
    with closing(sqlite3.connect((store / DB_NAME).as_uri() + "?mode=ro", uri=True)) as db:
        return [(str(i), str(name), int(n)) for i, name, n in db.execute(query, (latest,))]


def runs_page(address: str, experiment_id: str) -> str:
    """The experiment's runs table with the view its first run saved (monitored metric, test, MostPop)."""
    return f"{address}/#/experiments/{experiment_id}/runs?viewStateShareKey={VIEW}&workflowType=machine_learning"


def check_store(store: Path) -> str | None:
    """What stops the UI from showing ``store`` (mlflow missing, no database, no run); ``None`` when all is well."""
    if importlib.util.find_spec("mlflow") is None:
        return "mlflow is not installed: pip install -e '.[mlflow]'"
    if not (store / DB_NAME).is_file():
        return (f"no MLflow store at {store / DB_NAME}: train with logger=mlflow first "
                f"(python -m recsys_pyg.train logger=mlflow), or give --store")  # fmt: skip
    if count_runs(store) == 0:
        return f"the MLflow store {store / DB_NAME} holds no run yet: train with logger=mlflow first"
    return None


def server_command(store: Path, host: str, port: int) -> list[str]:
    """``mlflow server`` over ``store`` at ``host:port``, one worker (a dashboard for one person, on 2 cores)."""
    return [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", store_uri(store),
            "--default-artifact-root", artifact_root(store), "--host", host, "--port", str(port),
            "--workers", "1"]  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="recsys-dashboard", description="The MLflow UI over the runs trained with logger=mlflow, on this machine."
    )
    parser.add_argument("--store", type=Path, default=default_store(),
                        help="the MLflow store folder (default: $RECSYS_LOG_DIR/mlflow or outputs/mlflow)")  # fmt: skip
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default: loopback only)")
    parser.add_argument("--port", type=int, default=5000, help="port (0: any free one; default 5000)")
    args = parser.parse_args(argv)
    store: Path = args.store.expanduser().resolve()
    problem = check_store(store)
    if problem is not None:
        print(f"recsys-dashboard: error: {problem}", file=sys.stderr)
        return 1
    port = args.port or free_port(args.host)
    address = f"http://{args.host}:{port}"
    print(f"MLflow UI at {address}  (store {store / DB_NAME}; Ctrl-C stops it)")
    for experiment_id, name, runs in experiments(store):
        print(f"  {name} ({runs} runs): {runs_page(address, experiment_id)}")
        print(f"  {' ' * len(name)} charts: {runs_page(address, experiment_id)}&compareRunsMode=CHART")
    sys.stdout.flush()
    env = {**LOCAL_ONLY, **os.environ}  # the user's own setting wins
    cmd = server_command(store, args.host, port)
    os.execve(cmd[0], cmd, env)  # the server becomes this process: Ctrl-C and kill reach it directly
    return 0  # not reached


if __name__ == "__main__":
    raise SystemExit(main())
