"""scripts/results.py: a table of the finished runs' records (unfinished and unreadable ones said), copies."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "results.py"


def fake_run(folder: Path, status: str, recall: float, selection: str = "test") -> None:
    folder.mkdir(parents=True)
    config = {"model": {"_target_": "recsys_pyg.models.chebycf.ChebyCF"}, "loss": {"_target_": "x.BPRLoss"},
              "protocol": {"dataset": "gowalla", "selection": selection}}  # fmt: skip
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "status.json").write_text(json.dumps({"status": status}))
    (folder / "summary.json").write_text(json.dumps({"test/recall@20": recall, "test/ndcg@20": 0.16, "epochs": 1,
                                                      "train_time": 90.0, "peak_rss_mib": 2048.0,
                                                      "mostpop/test/recall@20": 0.04}))  # fmt: skip
    (folder / "metrics.jsonl").write_text('{"epoch": 1}\n')
    (folder / ".hydra").mkdir()
    overrides = "- experiment=paper_protocol\n- model=chebycf\n- hydra.run.dir=x\n"
    (folder / ".hydra" / "overrides.yaml").write_text(overrides)


def test_table_of_finished_runs_with_published_numbers_and_copies(tmp_path):
    fake_run(tmp_path / "runs" / "chebycf_paper", "finished", 0.1925)
    fake_run(tmp_path / "runs" / "chebycf_honest", "finished", 0.1801, selection="val")
    fake_run(tmp_path / "runs" / "broken", "failed", 0.0)
    fake_run(tmp_path / "runs" / "cold", "finished", 0.3)  # a cold-start run: cold_start_table.py's, not this table's
    summary = json.loads((tmp_path / "runs" / "cold" / "summary.json").read_text())
    (tmp_path / "runs" / "cold" / "summary.json").write_text(json.dumps({**summary, "test/cold/scored": 1.0}))
    out = tmp_path / "RESULTS.md"
    done = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path / "runs"), "--copy", str(tmp_path / "results"),
                           "--out", str(out)], capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "broken" in done.stderr and "not finished" in done.stderr
    assert "cold: a cold-start run" in done.stderr and "[cold]" not in out.read_text()
    text = out.read_text()
    assert "| [chebycf_paper](results/gowalla/chebycf_paper) | ChebyCF | paper | 0.1925 | 0.1600 | 0.1941" in text
    assert "| ChebyCF | honest | 0.1801 |" in text and "| 1.5 | 2048 |" in text
    assert "`python -m recsys_pyg.train experiment=paper_protocol model=chebycf`" in text
    assert (tmp_path / "results" / "gowalla" / "chebycf_paper" / "metrics.jsonl").exists()
    assert not (tmp_path / "results" / "gowalla" / "broken").exists()  # a failed run's record is no result
