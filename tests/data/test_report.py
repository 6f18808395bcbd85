"""The data command (recsys-data): sizes and checks printed, exit status on a broken split."""

from __future__ import annotations

from pathlib import Path

import torch
from hydra.utils import instantiate

from recsys_pyg.data import RecDataset
from recsys_pyg.data.__main__ import main as data_main
from recsys_pyg.data.report import check
from recsys_pyg.data.split import Split


def test_data_command_reports_and_checks(capsys):
    assert (
        data_main(["dataset.source.num_users=50", "dataset.source.num_items=60", "dataset.source.num_interactions=600"])
        == 0
    )
    out = capsys.readouterr().out
    assert "50 users x 60 items" in out and "checks passed" in out and "| test |" in out
    data = instantiate(
        __import__("tests.conftest", fromlist=["make_cfg"]).make_cfg(["debug=default"], Path("/tmp")).dataset
    )
    leaked = Split(data.split.train, data.split.val, data.split.train.subset(torch.arange(3)))
    assert any("in both train and test" in p for p in check(RecDataset("x", leaked)))
