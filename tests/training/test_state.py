"""LoopState: keep-best, early stopping, the time budget, and one state_dict for checkpoints and resume."""

from __future__ import annotations

import json

import pytest
import torch

from recsys_pyg.train import train
from recsys_pyg.training import LoopState


def test_keep_best_counts_stale_validations_and_copies_the_weights():
    model = torch.nn.Linear(2, 1)
    state = LoopState()
    state.epoch = 1
    assert state.observe({"val/recall@20": 0.1}, "val/recall@20", model)
    with torch.no_grad():
        model.weight.add_(1.0)  # later training must not change the kept best weights
    state.epoch = 2
    assert not state.observe({"val/recall@20": 0.05}, "val/recall@20", model)
    assert state.best == 0.1 and state.best_epoch == 1 and state.stale == 1
    assert not torch.equal(state.best_state["weight"], model.weight)
    assert state.should_stop(1) and not state.should_stop(2) and not state.should_stop(0)


def test_state_dict_round_trip_covers_every_field():
    state = LoopState(epoch=3, best=0.2, best_epoch=2, best_state={"w": torch.ones(2)}, best_val={"val/x": 0.2},
                      stale=1, baseline={"mostpop/val/x": 0.1}, train_time=12.5)  # fmt: skip
    other = LoopState()
    other.load_state_dict(state.state_dict())
    assert other.state_dict().keys() == state.state_dict().keys()
    assert other.epoch == 3 and other.train_time == 12.5 and torch.equal(other.best_state["w"], torch.ones(2))
    assert other.over_budget(0.2) and not other.over_budget(0.21) and not other.over_budget(None)


def test_time_budget_stops_training_and_validates_the_last_epoch(cfg_factory, tmp_path):
    results = train(cfg_factory("debug=default", "train.epochs=50", "train.eval_every=10",
                                "train.time_budget_min=0.000001"))  # fmt: skip
    assert results["epochs"] == 1 and results["best_epoch"] == 1  # validated though eval_every is 10
    lines = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert "val/recall@20" in lines[1] and "test/recall@20" in lines[-1]


def test_crossed_marks_the_epochs_that_pass_each_multiple_of_the_period():
    state = LoopState()
    ends = []
    for seconds in [50, 50, 50, 10, 200, 5]:  # training time 50 100 150 160 360 365
        state.train_time += seconds
        ends.append(state.crossed(1.0, seconds))  # every 60 s of training
    assert ends == [False, True, True, False, True, False]  # 60 in epoch 2, 120 in 3, 180..360 in 5
    assert not state.crossed(None, 5)


def test_learning_curve_at_fixed_training_times(cfg_factory, tmp_path):
    """train.eval_every_min validates on schedule; train.test_curve adds the test of the current weights,
    which at the best epoch are the weights the final test uses: the same numbers."""
    results = train(cfg_factory("debug=default", "train.epochs=4", "train.eval_every=100", "train.patience=0",
                                "train.eval_every_min=0.0000001", "train.test_curve=true"))  # fmt: skip
    lines = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    curve = [x for x in lines if "curve/test/recall@20" in x]
    assert [x["step"] for x in curve] == [1, 2, 3, 4]  # every epoch crossed the tiny period
    assert all(x["eval/time"] > 0 and x["train/time"] > 0 for x in curve)
    assert [x["train/time"] for x in curve] == sorted(x["train/time"] for x in curve)
    at_best = next(x for x in curve if x["step"] == results["best_epoch"])
    assert at_best["curve/test/recall@20"] == pytest.approx(results["test/recall@20"], abs=1e-6)
    assert not any(k.startswith("curve/") for k in results)  # never part of the selection's record
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["train_time"] == pytest.approx(curve[-1]["train/time"]) and summary["peak_rss_mib"] > 10
