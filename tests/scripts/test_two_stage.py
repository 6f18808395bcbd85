"""scripts/two_stage.py on a finished tiny run: rows for exact and each index, honest ratios."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from recsys_pyg.train import train

ROOT = Path(__file__).resolve().parents[2]


def test_two_stage_table(cfg_factory, tmp_path):
    pytest.importorskip("faiss")
    train(cfg_factory("debug=default", "train.epochs=3", "train.num_threads=1"))
    cmd = [sys.executable, str(ROOT / "scripts" / "two_stage.py"), str(tmp_path),
           "--indexes", "flat", "hnsw", "--candidates", "5", "300"]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    rows = {r["name"]: r for r in json.loads((tmp_path / "two_stage.json").read_text())}
    assert set(rows) == {"exact", "flat C=5", "flat C=300", "hnsw C=5", "hnsw C=300"}
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert rows["exact"]["recall@20"] == pytest.approx(summary["test/recall@20"], abs=1e-6)
    # all 300 items as candidates: the exact ranking again
    assert rows["flat C=300"]["overlap"] == 1.0 and rows["flat C=300"]["recall@20"] == rows["exact"]["recall@20"]
    # 5 candidates cannot fill a top-20: recall drops, and the table says so
    assert rows["flat C=5"]["recall@20"] < rows["exact"]["recall@20"] and rows["flat C=5"]["overlap"] <= 0.25
    assert "| flat | 300 |" in (tmp_path / "two_stage.md").read_text()
