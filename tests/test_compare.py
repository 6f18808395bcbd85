"""recsys-compare on hand-written run folders: varied keys, fit-only runs without training settings."""

import json

from recsys_pyg.compare import load_runs, run_table, varied_keys


def write_run(folder, config, summary):
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "summary.json").write_text(json.dumps(summary))


def test_fit_only_runs_show_no_loss_or_sampler(tmp_path):
    trained = {"model": {"_target_": "recsys_pyg.models.MF"}, "loss": {"_target_": "recsys_pyg.losses.BPRLoss"},
               "sampler": {"_target_": "recsys_pyg.samplers.UniformSampler", "num_negatives": 1},
               "train": {"batch_size": 2048}}  # fmt: skip
    fitted = {**trained, "model": {"_target_": "recsys_pyg.models.gfcf.GFCF"}}
    write_run(tmp_path / "mf", trained, {"val/recall@20": 0.2, "test/recall@20": 0.19})
    write_run(tmp_path / "gfcf", fitted, {"val/recall@20": 0.25, "test/recall@20": 0.21})
    runs = load_runs(tmp_path)
    keys = varied_keys(runs)
    header, rows = run_table(runs, keys, ["recall@20"])
    table = {row[0]: dict(zip(header, row, strict=True)) for row in rows}
    assert table["gfcf"]["loss"] == "" and table["gfcf"]["sampler"] == "" and table["gfcf"]["model"] == "GFCF"
    assert table["mf"]["loss"] == "BPRLoss" and table["mf"]["train.batch_size"] == "2048"
    assert table["gfcf"]["test/recall@20"] == 0.21
