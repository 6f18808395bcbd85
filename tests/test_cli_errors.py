"""A mistake in the command prints as one message naming the culprit, not under Hydra's traceback;
a bug (or ``HYDRA_FULL_ERROR=1``) keeps the traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from recsys_pyg.records import RunFolder
from recsys_pyg.train import is_user_error

ROOT = Path(__file__).resolve().parents[1]


def train_cli(tmp_path: Path, *overrides: str, **env: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "recsys_pyg.train", "debug=default", "logger=none", "train.progress=false",
           f"hydra.run.dir={tmp_path / 'run'}", *overrides]  # fmt: skip
    environ = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=ROOT, env={**environ, **env})


@pytest.mark.parametrize(
    "overrides,culprit",
    [
        (["dataset=ml100k", "dataset.path=/nonexistent"], "dataset.path=/nonexistent"),
        (["model.embedding_dim=0"], "model.embedding_dim must be a positive integer, got 0"),
    ],
    ids=["bad dataset path", "bad config value"],
)
def test_a_user_error_is_one_message_naming_the_culprit(tmp_path, overrides, culprit):
    out = train_cli(tmp_path, *overrides)
    assert out.returncode == 1
    assert "Traceback" not in out.stderr and len(out.stderr.strip().splitlines()) <= 3, out.stderr
    assert out.stderr.startswith("Error: ") and culprit in out.stderr.splitlines()[0]


def test_full_error_keeps_the_traceback(tmp_path):
    out = train_cli(tmp_path, "model.embedding_dim=0", HYDRA_FULL_ERROR="1")
    assert out.returncode != 0
    assert "Traceback" in out.stderr and "model.embedding_dim must be a positive integer" in out.stderr


def raise_in_a_library() -> None:
    json.loads("not json")  # json.JSONDecodeError, a ValueError raised inside the standard library


def test_user_errors_are_the_projects_own_raises(tmp_path):
    with pytest.raises(ValueError) as ours:
        RunFolder(tmp_path, "bogus")  # raised in recsys_pyg/records/folder.py
    with pytest.raises(ValueError) as theirs:
        raise_in_a_library()
    with pytest.raises(RuntimeError) as bug:
        raise RuntimeError("not a user error")
    assert is_user_error(ours.value)
    assert not is_user_error(theirs.value)  # a library's ValueError is a bug to trace
    assert not is_user_error(bug.value)
