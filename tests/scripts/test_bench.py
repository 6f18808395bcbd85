"""The benchmark script runs end to end on a tiny size (slow: run with `make test-all`)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_bench_tiny(tmp_path):
    cmd = [
        sys.executable,
        str(ROOT / "scripts" / "bench.py"),
        "--size",
        "tiny",
        "--batches",
        "3",
        "--out",
        str(tmp_path),
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=900, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads((tmp_path / "bench.json").read_text())
    rows = {r["row"]: r for r in result["rows"]}
    assert set(rows) == {"mf", "lightgcn", "lightgcn-sampled", "ngcf", "pinsage", "naive", "bare_gemm"}
    assert all("error" not in r for r in rows.values())
    assert rows["lightgcn"]["train_per_batch_s"] > 0 and rows["bare_gemm"]["eval_rank_s"] > 0
    assert "ours / naive LGConv" in (tmp_path / "bench.md").read_text()
    assert 0 < rows["lightgcn-sampled"]["batch_nodes"] <= 600 + 800  # the tiny graph bounds it
    assert rows["lightgcn-sampled"]["eval_rank_s"] > 0
    samplers = {r["row"]: r for r in result["samplers"]}  # every sampler x loss x model, from the run's YAML
    assert len(samplers) == 28 and all("error" not in r for r in samplers.values())
    assert all(0 < r["sampling_share"] < 1 for r in samplers.values())
    assert "| lightgcn | ppr_hard | softmax |" in (tmp_path / "bench.md").read_text()
    assert "| mf | shared,groups=16 | bpr |" in (tmp_path / "bench.md").read_text()  # an option over the YAML
    fit = {r["row"]: r for r in result["fit_only"]}  # every fit-only model from its YAML, beside MF's evaluation
    assert set(fit) == {f"fit:{m}" for m in ("gfcf", "chebycf", "bspm", "turbocf", "itemknn", "ease")}
    assert all("error" not in r and r["eval_total_s"] > 0 and r["fit_s"] >= 0 for r in fit.values())
    assert "| gfcf |" in (tmp_path / "bench.md").read_text() and "eval / MF's" in (tmp_path / "bench.md").read_text()
    dense = [fit[f"fit:{m}"] for m in ("gfcf", "chebycf", "bspm")]  # the floor their ideal terms set, measured
    assert all(r["rank"] > 0 and r["floor_s"] > 0 for r in dense) and "rank" not in fit["fit:itemknn"]
