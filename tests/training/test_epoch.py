"""An epoch: a non-finite loss stops the run before it can become "best"; gradient clipping."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest
import torch

from recsys_pyg.data import BipartiteGraph
from recsys_pyg.losses import BPRLoss, Objective
from recsys_pyg.models import MF
from recsys_pyg.samplers import Negatives
from recsys_pyg.train import train
from recsys_pyg.training import HardnessMeter, train_step
from recsys_pyg.training.epoch import NonFiniteError

RUN = ["debug=default", "train.epochs=6", "train.eval_every=1", "train.checkpoint_every=1",
       "train.save_checkpoint=true",
       "train.batch_size=512", "train.patience=0"]  # fmt: skip
# 6000 interactions, ~4200 in training: ~9 steps per epoch, so NaN from step 30 falls in epoch 4
NAN = ["loss._target_=tests.training.faults.NaNAfterLoss", "+loss.after_calls=30"]


def test_nan_loss_stops_the_run_with_a_failed_record_and_finite_best(tmp_path):
    run_dir = tmp_path / "run"
    out = subprocess.run(
        [sys.executable, "-m", "recsys_pyg.train", *RUN, *NAN, f"hydra.run.dir={run_dir}", "logger=none",
         "train.progress=false"], capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert out.returncode != 0
    assert "NonFiniteError" in out.stderr and "the training loss is nan" in out.stderr
    status = json.loads((run_dir / "status.json").read_text())
    assert status["status"] == "failed" and "NonFiniteError" in status["error"]
    assert not (run_dir / "summary.json").exists()  # no metrics reported for the run
    lines = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]  # strict JSON
    assert [x["epoch"] for x in lines if "epoch" in x] == [1, 2, 3]  # epoch 4 (NaN) never logged
    best = torch.load(run_dir / "checkpoints" / "best.pt", weights_only=True)
    assert best["epoch"] <= 3 and all(torch.isfinite(t).all() for t in best["model"].values())
    last = torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)
    assert last["loop"]["epoch"] == 3 and all(torch.isfinite(t).all() for t in last["model"].values())


def test_nan_in_process_raises_and_never_becomes_best(cfg_factory, tmp_path):
    with pytest.raises(NonFiniteError, match="epoch 4: the training loss is nan"):
        train(cfg_factory(*RUN, *NAN))
    best = torch.load(tmp_path / "checkpoints" / "best.pt", weights_only=True)
    assert best["epoch"] <= 3 and math.isfinite(best["val/recall@20"])


def test_gradient_clipping_bounds_the_update():
    # SGD with lr 1: the change of the weights is minus the gradient, so its norm is the clipped norm
    graph = BipartiteGraph(torch.tensor([0, 0, 1, 2]), torch.tensor([0, 1, 1, 2]), 3, 3)
    for clip, bounded in ((0.05, True), (0.0, False)):
        torch.manual_seed(0)
        model = MF(3, 3, embedding_dim=4, init_std=10.0)  # large embeddings: gradients far above 0.05
        before = model.embedding.weight.detach().clone()
        users, pos = graph.user, graph.item
        neg = Negatives(torch.tensor([[2], [2], [0], [0]]))
        optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
        train_step(model, graph, users, pos, neg, Objective(BPRLoss(), l2_weight=1.0), optimizer, HardnessMeter(), clip)
        moved = (model.embedding.weight.detach() - before).norm().item()
        assert (moved == pytest.approx(clip, rel=1e-4)) if bounded else moved > 1.0


def test_negative_clip_is_refused_naming_the_key(cfg_factory):
    with pytest.raises(ValueError, match="train.grad_clip must be a finite number >= 0"):
        train(cfg_factory("debug=default", "train.grad_clip=-1"))
