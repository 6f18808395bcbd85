"""MLflow for a run, :class:`MlflowLogger`: a local store under the outputs folder, never in training's way.

``conf/logger/mlflow.yaml`` builds it (``_partial_``); :func:`recsys_pyg.records.backends.start_loggers`
completes it. ``recsys-dashboard`` (:mod:`recsys_pyg.dashboard`) serves the store's UI on 127.0.0.1.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from pathlib import Path
from typing import Any

from recsys_pyg.io import atomic_write_text
from recsys_pyg.records.mlflow_store import artifact_root, drop_steps_after, store_lock, store_uri
from recsys_pyg.records.record import strict

log = logging.getLogger(__name__)

RUN_FILE = "mlflow_run.json"  # in the run folder: the MLflow run a resume continues
MISSING = "mlflow is not installed: pip install -e '.[mlflow]'"
STATUS = {"finished": "FINISHED", "failed": "FAILED", "interrupted": "KILLED"}
MAX_PARAM_CHARS = 6000  # MLflow's limit on a param value
BATCH = 100  # params per log_batch call (MLflow's limit; metrics allow 1000)
KIND = {"mlflow.experimentKind": "custom_model_development"}  # the UI opens on runs and charts, not GenAI traces
VIEW = "recsys"  # the runs view the experiment keeps: <ui>/#/experiments/<id>/runs?viewStateShareKey=recsys


def metric_key(name: str) -> str:
    """``name`` as MLflow accepts it: it refuses ``@``, so ``val/recall@20`` is ``val/recall_at_20`` there, and any
    other character but letters, digits, ``_ - . : /`` and space becomes ``_``; ``train/loss`` stays as it is."""
    return re.sub(r"[^\w\-.:/ ]", "_", name.replace("@", "_at_"))


def line_chart(key: str, section: str) -> dict[str, Any]:
    """A line chart of metric ``key`` against the step, one line per run, as the UI's chart view stores it."""
    return {"uuid": f"recsys-{key}", "type": "LINE", "metricSectionId": section, "runsCountToCompare": 10,
            "deleted": False, "isGenerated": False, "displayName": key, "metricKey": key, "selectedMetricKeys": [key],
            "xAxisKey": "step", "selectedXAxisMetricKey": "", "yAxisKey": "metric", "yAxisExpressions": [],
            "lineSmoothness": 0, "xAxisScaleType": "linear", "scaleType": "linear", "range": {},
            "ignoreOutliers": False, "useGlobalXaxisKey": True, "useGlobalLineSmoothing": True}  # fmt: skip


def runs_view(monitor: str) -> dict[str, Any]:
    """How the experiment page first shows a sweep (the UI shows only run names until columns are chosen): the
    table's columns, the monitored validation metric (sorted on, best first), its test value and MostPop's; the
    chart view's first section, that metric and ``train/loss`` against the step, one line per run."""
    keys = [monitor, "test/" + monitor.removeprefix("val/"), "mostpop/" + monitor]
    columns = [f"metrics.`{metric_key(k)}`" for k in keys]
    charts = [line_chart(metric_key(k), VIEW) for k in (monitor, "train/loss")]
    section = {"uuid": VIEW, "name": f"{monitor} and train/loss", "display": True, "isReordered": False}
    return {
        "selectedColumns": columns,
        "orderByKey": columns[0],
        "orderByAsc": False,
        "compareRunCharts": charts,
        "compareRunSections": [section],
        "isAccordionReordered": True,
    }


