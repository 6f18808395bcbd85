"""Schedules: warm-up + cosine against its formula (by epochs and by training time), the plateau schedule
stepped on the monitored metric at evaluations only, and every conf/scheduler option built by the run."""

from __future__ import annotations

import math

import pytest
import torch

from recsys_pyg.training.schedules import WarmupCosine, step_schedule


def optimizer(lr: float = 1.0) -> torch.optim.Optimizer:
    return torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr)


def test_warmup_cosine_by_epochs_follows_its_formula():
    opt = optimizer(2.0)
    sched = WarmupCosine(opt, total_epochs=10, warmup=0.2, warmup_start=0.1, min_factor=0.0)
    lrs = [opt.param_groups[0]["lr"]]
    for _ in range(10):
        opt.step()
        sched.step()
        lrs.append(opt.param_groups[0]["lr"])
    # epoch e uses progress e / 10: warm-up over the first 2 epochs, then cosine down to 0 at 10
    warm = [2.0 * (0.1 + 0.9 * (e / 10) / 0.2) for e in range(2)]
    expected = warm + [2.0 * 0.5 * (1 + math.cos(math.pi * (e / 10 - 0.2) / 0.8)) for e in range(2, 11)]
    assert lrs == pytest.approx(expected)
    assert lrs[2] == pytest.approx(2.0) and lrs[-1] == pytest.approx(0.0, abs=1e-12)


def test_warmup_cosine_by_time_budget_and_its_state_resumes():
    opt = optimizer()
    sched = WarmupCosine(opt, total_epochs=1000, budget_min=30.0, warmup=0.0, min_factor=0.1)
    step_schedule(sched, {}, "val/recall@20", train_s=15 * 60)  # half the budget
    assert opt.param_groups[0]["lr"] == pytest.approx(0.1 + 0.9 * 0.5)
    state = sched.state_dict()
    opt2 = optimizer()
    again = WarmupCosine(opt2, total_epochs=1000, budget_min=30.0, warmup=0.0, min_factor=0.1)
    again.load_state_dict(state)
    step_schedule(again, {}, "val/recall@20", train_s=30 * 60)
    assert opt2.param_groups[0]["lr"] == pytest.approx(0.1)
    with pytest.raises(ValueError, match="warmup must be in"):
        WarmupCosine(optimizer(), 10, warmup=1.0)


def test_plateau_steps_on_the_monitor_at_evaluations_only():
    opt = optimizer()
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="max", factor=0.1, patience=1)
    for recall in (0.10, 0.12):  # gains
        step_schedule(sched, {"val/recall@20": recall}, "val/recall@20", 0.0)
    for _ in range(5):  # epochs without an evaluation: no step, however many
        step_schedule(sched, {"train/loss": 1.0}, "val/recall@20", 0.0)
    assert opt.param_groups[0]["lr"] == 1.0
    step_schedule(sched, {"val/recall@20": 0.11}, "val/recall@20", 0.0)  # one stale evaluation: patience 1
    assert opt.param_groups[0]["lr"] == 1.0
    step_schedule(sched, {"val/recall@20": 0.11}, "val/recall@20", 0.0)  # two: reduced x0.1
    assert opt.param_groups[0]["lr"] == pytest.approx(0.1)


@pytest.mark.parametrize("name", ["plateau", "warmup_cosine", "cosine", "step"])
def test_every_scheduler_option_builds(cfg_factory, name):
    from recsys_pyg.instantiate import build

    cfg = cfg_factory(f"scheduler={name}", "train.time_budget_min=30")
    sched = build(cfg.scheduler, "scheduler", optimizer=optimizer())
    step_schedule(sched, {"val/recall@20": 0.1}, "val/recall@20", 60.0)
    assert sched.state_dict()


def test_a_run_steps_its_schedule_every_epoch(cfg_factory, tmp_path):
    import json

    from recsys_pyg.train import train

    cfg = cfg_factory("debug=default", "train.epochs=4", "train.eval_every=2", "scheduler=warmup_cosine",
                      "scheduler.warmup=0.25", "optimizer.lr=0.01", f"paths.data_dir={tmp_path / 'c'}")  # fmt: skip
    train(cfg)
    lines = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    lrs = [m["train/lr"] for m in lines if "train/lr" in m]
    # epoch e trains at progress (e - 1) / 4: 0.001 (warm-up start), then 1, cos(pi/3), cos(2pi/3) halves
    assert lrs == pytest.approx([0.001, 0.01, 0.01 * 0.5 * (1 + math.cos(math.pi / 3)),
                                 0.01 * 0.5 * (1 + math.cos(2 * math.pi / 3))])  # fmt: skip


def test_plateau_reports_its_cut():
    opt = optimizer()
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="max", factor=0.1, patience=0)
    assert not step_schedule(sched, {"val/recall@20": 0.2}, "val/recall@20", 0.0)  # a gain
    assert not step_schedule(sched, {"train/loss": 1.0}, "val/recall@20", 0.0)  # no evaluation
    assert step_schedule(sched, {"val/recall@20": 0.1}, "val/recall@20", 0.0)  # stale: cut
    assert not step_schedule(WarmupCosine(optimizer(), 10), {}, "val/recall@20", 0.0)


@pytest.mark.parametrize("reload", [True, False])
def test_a_cut_reloads_the_best_weights_when_asked(cfg_factory, tmp_path, monkeypatch, reload):
    """Scripted validations (recall 0.5, 0.4, ...) cut the rate after epoch 2: with ``train.reload_best_on_cut``
    epoch 3 starts from the weights epoch 1 ended with (SimpleX's BARS trainer), otherwise from epoch 2's."""
    import recsys_pyg.train as train_module

    ended, started = {}, {}
    real_eval, real_epoch = train_module.evaluate_part, train_module.train_epoch
    scripted = iter([0.5, 0.4, 0.3, 0.2])

    def evaluate(parts, split):
        out = real_eval(parts, split)
        if split == "val" and parts.data.val_items.nnz:
            ended[len(ended) + 1] = {k: v.clone() for k, v in parts.model.state_dict().items()}
            out["recall@20"] = next(scripted)
        return out

    def epoch(parts, number, *args):
        started[number] = {k: v.clone() for k, v in parts.model.state_dict().items()}
        return real_epoch(parts, number, *args)

    monkeypatch.setattr(train_module, "evaluate_part", evaluate)
    monkeypatch.setattr(train_module, "train_epoch", epoch)
    cfg = cfg_factory("debug=default", "train.epochs=3", "train.eval_every=1", "train.patience=0",
                      "scheduler=plateau", "scheduler.patience=0", f"train.reload_best_on_cut={reload}",
                      f"paths.data_dir={tmp_path / 'c'}")  # fmt: skip
    train_module.train(cfg)
    source = ended[1] if reload else ended[2]
    assert all(torch.equal(started[3][k], source[k]) for k in source)
    assert not all(torch.equal(ended[1][k], ended[2][k]) for k in source)  # the two epochs' weights differ
