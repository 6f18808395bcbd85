"""The MLflow run of a job holds what its local record holds: every metric at its step, the config, the summary;
its status follows the run's, and a resume continues the same MLflow run with each step once."""

from __future__ import annotations

import json
import math
import os
import signal
from collections import defaultdict
from pathlib import Path

import pytest

from recsys_pyg import train as training
from recsys_pyg.records.mlflow_logger import RUN_FILE, VIEW, metric_key, runs_view
from recsys_pyg.records.mlflow_store import store_uri
from recsys_pyg.records.record import read_metrics_file
from recsys_pyg.training.signals import RunInterrupted
from recsys_pyg.utils import flatten

mlflow = pytest.importorskip("mlflow", reason="mlflow is not installed: pip install -e '.[mlflow]'")

RUN = ["debug=default", "logger=mlflow", "train.epochs=4", "train.eval_every=1", "train.checkpoint_every=2",
       "train.patience=0"]  # fmt: skip


def logged(tmp_path: Path, *extra: str) -> list[str]:
    """The overrides of a run whose MLflow store is ``tmp_path/logs/mlflow`` (not the repository's outputs/)."""
    return [*RUN, f"paths.log_dir={tmp_path / 'logs'}", *extra]


def store(tmp_path: Path) -> Path:
    return tmp_path / "logs" / "mlflow"


def client(tmp_path: Path) -> mlflow.MlflowClient:
    return mlflow.MlflowClient(store_uri(store(tmp_path)))


def mlflow_history(tmp_path: Path, run_id: str) -> dict[int, dict[str, float]]:
    """``{step: {key: value}}`` of every value the MLflow run holds; a (key, step) logged twice fails."""
    c, steps = client(tmp_path), defaultdict(dict)
    for key in c.get_run(run_id).data.metrics:
        for m in c.get_metric_history(run_id, key):
            assert key not in steps[m.step], f"{key} at step {m.step} logged twice"
            steps[m.step][key] = m.value
    return dict(steps)


def record_history(run_dir: Path) -> dict[int, dict[str, float]]:
    """``{step: {key: value}}`` of ``metrics.jsonl``, keys as MLflow names them, ``null`` (a NaN) as NaN."""
    rows, torn = read_metrics_file(run_dir / "metrics.jsonl")
    assert torn is None
    steps: dict[int, dict[str, float]] = defaultdict(dict)
    for row in rows:  # the test line shares the last epoch's step
        for key, value in row.items():
            if key not in ("step", "time"):
                steps[row["step"]][metric_key(key)] = math.nan if value is None else float(value)
    return dict(steps)


def assert_same(a: dict[int, dict[str, float]], b: dict[int, dict[str, float]]) -> None:
    assert sorted(a) == sorted(b)
    for step in a:
        assert sorted(a[step]) == sorted(b[step]), step
        for key, value in a[step].items():
            assert value == b[step][key] or (math.isnan(value) and math.isnan(b[step][key])), (step, key)


def run_id_of(run_dir: Path) -> str:
    return json.loads((run_dir / RUN_FILE).read_text())["run_id"]


def test_metric_key_is_the_w_and_b_name_where_mlflow_allows_it():
    assert metric_key("train/loss") == "train/loss"
    assert metric_key("val/recall@20") == "val/recall_at_20"
    assert metric_key("mostpop/test/ndcg@50") == "mostpop/test/ndcg_at_50"
    assert metric_key("a b-c.d:e/f!g") == "a b-c.d:e/f_g"


