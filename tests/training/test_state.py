"""LoopState: keep-best, early stopping, the time budget, and one state_dict for checkpoints and resume."""

from __future__ import annotations

import json

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
