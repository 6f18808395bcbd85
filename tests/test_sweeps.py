"""Sweeps from the shell (real `-m` subprocesses), the offline comparison, failed jobs, W&B offline read-back."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

from recsys_pyg.compare import main as compare_main
from recsys_pyg.train import train
from recsys_pyg.wandb_offline import offline_history
from tests.helpers.configs import CONF


def sweep(tmp_path: Path, *overrides: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "recsys_pyg.train", "-m", "debug=default", f"hydra.sweep.dir={tmp_path}", *overrides]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    return out


def test_sweep_records_every_job_and_compare_tables_them(tmp_path, capsys):
    sweep(tmp_path, "model=mf,lightgcn", "seed=0,1", "hydra/launcher=local_parallel")  # 4 jobs, 2 at a time
    summaries = sorted(tmp_path.glob("*/summary.json"))
    assert len(summaries) == 4
    configs = [json.loads((p.parent / "config.json").read_text()) for p in summaries]
    assert sorted((c["model"]["_target_"].rsplit(".", 1)[-1], c["seed"]) for c in configs) == [
        ("LightGCN", 0),
        ("LightGCN", 1),
        ("MF", 0),
        ("MF", 1),
    ]
    for p in summaries:
        record = json.loads(p.read_text())
        assert 0 <= record["test/recall@20"] <= 1 and record["epochs"] == 2
        assert len((p.parent / "metrics.jsonl").read_text().splitlines()) == 4  # mostpop, 2 epochs, test

    assert compare_main([str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    rows = list(csv.DictReader(open(tmp_path / "runs.csv")))
    assert len(rows) == 4 and {"model", "seed", "val/recall@20", "test/recall@20"} <= set(rows[0])
    by_run = {r["run"]: r for r in rows}
    for p in summaries:  # the table holds each run's own numbers
        assert float(by_run[p.parent.name]["test/recall@20"]) == pytest.approx(
            json.loads(p.read_text())["test/recall@20"]
        )
    groups = list(csv.DictReader(open(tmp_path / "groups.csv")))
    assert sorted((g["model"], g["runs"]) for g in groups) == [("LightGCN", "2"), ("MF", "2")]
    assert "±" in groups[0]["test/recall@20"] and "| MF |" in printed
    png = (tmp_path / "compare.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    assert (tmp_path / "runs.md").read_text().startswith("| run |")


def test_a_failed_job_is_reported_and_the_others_complete(tmp_path, capsys):
    out = sweep(tmp_path, "model.embedding_dim=8,0,16")
    report = json.loads((tmp_path / "sweep_report.json").read_text())
    assert [r["status"] for r in report] == ["ok", "failed", "ok"]
    assert "embedding_dim must be a positive integer" in report[1]["error"]
    assert "1 failed" in out.stderr + out.stdout
    compare_main([str(tmp_path)])
    assert "failed: ValueError: model.embedding_dim must be a positive integer" in capsys.readouterr().out


def test_wandb_offline_history_has_every_evaluation(cfg_factory, tmp_path):
    results = train(cfg_factory("debug=default", "logger=wandb", "logger.wandb.mode=offline", "train.epochs=3"))
    runs = list((tmp_path / "wandb").glob("offline-run-*"))
    assert len(runs) == 1
    rows = offline_history(runs[0])
    evaluated = {r["_step"]: r["val/recall@20"] for r in rows if "val/recall@20" in r}
    assert sorted(evaluated) == [1, 2, 3]  # eval_every=1
    local = {
        m["step"]: m["val/recall@20"]
        for m in map(json.loads, (tmp_path / "metrics.jsonl").read_text().splitlines())
        if "val/recall@20" in m
    }
    assert evaluated == pytest.approx(local)
    assert any("test/recall@20" in r for r in rows) and results["test/recall@20"] == pytest.approx(
        [r for r in rows if "test/recall@20" in r][-1]["test/recall@20"]
    )


@pytest.mark.parametrize(
    "preset,key,target",
    [
        ("hydra/launcher=slurm", "launcher", "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher"),
        (
            "hydra/launcher=local_parallel",
            "launcher",
            "hydra_plugins.hydra_joblib_launcher.joblib_launcher.JoblibLauncher",
        ),
        (
            "hparams_search=lightgcn_optuna",
            "sweeper",
            "hydra_plugins.hydra_optuna_sweeper.optuna_sweeper.OptunaSweeper",
        ),
    ],
)
def test_launcher_and_search_presets_compose(preset, key, target):
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        cfg = compose("config", overrides=[preset], return_hydra_config=True)
    assert cfg.hydra[key]._target_ == target


def test_optuna_search_runs(tmp_path):
    sweep(tmp_path, "hparams_search=lightgcn_optuna", "hydra.sweeper.n_trials=3")
    result = (tmp_path / "optimization_results.yaml").read_text()
    assert "best_params" in result and "optimizer.lr" in result
    assert len(list(tmp_path.glob("*/summary.json"))) == 3


def test_varied_keys_leave_out_an_options_own_defaults():
    from recsys_pyg.compare import varied_keys

    runs = [
        {"config": {"sampler._target_": "U", "sampler.num_negatives": 1, "seed": 0}},
        {"config": {"sampler._target_": "S", "sampler.num_negatives": 256, "sampler.beta": 0.75, "seed": 0}},
        {"config": {"sampler._target_": "S", "sampler.num_negatives": 64, "sampler.beta": 0.75, "seed": 1}},
        {"config": {"sampler._target_": "P", "sampler.alpha": 0.15, "sampler.num_negatives": 1, "seed": 1}},
    ]
    # beta and alpha only follow the sampler choice; num_negatives was swept within S
    assert varied_keys(runs) == ["sampler._target_", "sampler.num_negatives", "seed"]
