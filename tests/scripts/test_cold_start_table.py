"""scripts/cold_start_table.py: the best job of each sweep by its monitor, cold shown as 'cannot' where unscored."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "cold_start_table.py"


def _job(folder: Path, monitor: str, lr: float, value: float, scored: float, extra: dict) -> None:
    folder.mkdir(parents=True)
    config = {"train": {"monitor": monitor}, "optimizer": {"lr": lr}, "model": {"id_embedding": True},
              "loss": {"_target_": "recsys_pyg.losses.ranking.BPRLoss"},
              "sampler": {"_target_": "recsys_pyg.samplers.uniform.UniformSampler"}}  # fmt: skip
    if lr == 0.005:  # the in-batch cosine arm, with its popularity prior and cold_dropout
        config["loss"] = {"_target_": "recsys_pyg.losses.ranking.SoftmaxLoss", "similarity": "cosine",
                          "eval_popularity": 0.1}  # fmt: skip
        config["sampler"] = {"_target_": "recsys_pyg.samplers.in_batch.InBatchSampler"}
        config["model"]["cold_dropout"] = 0.3
    (folder / "config.json").write_text(json.dumps(config))
    summary = {monitor: value, "test/cold/scored": scored, "test/warm/recall@20": value / 2, **extra}
    (folder / "summary.json").write_text(json.dumps(summary))


def test_table_keeps_the_best_on_validation(tmp_path):
    base = {"content/test/cold/recall@20": 0.3, "random/test/cold/recall@20": 0.1, "mostpop/test/warm/recall@20": 0.2}
    _job(tmp_path / "inductive" / "0", "val/cold/recall@20", 0.001, 0.30, 1.0, {"test/cold/recall@20": 0.25, **base})
    _job(tmp_path / "inductive" / "1", "val/cold/recall@20", 0.005, 0.40, 1.0, {"test/cold/recall@20": 0.35, **base})
    _job(tmp_path / "id_pinsage" / "0", "val/warm/recall@20", 0.001, 0.22, 0.0, base)
    out = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path)], capture_output=True, text=True, check=True)
    rows = out.stdout.splitlines()
    chosen = "softmax (InBatch, cosine, popularity 0.1), lr 0.005, id_embedding=True, cold_dropout=0.3"
    assert f"| inductive (val/cold/recall@20) | {chosen} | 0.4000 | 0.3500 |" in rows[2]
    assert (
        "| id_pinsage (val/warm/recall@20) | bpr (Uniform), lr 0.001, id_embedding=True | 0.2200 | cannot | cannot | "
        "0.1100 |" in rows[3]
    )
    assert any(r.startswith("| content | — | — | 0.3000 |") for r in rows)
    assert any(r.startswith("| mostpop | — | — | cannot | cannot | 0.2000 |") for r in rows)
