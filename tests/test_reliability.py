"""Reliability, round 3: a full disk, torn records, overwrite and refusal, resume's checks, signals while a run
finishes; each bad case asserts the message names the culprit and that nothing false is recorded."""

from __future__ import annotations

import errno
import json
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import recsys_pyg.records.record as record_module
import recsys_pyg.train as training
from recsys_pyg.checkpoint import save_resumable
from recsys_pyg.compare import load_runs, run_table
from recsys_pyg.compare import main as compare_main
from recsys_pyg.records import RunFolder, RunFolderError, RunRecord
from recsys_pyg.records.record import DiskFullError, RecordError, read_metrics_file
from recsys_pyg.train import load_or_resume, train

RUN = ["debug=default", "train.epochs=3", "train.checkpoint_every=1", "train.eval_every=1", "train.patience=0"]
ROOT = Path(__file__).resolve().parents[1]


def full_disk_at(monkeypatch, nth: int, short: bool = False) -> list[int]:
    """``os.write`` in the record module fails with ENOSPC (or writes half) from its ``nth`` call on."""
    calls = [0]
    real = os.write

    def write(fd: int, data: bytes) -> int:
        calls[0] += 1
        if calls[0] >= nth:
            if short:
                return real(fd, data[: len(data) // 2])
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(fd, data)

    monkeypatch.setattr(record_module.os, "write", write)
    return calls


def lines(folder: Path) -> list[dict]:
    return [json.loads(x) for x in (folder / "metrics.jsonl").read_text().splitlines()]


# --- a full disk -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("short", [False, True], ids=["ENOSPC", "short-write"])
def test_a_metrics_line_is_written_whole_or_not_at_all(tmp_path, monkeypatch, short):
    record = RunRecord(tmp_path)
    record.log({"a": 1.0}, step=1)
    before = (tmp_path / "metrics.jsonl").read_bytes()
    full_disk_at(monkeypatch, 1, short=short)
    with pytest.raises(DiskFullError, match=f"no space left on device \\({tmp_path / 'metrics.jsonl'}\\)"):
        record.log({"a": 2.0}, step=2)
    assert (tmp_path / "metrics.jsonl").read_bytes() == before


def test_a_full_disk_while_logging_marks_the_run_failed_naming_the_file(cfg_factory, tmp_path, monkeypatch):
    """The status is written even though the disk is full: the run's reserve is released for it."""
    full_disk_at(monkeypatch, 3)  # MostPop's line and epoch 1's go through, epoch 2's does not
    real_atomic = record_module.atomic_write_text
    failed_once = []

    def atomic(path, text):  # the first attempt at the failed status also meets the full disk
        if Path(path).name == "status.json" and '"failed"' in text and not failed_once:
            failed_once.append(path)
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_atomic(path, text)

    monkeypatch.setattr(record_module, "atomic_write_text", atomic)
    with pytest.raises(DiskFullError):
        train(cfg_factory(*RUN))
    status = json.loads((tmp_path / "status.json").read_text())
    assert status == {**status, "status": "failed", "error": f"no space left on device ({tmp_path / 'metrics.jsonl'})"}
    assert failed_once and [x["step"] for x in lines(tmp_path)] == [0, 1]  # every line whole
    assert not (tmp_path / ".status.reserve").exists()


def test_a_checkpoint_on_a_full_disk_names_it_and_keeps_the_last_good_one(cfg_factory, tmp_path, monkeypatch):
    train(cfg_factory(*RUN))
    last = tmp_path / "checkpoints" / "last.pt"
    good = last.read_bytes()

    def torch_on_a_full_disk(obj, path):  # what torch's writer raises: the OSError is only its context
        try:
            raise OSError(errno.ENOSPC, "No space left on device")
        except OSError:
            raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 704 vs 598") from None

    import recsys_pyg.checkpoint as checkpoint

    monkeypatch.setattr(checkpoint, "atomic_save", torch_on_a_full_disk)
    parts = training.build_parts(cfg_factory(*RUN), torch.device("cpu"))
    with pytest.raises(DiskFullError, match=f"no space left on device \\({last}\\)"):
        save_resumable(last, parts, training.LoopState(), {}, None)
    assert last.read_bytes() == good and not last.with_suffix(".new.pt").exists()


@pytest.fixture
def tiny_disk(tmp_path):
    """A 400 KiB tmpfs (root only): the run's folder fills it for real."""
    folder = tmp_path / "disk"
    folder.mkdir()
    out = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=400k", "tmpfs", str(folder)], capture_output=True)
    if out.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {out.stderr.decode().strip()}")
    yield folder
    subprocess.run(["umount", "-l", str(folder)], capture_output=True)


@pytest.mark.slow
def test_a_real_full_disk_fails_the_run_with_a_parseable_record(tiny_disk):
    run = tiny_disk / "run"
    cmd = [sys.executable, "-m", "recsys_pyg.train", *RUN, "train.epochs=20", "logger=none", "train.progress=false",
           "model.embedding_dim=128", f"hydra.run.dir={run}"]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert out.returncode == 1, out.stderr[-2000:]
    assert "Error: no space left on device (" in out.stderr
    status = json.loads((run / "status.json").read_text())
    assert status["status"] == "failed" and status["error"].startswith("no space left on device (")
    rows, torn = read_metrics_file(run / "metrics.jsonl")
    assert rows and torn is None


# --- torn records: resume and compare ---------------------------------------------------------------------------


def interrupted_run(cfg_factory, tmp_path) -> Path:
    """A run that reached its end, its status set back to interrupted (as if killed after its last checkpoint)."""
    train(cfg_factory(*RUN))
    RunRecord(tmp_path).status("interrupted", error="RunInterrupted: stopped after epoch 3")
    return tmp_path


def test_resume_skips_a_torn_last_line_naming_the_file(cfg_factory, tmp_path, caplog):
    folder = interrupted_run(cfg_factory, tmp_path)
    with open(folder / "metrics.jsonl", "a") as f:
        f.write('{"step": 4, "train/lo')  # a write cut short
    with caplog.at_level(logging.WARNING):
        train(cfg_factory(f"train.resume={folder}"))
    assert f"{folder / 'metrics.jsonl'}: line" in caplog.text and "incomplete" in caplog.text
    assert [x["step"] for x in lines(folder)][-1] == 3  # repaired: the torn line is gone, the test line written


def test_resume_refuses_damage_before_the_last_line_and_changes_nothing(cfg_factory, tmp_path):
    folder = interrupted_run(cfg_factory, tmp_path)
    text = (folder / "metrics.jsonl").read_text().splitlines()
    (folder / "metrics.jsonl").write_text("\n".join([text[0], "garbage", *text[1:]]) + "\n")
    before = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}
    with pytest.raises(RecordError, match=f"{folder / 'metrics.jsonl'}: line 2 is not JSON"):
        train(cfg_factory(f"train.resume={folder}"))
    assert {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()} == before  # config.json untouched


def write(folder: Path, **files: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name.replace("_", ".", 1)).write_text(text)


def test_compare_reads_what_it_can_and_names_every_unreadable_file(tmp_path, capsys):
    config = json.dumps({"model": {"_target_": "recsys_pyg.models.MF"}, "seed": 1})
    good = json.dumps({"val/recall@20": 0.2, "test/recall@20": 0.19})
    write(tmp_path / "ok", config_json=config, summary_json=good, status_json='{"status": "finished"}')
    write(tmp_path / "torn", config_json=config, summary_json=good, metrics_jsonl='{"step": 0}\n{"step": 1, "x')
    write(tmp_path / "cut", config_json=config, summary_json=good[:20])
    write(tmp_path / "garbage", config_json=config, status_json="\x00\x01 not json")
    write(tmp_path / "list", config_json="[]", summary_json=good)
    write(
        tmp_path / "paused", config_json=config, status_json='{"status": "interrupted", "error": "RunInterrupted: x"}'
    )
    (tmp_path / "paused" / "checkpoints").mkdir()
    (tmp_path / "paused" / "checkpoints" / "last.pt").write_bytes(b"x")
    write(tmp_path / "broke", config_json=config, status_json='{"status": "failed", "error": "ValueError: bad"}')
    write(tmp_path / "dead", config_json=config, status_json='{"status": "running"}')
    (tmp_path / "dead" / ".run.lock").write_text("pid 1")  # its process is gone: nobody holds the lock
    write(tmp_path / "live", config_json=config)
    held = RunFolder(tmp_path / "live", "resume")
    RunRecord(tmp_path / "live").status("running")
    try:
        assert compare_main([str(tmp_path)]) == 0
    finally:
        held.close()
    runs = {r["run"]: r for r in load_runs(tmp_path)}
    header, rows = run_table(list(runs.values()), [], ["recall@20"])
    shown = {row[0]: row[-1] for row in rows}
    assert shown["ok"] == "ok" and shown["broke"] == "failed: ValueError: bad"
    assert shown["paused"] == "interrupted (resumable)"
    assert shown["dead"] == "dead (not running; last status running)"
    assert "metrics.jsonl" in shown["torn"] and "line 2, the last, is incomplete" in shown["torn"]
    assert "unreadable summary.json: truncated or not JSON" in shown["cut"]
    assert "unreadable status.json" in shown["garbage"]
    assert "unreadable config.json: holds a JSON list, not an object" in shown["list"]
    assert runs["torn"]["history"] == [{"step": 0}] and runs["cut"]["summary"] == {}
    out = capsys.readouterr().out
    assert "unreadable files" in out and "cut/summary.json" in out and "| live |" in out


# --- overwrite and refusal --------------------------------------------------------------------------------------


def test_overwrite_removes_the_replaced_runs_export_even_when_the_new_run_fails(cfg_factory, tmp_path):
    train(cfg_factory(*RUN))
    assert (tmp_path / "export").is_dir() and (tmp_path / "checkpoints" / "last.pt").exists()
    with pytest.raises(ValueError, match="model.embedding_dim"):
        train(cfg_factory(*RUN, "train.overwrite=true", "model.embedding_dim=0"))
    assert not (tmp_path / "export").exists() and not (tmp_path / "checkpoints").exists()
    assert not (tmp_path / "summary.json").exists() and not (tmp_path / "metrics.jsonl").exists()
    assert json.loads((tmp_path / "status.json").read_text())["status"] == "failed"


@pytest.mark.slow
def test_a_run_refused_because_the_folder_is_held_writes_nothing_into_it(tmp_path):
    folder = tmp_path / "held"
    held = RunFolder(folder, "fresh")
    write(folder / ".hydra", config_yaml="seed: 1\n", overrides_yaml="- seed=1\n")
    write(folder, train_log="the holder's log\n", status_json='{"status": "running"}')
    before = {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    try:
        cmd = [sys.executable, "-m", "recsys_pyg.train", "debug=default", "seed=2", f"hydra.run.dir={folder}"]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=ROOT)
    finally:
        held.close()
    assert out.returncode == 1 and "is in use by another run" in out.stderr
    after = {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    assert after == before


# --- resume's checks --------------------------------------------------------------------------------------------


def test_resume_of_a_finished_run_has_nothing_to_do(cfg_factory, tmp_path, caplog):
    results = train(cfg_factory(*RUN))
    before = (tmp_path / "metrics.jsonl").read_text()
    with caplog.at_level(logging.INFO):
        again = train(cfg_factory(f"train.resume={tmp_path}"))
    assert "already finished: nothing to resume" in caplog.text
    assert again["test/recall@20"] == results["test/recall@20"]
    assert (tmp_path / "metrics.jsonl").read_text() == before  # no second test line


def test_resume_refuses_overrides_that_would_change_the_run_and_applies_the_allowed(cfg_factory, tmp_path):
    folder = interrupted_run(cfg_factory, tmp_path)
    cfg = cfg_factory(f"train.resume={folder}", "train.epochs=5", "model.embedding_dim=8")
    with pytest.raises(ValueError, match="model.embedding_dim, loss cannot change it"):
        load_or_resume(cfg, ["train.resume=x", "model.embedding_dim=8", "loss=softmax", "train.epochs=5"])
    saved, _ = load_or_resume(cfg, ["train.resume=x", "train.epochs=5", "train.num_threads=1"])
    assert saved.train.epochs == 5 and saved.model.embedding_dim != 8


# --- signals while the run finishes ------------------------------------------------------------------------------


def test_a_signal_during_the_final_test_lets_the_run_finish_and_says_so(cfg_factory, tmp_path, monkeypatch, caplog):
    real = training.export

    def export_while_signalled(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGTERM)  # handled by the run: noted, the export goes on
        return real(*args, **kwargs)

    monkeypatch.setattr(training, "export", export_while_signalled)
    with caplog.at_level(logging.WARNING):
        train(cfg_factory(*RUN))
    assert "SIGTERM received during the final test and export: finishing it first" in caplog.text
    assert "the run finished despite SIGTERM" in caplog.text and "resumable checkpoint" not in caplog.text
    assert json.loads((tmp_path / "status.json").read_text())["status"] == "finished"
    assert (tmp_path / "export").is_dir()


def test_the_held_lock_refusal_still_names_the_holder(tmp_path):
    held = RunFolder(tmp_path, "fresh")
    try:
        with pytest.raises(RunFolderError, match=f"pid {os.getpid()}"):
            RunFolder(tmp_path, "overwrite")
    finally:
        held.close()
