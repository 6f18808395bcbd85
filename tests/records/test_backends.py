"""Several trackers at once, each failing alone: one warning for the one that fails, the others and the local
record go on, and the run finishes."""

from __future__ import annotations

import json
import logging
import sys

import pytest
from omegaconf import OmegaConf

from recsys_pyg.records.backends import backend_specs
from recsys_pyg.records.mlflow_logger import RUN_FILE
from recsys_pyg.records.mlflow_store import store_uri
from recsys_pyg.train import train
from recsys_pyg.wandb_offline import offline_history

RUN = ["debug=default", "train.epochs=3", "train.eval_every=1", "train.patience=0"]


def warnings_about(caplog: pytest.LogCaptureFixture, text: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and text in r.getMessage()]


def recorded(tmp_path, key: str) -> dict[int, float]:
    """``{step: value}`` of ``key`` in the run's ``metrics.jsonl``."""
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    return {row["step"]: row[key] for row in map(json.loads, lines) if key in row}


def evaluated_epochs(tmp_path) -> list[int]:
    return sorted(recorded(tmp_path, "val/recall@20"))


def test_backend_specs_reads_nested_backends_and_a_checkpoint_s_single_one():
    nested = OmegaConf.create({"wandb": {"_target_": "W"}, "mlflow": {"_target_": "M"}})
    assert list(backend_specs(nested)) == ["wandb", "mlflow"]
    old = OmegaConf.create({"_target_": "recsys_pyg.run_record.WandbLogger", "mode": "offline"})  # before nesting
    assert backend_specs(old) == {"logger": old}
    assert backend_specs(OmegaConf.create({"_target_": None})) == {}  # logger=none
    assert backend_specs(None) == {}


def test_logger_all_composes_both_backends(cfg_factory):
    cfg = cfg_factory("logger=all")
    assert cfg.logger.wandb._target_.endswith("WandbLogger") and cfg.logger.mlflow._target_.endswith("MlflowLogger")
    assert cfg_factory("logger=[wandb,mlflow]").logger == cfg.logger


def test_broken_backends_fail_alone_and_the_run_finishes(cfg_factory, tmp_path, caplog):
    """W&B given an impossible mode and a backend whose class does not exist, beside a working MLflow."""
    mlflow = pytest.importorskip("mlflow", reason="mlflow is not installed: pip install -e '.[mlflow]'")
    broken = ["+logger.broken._target_=recsys_pyg.records.nowhere.Logger", "+logger.broken._partial_=true"]
    overrides = [*RUN, "logger=all", "logger.wandb.mode=not-a-mode", f"paths.log_dir={tmp_path / 'logs'}", *broken]
    with caplog.at_level(logging.WARNING):
        results = train(cfg_factory(*overrides))
    assert len(warnings_about(caplog, "W&B disabled for this run")) == 1
    assert len(warnings_about(caplog, "logger broken disabled for this run: could not build it")) == 1
    assert not warnings_about(caplog, "MLflow disabled")
    assert json.loads((tmp_path / "status.json").read_text())["status"] == "finished"
    assert evaluated_epochs(tmp_path) == [1, 2, 3]
    run_id = json.loads((tmp_path / RUN_FILE).read_text())["run_id"]
    client = mlflow.MlflowClient(store_uri(tmp_path / "logs" / "mlflow"))
    history = client.get_metric_history(run_id, "val/recall_at_20")
    assert {m.step: m.value for m in history} == recorded(tmp_path, "val/recall@20")  # MLflow alone went on
    assert results["val/recall@20"] == max(m.value for m in history)


def test_mlflow_failing_mid_run_leaves_w_and_b_and_the_record_whole(cfg_factory, tmp_path, caplog, monkeypatch):
    mlflow = pytest.importorskip("mlflow", reason="mlflow is not installed: pip install -e '.[mlflow]'")
    real, calls = mlflow.MlflowClient.log_batch, []

    def log_batch_then_break(self, run_id, metrics=(), params=(), tags=()):
        if metrics:
            calls.append(len(metrics))
            if len(calls) == 2:  # MostPop went in; epoch 1 does not
                raise ConnectionError("database is locked")
        return real(self, run_id, metrics=metrics, params=params, tags=tags)

    monkeypatch.setattr(mlflow.MlflowClient, "log_batch", log_batch_then_break)
    overrides = [*RUN, "logger=all", "logger.wandb.mode=offline", f"paths.log_dir={tmp_path / 'logs'}"]
    with caplog.at_level(logging.WARNING):
        train(cfg_factory(*overrides))
    broken = warnings_about(caplog, "MLflow disabled")
    assert broken == ["MLflow disabled for the rest of this run: log failed (ConnectionError: database is locked)"]
    assert len(calls) == 2  # nothing more was sent to MLflow after the failure
    assert not warnings_about(caplog, "W&B disabled")
    rows = offline_history(next((tmp_path / "wandb").glob("offline-run-*")))
    assert sorted(r["_step"] for r in rows if "val/recall@20" in r) == evaluated_epochs(tmp_path) == [1, 2, 3]


def test_mlflow_not_installed_is_one_line_and_the_run_finishes(cfg_factory, tmp_path, caplog, monkeypatch):
    monkeypatch.setitem(sys.modules, "mlflow", None)  # import mlflow raises ImportError, as when it is absent
    with caplog.at_level(logging.WARNING):
        results = train(cfg_factory(*RUN, "logger=mlflow", f"paths.log_dir={tmp_path / 'logs'}"))
    assert warnings_about(caplog, "MLflow") == [
        "MLflow disabled for this run: mlflow is not installed: pip install -e '.[mlflow]'"
    ]
    assert "test/recall@20" in results and evaluated_epochs(tmp_path) == [1, 2, 3]
    assert not (tmp_path / "logs").exists() and not (tmp_path / RUN_FILE).exists()
