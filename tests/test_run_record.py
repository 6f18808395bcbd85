"""Run records are always true: one run per folder, unique folder names, strict JSON, a status that says how the run
ended, W&B never in the way."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import time
from pathlib import Path

import pytest

from recsys_pyg.records import Recorder, RunFolder, RunFolderError, RunRecord
from recsys_pyg.train import train
from recsys_pyg.training import signals

LONG = [
    "dataset.source.num_users=600",
    "dataset.source.num_items=800",
    "dataset.source.num_interactions=30000",
    "train.epochs=120",  # long enough that the first run still holds its folder when the second checks
    "train.patience=0",
    "train.eval_every=10",
    "logger=none",
    "train.progress=false",
]


def launch(*args: str) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "recsys_pyg.train", *args]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_second_run_in_the_same_folder_refuses_and_the_first_is_intact(tmp_path):
    folder = tmp_path / "run"
    first = launch(*LONG, "seed=1", f"hydra.run.dir={folder}")
    deadline = time.time() + 600  # a loaded machine can take minutes to start a run
    while not (folder / "status.json").exists() and time.time() < deadline and first.poll() is None:
        time.sleep(0.05)
    assert (folder / "status.json").exists() and first.poll() is None, "the first run never got going"
    second = launch(*LONG, "seed=2", f"hydra.run.dir={folder}")
    _, err = second.communicate(timeout=600)
    assert first.poll() is None, "the first run ended before the second started: make it longer"
    assert second.returncode != 0 and "is in use by another run" in err
    assert first.wait(timeout=900) == 0
    config = json.loads((folder / "config.json").read_text())
    assert config["seed"] == 1  # the first run's config, not the second's
    lines = [json.loads(x) for x in (folder / "metrics.jsonl").read_text().splitlines()]
    assert [x["epoch"] for x in lines if "epoch" in x] == list(range(1, 121))
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["test/recall@20"] == [x for x in lines if "test/recall@20" in x][0]["test/recall@20"]


def test_fresh_run_refuses_a_folder_with_a_record_unless_asked_to_overwrite(cfg_factory, tmp_path):
    train(cfg_factory("debug=default"))
    before = (tmp_path / "metrics.jsonl").read_text()
    with pytest.raises(RunFolderError, match="already holds a run's record .*train.overwrite=true"):
        train(cfg_factory("debug=default", "train.overwrite=false"))
    assert (tmp_path / "metrics.jsonl").read_text() == before  # nothing appended
    train(cfg_factory("debug=default", "train.overwrite=true", "seed=3"))
    assert json.loads((tmp_path / "config.json").read_text())["seed"] == 3
    assert len([x for x in (tmp_path / "metrics.jsonl").read_text().splitlines() if '"epoch"' in x]) == 2


def test_the_lock_is_exclusive_and_released(tmp_path):
    held = RunFolder(tmp_path, "fresh")
    with pytest.raises(RunFolderError, match=f"pid {__import__('os').getpid()}"):
        RunFolder(tmp_path, "resume")
    held.close()
    RunFolder(tmp_path, "resume").close()


def test_runs_started_together_get_their_own_folders(tmp_path):
    procs = [launch("debug=default", f"paths.log_dir={tmp_path}", "train.progress=false") for _ in range(3)]
    assert all(p.wait(timeout=900) == 0 for p in procs)
    folders = sorted((tmp_path / "debug" / "runs").iterdir())
    assert len(folders) == 3 and all((f / "summary.json").exists() for f in folders)


def test_records_are_strict_json(tmp_path):
    record = RunRecord(tmp_path, config={"a": 1})
    record.log({"train/loss": float("nan"), "x": float("inf"), "ok": 0.5}, step=1)
    record.summary({"test/recall@20": float("nan")})
    strict = {"parse_constant": lambda c: pytest.fail(f"non-JSON constant {c}")}
    line = json.loads((tmp_path / "metrics.jsonl").read_text(), **strict)
    assert line["train/loss"] is None and line["x"] is None and line["ok"] == 0.5
    assert json.loads((tmp_path / "summary.json").read_text(), **strict)["test/recall@20"] is None


@pytest.mark.parametrize("where", ["init", "log"])
def test_wandb_failing_at_init_or_log_leaves_the_local_record(cfg_factory, tmp_path, caplog, monkeypatch, where):
    import wandb

    def boom(*args, **kwargs):
        raise ConnectionError("wandb.ai unreachable")

    if where == "init":
        monkeypatch.setattr(wandb, "init", boom)
    else:
        real_init = wandb.init

        def init_then_break(*args, **kwargs):
            run = real_init(*args, **kwargs)
            monkeypatch.setattr(run, "log", boom)
            return run

        monkeypatch.setattr(wandb, "init", init_then_break)
    with caplog.at_level(logging.WARNING):
        results = train(cfg_factory("debug=default", "logger=wandb", "logger.wandb.mode=offline"))
    warnings = [r.message for r in caplog.records if "W&B disabled" in r.message]
    assert len(warnings) == 1 and "wandb.ai unreachable" in warnings[0]
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["test/recall@20"] == results["test/recall@20"]
    assert json.loads((tmp_path / "status.json").read_text())["status"] == "finished"
    assert Path(tmp_path / "metrics.jsonl").read_text().count('"epoch"') == 2


class RunInterrupted(Exception):
    """Named like the real one, but another type: a failure."""


@pytest.mark.parametrize(
    "error,status",
    [
        (signals.RunInterrupted(15, "stopped after epoch 3"), "interrupted"),
        (KeyboardInterrupt(), "interrupted"),
        (RunInterrupted("same name, not the type"), "failed"),
        (ValueError("model.embedding_dim must be a positive integer, got 0"), "failed"),
    ],
    ids=["RunInterrupted", "KeyboardInterrupt", "look-alike", "ValueError"],
)
def test_status_tells_interrupted_from_failed_by_type(tmp_path, error, status):
    recorder = Recorder(RunRecord(tmp_path))
    with pytest.raises(type(error)), recorder.status_marked():
        raise error
    recorded = json.loads((tmp_path / "status.json").read_text())
    assert recorded["status"] == status and recorded["error"] == f"{type(error).__name__}: {error}"