def test_the_mlflow_run_holds_the_record_params_tags_summary_and_export(cfg_factory, tmp_path):
    results = training.train(cfg_factory(*logged(tmp_path), "tags=[dev,smoke]"))
    run_id = run_id_of(tmp_path)
    history = mlflow_history(tmp_path, run_id)
    assert_same(history, record_history(tmp_path))
    assert sorted(history) == [0, 1, 2, 3, 4]  # MostPop at 0, each epoch, the test at the last
    assert history[4]["test/recall_at_20"] == results["test/recall@20"]

    run = client(tmp_path).get_run(run_id)
    assert run.info.status == "FINISHED"
    config = flatten(json.loads((tmp_path / "config.json").read_text()))
    assert run.data.params == {metric_key(k): str(v) for k, v in config.items()}  # protocol.* included
    assert run.data.params["train.epochs"] == "4" and run.data.params["protocol.users"] == "200"
    assert run.data.tags["dev"] == run.data.tags["smoke"] == "true"
    assert run.data.tags["recsys.run_dir"] == str(tmp_path)
    artifacts = {a.path for a in client(tmp_path).list_artifacts(run_id)}
    assert artifacts == {"summary.json", "export"}
    summary = json.loads(Path(client(tmp_path).download_artifacts(run_id, "summary.json", str(tmp_path))).read_text())
    assert summary == json.loads((tmp_path / "summary.json").read_text())
    exported = {a.path for a in client(tmp_path).list_artifacts(run_id, "export")}
    assert exported == {f"export/{p.name}" for p in (tmp_path / "export").iterdir()}

    experiment = client(tmp_path).get_experiment(run.info.experiment_id)
    assert experiment.name == "debug"  # task_name of debug=default; a -m sweep gets <task_name>/<sweep folder>
    assert json.loads(experiment.tags[f"mlflow.sharedViewState.{VIEW}"]) == runs_view("val/recall@20")
    assert not (Path.cwd() / "mlruns").exists()  # nothing written beside the command


def test_a_run_resumed_after_a_crash_continues_its_mlflow_run_with_each_step_once(cfg_factory, tmp_path, monkeypatch):
    real = training.train_epoch

    def crash_in_epoch_4(parts, epoch, *args, **kwargs):
        if epoch == 4:
            raise RuntimeError("the node went away")
        return real(parts, epoch, *args, **kwargs)

    monkeypatch.setattr(training, "train_epoch", crash_in_epoch_4)
    with pytest.raises(RuntimeError, match="node went away"):
        training.train(cfg_factory(*logged(tmp_path)))
    run_id = run_id_of(tmp_path)
    assert client(tmp_path).get_run(run_id).info.status == "FAILED"
    assert sorted(mlflow_history(tmp_path, run_id)) == [0, 1, 2, 3]  # epoch 3 came after the checkpoint of 2

    monkeypatch.setattr(training, "train_epoch", real)
    results = training.train(cfg_factory(*logged(tmp_path), f"train.resume={tmp_path}"))
    assert run_id_of(tmp_path) == run_id
    history = mlflow_history(tmp_path, run_id)  # epoch 3 dropped and logged again: once, with the new value
    assert_same(history, record_history(tmp_path))
    assert sorted(history) == [0, 1, 2, 3, 4] and history[4]["test/recall_at_20"] == results["test/recall@20"]
    run = client(tmp_path).get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.data.metrics["val/recall_at_20"] == history[4]["val/recall_at_20"]  # the latest value recomputed
    assert len(client(tmp_path).search_runs([run.info.experiment_id])) == 1


def test_an_interrupted_run_is_killed_in_mlflow_and_its_resume_finishes_the_same_run(cfg_factory, tmp_path,
                                                                                      monkeypatch):  # fmt: skip
    real = training.train_epoch

    def signalled_in_epoch_3(parts, epoch, *args, **kwargs):
        if epoch == 3:
            os.kill(os.getpid(), signal.SIGTERM)  # handled by the run: it stops inside the epoch, resumably
        return real(parts, epoch, *args, **kwargs)

    monkeypatch.setattr(training, "train_epoch", signalled_in_epoch_3)
    with pytest.raises(RunInterrupted):
        training.train(cfg_factory(*logged(tmp_path)))
    run_id = run_id_of(tmp_path)
    assert client(tmp_path).get_run(run_id).info.status == "KILLED"
    assert_same(mlflow_history(tmp_path, run_id), record_history(tmp_path))

    monkeypatch.setattr(training, "train_epoch", real)
    training.train(cfg_factory(*logged(tmp_path), f"train.resume={tmp_path}"))
    assert run_id_of(tmp_path) == run_id and client(tmp_path).get_run(run_id).info.status == "FINISHED"
    assert_same(mlflow_history(tmp_path, run_id), record_history(tmp_path))
