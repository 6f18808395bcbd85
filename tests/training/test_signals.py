"""SIGTERM inside an epoch: a resumable checkpoint and a record marked interrupted; resuming completes
the run with exactly the metrics of an uninterrupted one."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import torch

RUN = [
    "dataset.source.num_users=400",
    "dataset.source.num_items=500",
    "dataset.source.num_interactions=20000",
    "train.epochs=4",
    "train.eval_every=1",
    "train.checkpoint_every=1",
    "train.patience=0",
    "train.batch_size=256",  # ~55 steps per epoch
    "train.sample_batches=4",  # a chunk of negatives is half used when the signal lands
    "logger=none",
    "train.progress=false",
    "optimizer.lr=0.005",
    "seed=5",
    "train.num_threads=1",  # two threads sum some gradients in a varying order (losses differ at 1e-8)
]
SIGNAL_AT = 55 + 30  # the 30th step of epoch 2


def run(run_dir: Path, *extra: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "recsys_pyg.train", *extra]
    return subprocess.run(cmd + [f"hydra.run.dir={run_dir}"], capture_output=True, text=True, timeout=300,
                          env={**os.environ, **(env or {})})  # fmt: skip


def test_sigterm_mid_epoch_then_resume_equals_uninterrupted(tmp_path):
    signalled = ["loss._target_=tests.training.faults.SignalAtLoss"]  # BPR, plus a SIGTERM at a given step
    reference = run(tmp_path / "full", *RUN, *signalled)
    assert reference.returncode == 0, reference.stderr[-2000:]

    killed = tmp_path / "killed"
    out = run(killed, *RUN, *signalled, env={"RECSYS_TEST_SIGNAL_AT": str(SIGNAL_AT)})
    assert out.returncode == 128 + signal.SIGTERM, out.stderr[-2000:]
    assert "stopped inside epoch 2 on a signal" in out.stderr + out.stdout
    status = json.loads((killed / "status.json").read_text())
    assert status["status"] == "interrupted" and not (killed / "summary.json").exists()
    ckpt = torch.load(killed / "checkpoints" / "last.pt", weights_only=True)
    assert ckpt["loop"]["epoch"] == 1 and ckpt["progress"]["epoch"] == 2
    assert 0 < ckpt["progress"]["start"] < ckpt["progress"]["perm"].numel()
    assert (killed / "checkpoints" / "last.prev.pt").exists()  # epoch 1's checkpoint kept

    resumed = run(tmp_path / "resume_log", f"train.resume={killed}")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    a = json.loads((tmp_path / "full" / "summary.json").read_text())
    b = json.loads((killed / "summary.json").read_text())
    for key in [k for k in a if k.startswith(("val/", "test/", "mostpop/"))] + ["best_epoch", "epochs"]:
        assert a[key] == b[key], key
    lines = [json.loads(x) for x in (killed / "metrics.jsonl").read_text().splitlines()]
    assert [x["epoch"] for x in lines if "epoch" in x] == [1, 2, 3, 4]  # each epoch once
    full = [json.loads(x) for x in (tmp_path / "full" / "metrics.jsonl").read_text().splitlines()]
    assert [x.get("train/loss") for x in lines] == [x.get("train/loss") for x in full]  # the split epoch too
    assert json.loads((killed / "status.json").read_text())["status"] == "finished"


def test_a_rank_leaving_on_a_signal_ignores_sigterm_and_exits_128_plus_it_however_long_teardown_takes():
    """leave_within: torchrun's agent SIGTERMs a rank still tearing down (and SIGKILLs it 30 s later); the rank
    ignores that SIGTERM and its watchdog ends it with 128 + the signal even while the main thread is stuck."""
    import os
    import signal
    import subprocess
    import sys
    import time

    stuck = ("from recsys_pyg.training.signals import leave_within; import time; leave_within(1.0, 143); "
             "print('left', flush=True); time.sleep(60)")  # fmt: skip
    proc = subprocess.Popen([sys.executable, "-c", stuck], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "left"
    started = time.time()
    os.kill(proc.pid, signal.SIGTERM)  # ignored: not -15
    assert proc.wait(timeout=30) == 143
    assert time.time() - started < 10  # the watchdog, not the 60 s sleep
