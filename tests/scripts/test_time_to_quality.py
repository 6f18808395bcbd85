"""scripts/time_to_quality.py: two configs trained to a budget, curves at fixed training times."""

import csv
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

import time_to_quality  # noqa: E402


def test_two_configs_side_by_side_give_curves_tables_and_a_plot(tmp_path):
    common = ["debug=default", "train.num_threads=1", "dataset.source.num_interactions=4000"]
    time_to_quality.main([
        "--config", "mf=model=mf optimizer.lr=0.01", "--config", "lgcn=model=lightgcn",
        "--budget-min", "0.01", "--every-min", "0.002", "--jobs", "2", "--out", str(tmp_path), "--", *common,
    ])  # fmt: skip
    for name in ("mf", "lgcn"):
        rows = list(csv.DictReader((tmp_path / f"{name}.csv").open()))
        assert len(rows) >= 2
        minutes = [float(r["train_min"]) for r in rows]
        assert minutes == sorted(minutes) and minutes[-1] >= 0.01  # stopped on the budget, not before
        assert all(0 < float(r["eval_share"]) < 1 and float(r["eval_s"]) > 0 for r in rows)
        summary = json.loads((tmp_path / name / "summary.json").read_text())
        best = next(r for r in rows if int(r["epoch"]) == summary["best_epoch"])
        # the curve's test at the best-by-validation epoch is the run's final test: same weights
        assert float(best["test_recall@20"]) == pytest.approx(summary["test/recall@20"], abs=1e-6)
        assert "| recall@20 |" in (tmp_path / f"{name}.out").read_text()  # side by side: each its own output
        config = json.loads((tmp_path / name / "config.json").read_text())
        assert config["train"]["patience"] == 0 and config["train"]["test_curve"] is True
    text = (tmp_path / "ttq.md").read_text()
    assert "| point | mf | lgcn |" in text and "peak RSS (MiB)" in text
    assert (tmp_path / "curves.png").stat().st_size > 1000


def test_bad_config_spec_is_refused():
    with pytest.raises(SystemExit, match="expected NAME="):
        time_to_quality.parse_config("experiment=lightgcn_paper")
