"""Kill a run with SIGKILL mid-training, resume it, and get exactly the uninterrupted run's metrics."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

RUN = [
    "dataset.source.num_users=1000",
    "dataset.source.num_items=1500",
    "dataset.source.num_interactions=60000",
    "train.epochs=8",
    "train.eval_every=2",
    "train.checkpoint_every=1",
    "train.patience=0",
    "logger=none",
    "train.progress=false",
    "optimizer.lr=0.005",
    "seed=3",
    "scheduler=step",  # the learning rate changes across the kill: the scheduler must be restored too
    "scheduler.step_size=2",
]


def launch(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "recsys_pyg.train", *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )


def epochs_logged(run_dir: Path) -> int:
    path = run_dir / "metrics.jsonl"
    if not path.exists():
        return 0
    return max((json.loads(x).get("epoch", 0) for x in path.read_text().splitlines() if x.strip()), default=0)


@pytest.mark.parametrize(
    "model",
    [
        ["model=lightgcn"],
        # neighbour sampling draws from the global torch generator: its state must be restored too
        ["model=lightgcn", "model.fanout=[5,5,5]", "model.sparse=true", "optimizer=mixed_adam"],
    ],
    ids=["lightgcn", "lightgcn-sampled"],
)
def test_sigkill_then_resume_equals_uninterrupted(tmp_path, model):
    full, killed = tmp_path / "full", tmp_path / "killed"
    reference = launch(*RUN, *model, f"hydra.run.dir={full}")
    victim = launch(*RUN, *model, f"hydra.run.dir={killed}")
    deadline = time.time() + 600  # a loaded machine (make test on every core) can take minutes
    while epochs_logged(killed) < 3 and time.time() < deadline and victim.poll() is None:
        time.sleep(0.05)
    assert victim.poll() is None, "the run ended before it could be killed: make it longer"
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait()
    assert not (killed / "summary.json").exists()
    done_epochs = epochs_logged(killed)
    assert 3 <= done_epochs < 8

    resumed = launch(f"train.resume={killed}", f"hydra.run.dir={tmp_path / 'resume_log'}")
    assert resumed.wait(timeout=900) == 0, resumed.stderr.read()[-3000:]
    assert reference.wait(timeout=900) == 0, reference.stderr.read()[-3000:]

    a = json.loads((full / "summary.json").read_text())
    b = json.loads((killed / "summary.json").read_text())
    for key in [k for k in a if k.startswith(("val/", "test/", "mostpop/"))] + ["best_epoch", "epochs"]:
        assert a[key] == b[key], key
    # the resumed record has each epoch exactly once
    steps = [json.loads(x)["epoch"] for x in (killed / "metrics.jsonl").read_text().splitlines() if '"epoch"' in x]
    assert steps == list(range(1, 9))


def test_resume_errors_name_the_problem(tmp_path):
    from hydra import compose, initialize_config_dir

    from recsys_pyg.train import train
    from tests.helpers.configs import CONF

    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        cfg = compose("config", overrides=[f"train.resume={tmp_path}", "logger=none"])
    with pytest.raises(FileNotFoundError, match="no checkpoint at .*checkpoints/last.pt"):
        train(cfg)