def keep_local() -> None:
    """No usage report to MLflow's servers (unless the user asked for one) and no INFO chatter from its store."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("DO_NOT_TRACK", "true")
    for name in ("mlflow.store", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)


class MlflowLogger:
    """MLflow tracking: one experiment per sweep (or experiment name), one run per job; never stops training.

    The run holds the flattened resolved config as params, every metric of the local record at its step
    (names as :func:`metric_key` gives them), the config's tags, ``summary.json`` and the export as
    artifacts, and ends ``FINISHED``, ``FAILED`` or ``KILLED`` (interrupted). Its id is kept in the run folder
    (``mlflow_run.json``), so ``train.resume`` continues the same MLflow run. Any failure to import, start or
    log is reported once as a warning and MLflow is then skipped for the rest of the run.

    Args:
        store: folder of the local store (``mlflow.db`` + ``artifacts/``), shared by every run (default
            ``<paths.log_dir>/mlflow``).
        tracking_uri: a tracking server instead of the local store (``None``: the store).
        experiment: the MLflow experiment; in a ``-m`` sweep ``<experiment>/<group>``.
        group: the sweep folder's name (set by the recorder in a sweep).
        name: the run's name (its overrides, set by the recorder).
        tags: labels of the run (``tags`` of the config), each an MLflow tag.
        config: the run's resolved configuration, flattened (``model.num_layers``): the params.
        dir: the run folder.
        log_export: also upload the export (embeddings) as artifacts.
    """

    def __init__(
        self,
        store: str | Path = "outputs/mlflow",
        tracking_uri: str | None = None,
        experiment: str = "train",
        group: str | None = None,
        name: str | None = None,
        tags: list[str] | None = None,
        config: dict[str, Any] | None = None,
        dir: str | Path | None = None,
        log_export: bool = True,
    ) -> None:
        self.client: Any = None
        self.run_id: str | None = None
        self.store = None if tracking_uri else Path(store).resolve()
        self.log_export = log_export
        keep_local()
        try:
            from mlflow import MlflowClient
        except ImportError:
            log.warning("MLflow disabled for this run: %s", MISSING)
            return
        try:
            with store_lock(self.store):
                self.client = MlflowClient(tracking_uri=tracking_uri or store_uri(self.store))  # type: ignore[arg-type]
                monitor = str((config or {}).get("train.monitor", "val/recall@20"))
                experiment_id = self._experiment(f"{experiment}/{group}" if group else experiment, monitor)
            self._start(experiment_id, name, list(tags or []), config or {}, Path(dir) if dir else None, group)
        except Exception as err:  # MLflow must never stop training
            log.warning("MLflow disabled for this run: could not start (%s: %s)", type(err).__name__, err)
            self.client = None

    def _experiment(self, name: str, monitor: str) -> str:
        """The experiment ``name``'s id, created with its runs view the first time (the caller holds the lock)."""
        found = self.client.get_experiment_by_name(name)
        if found is None:
            root = artifact_root(self.store) if self.store is not None else None
            tags = {**KIND, f"mlflow.sharedViewState.{VIEW}": json.dumps(runs_view(monitor))}
            return str(self.client.create_experiment(name, artifact_location=root, tags=tags))
        if found.lifecycle_stage == "deleted":  # deleted in the UI: a new run brings it back
            self.client.restore_experiment(found.experiment_id)
        return str(found.experiment_id)

    def _start(
        self, experiment_id: str, name: str | None, tags: list[str], config: dict[str, Any], dir: Path | None,
        group: str | None,
    ) -> None:  # fmt: skip
        from mlflow.entities import Param

        self.run_id = self._previous_run(dir)
        if self.run_id is not None:  # a resumed run: the same MLflow run, running again
            self.client.update_run(self.run_id, status="RUNNING")
            logged = self.client.get_run(self.run_id).data.params
        else:
            labels = {metric_key(t): "true" for t in tags}
            where = {"recsys.run_dir": str(dir)} if dir else {}
            self.run_id = self.client.create_run(
                experiment_id, run_name=name, tags={**labels, **where, **({"recsys.group": group} if group else {})}
            ).info.run_id
            logged = {}
            if dir is not None:
                atomic_write_text(dir / RUN_FILE, json.dumps({"run_id": self.run_id, "experiment_id": experiment_id}))
        # params cannot change once logged: a resume logs only what the first run had not
        params = [Param(metric_key(k), str(v)[:MAX_PARAM_CHARS]) for k, v in config.items()]
        params = [p for p in params if p.key not in logged]
        for i in range(0, len(params), BATCH):
            self.client.log_batch(self.run_id, params=params[i : i + BATCH])

    def _previous_run(self, dir: Path | None) -> str | None:
        """The run named by ``dir/mlflow_run.json`` if this store still has it (a resume); ``None`` otherwise."""
        if dir is None or not (dir / RUN_FILE).exists():
            return None
        run_id = str(json.loads((dir / RUN_FILE).read_text())["run_id"])
        try:
            self.client.get_run(run_id)
        except Exception:
            log.warning("MLflow run %s of %s is not in this store: a new MLflow run is started", run_id, dir)
            return None
        return run_id

    def _guard(self, what: str, fn: Any) -> None:
        if self.client is None:
            return
        try:
            fn()
        except Exception as err:
            log.warning("MLflow disabled for the rest of this run: %s failed (%s: %s)", what, type(err).__name__, err)
            self.client = None

    def log(self, metrics: dict[str, float], step: int) -> None:
        def log() -> None:
            from mlflow.entities import Metric

            now = int(time.time() * 1000)
            values = [Metric(metric_key(k), float("nan") if v is None else float(v), now, step)
                      for k, v in metrics.items()]  # fmt: skip
            self.client.log_batch(self.run_id, metrics=values)

        self._guard("log", log)

    def summary(self, summary: dict[str, Any]) -> None:
        self._guard("summary", lambda: self.client.log_dict(self.run_id, strict(summary), "summary.json"))

    def artifact(self, folder: Path, name: str) -> None:
        """``folder``'s files (the export) as artifacts under ``<folder name>/``."""
        if self.log_export:
            self._guard("artifact", lambda: self.client.log_artifacts(self.run_id, str(folder), folder.name))

    def truncate(self, last_step: int) -> None:
        """Drop what the run logged after ``last_step`` (a resume logs it again), in the local store."""
        if self.client is None:
            return
        if self.store is None:
            log.warning("MLflow: the server's run keeps what it logged after step %d (resumed steps appear twice)",
                        last_step)  # fmt: skip
            return
        self._guard("truncate", lambda: drop_steps_after(self.store, self.run_id, last_step))  # type: ignore[arg-type]

    def finish(self, status: str = "finished") -> None:
        self._guard("finish", lambda: self.client.set_terminated(self.run_id, STATUS.get(status, "FAILED")))
        self.client = None
