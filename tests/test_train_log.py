"""What a run's log tells a reader: where it runs, a fit-only model's fit time, and a warning when MostPop wins."""

from __future__ import annotations

import json
import logging
import re

import pytest
import torch

from recsys_pyg.distributed import Dist
from recsys_pyg.train import train, where_it_runs
from tests.helpers.configs import DATA


def messages(caplog: pytest.LogCaptureFixture, level: int = logging.INFO) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= level and r.name == "recsys_pyg.train"]


def test_the_log_says_where_the_run_runs(cfg_factory, caplog):
    with caplog.at_level(logging.INFO):
        train(cfg_factory("debug=default", "device=cpu", "train.num_threads=1"))
    assert "running on cpu, torch threads: 1" in messages(caplog)


def test_under_torchrun_the_line_names_the_rank_the_world_size_and_the_backend(monkeypatch):
    monkeypatch.setattr(torch.distributed, "get_backend", lambda group=None: "gloo")
    line = where_it_runs(Dist(rank=1, world=2, local_rank=1), torch.device("cpu"))
    assert line == f"running on cpu, torch threads: {torch.get_num_threads()}, rank 1 of world size 2 (gloo backend)"


def test_a_fit_only_model_s_epoch_line_shows_its_fit_time_not_a_loss(cfg_factory, tmp_path, caplog):
    with caplog.at_level(logging.INFO):
        train(cfg_factory("debug=default", "model=itemknn"))
    (line,) = [m for m in messages(caplog) if m.startswith("epoch 1 ")]
    fit_time = json.loads((tmp_path / "metrics.jsonl").read_text().splitlines()[1])["train/fit_time"]
    assert re.match(rf"epoch 1  fit {fit_time:.2f}s  val/recall@20 0\.\d{{4}} \(best 0\.\d{{4}} @ 1\)", line), line
    assert "loss" not in line and "nan" not in line


def test_a_run_below_mostpop_ends_with_a_warning_and_one_above_it_does_not(cfg_factory, caplog):
    with caplog.at_level(logging.INFO):
        below = train(cfg_factory("debug=default"))  # LightGCN after 2 epochs of 6,000 interactions: far below
    best, popular = below["val/recall@20"], below["mostpop/val/recall@20"]
    assert best < popular
    said = messages(caplog)
    assert said[-1] == (
        f"best val/recall@20 {best:.4f} does not beat MostPop's {popular:.4f}: the model ranks no better than item "
        "popularity (train longer, tune the learning rate, or try another loss)"
    )
    assert said.index(said[-1]) > next(i for i, m in enumerate(said) if m.startswith("results in"))  # at the end

    caplog.clear()
    with caplog.at_level(logging.WARNING):
        above = train(cfg_factory(*DATA, "model=itemknn"))  # strong tastes: neighbours beat popularity
    assert above["val/recall@20"] > above["mostpop/val/recall@20"]
    assert not [m for m in messages(caplog, logging.WARNING) if "MostPop" in m]
