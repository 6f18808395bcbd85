"""SimGCL and XSimGCL with their YAML defaults learn on the embedded default data (60 epochs): test
Recall@20 at least 1.1x MostPop's (measured: SimGCL 1.64x; SELFRec's lambda 0.5 gave 0.31x)."""

from __future__ import annotations

import pytest

from recsys_pyg.train import train


@pytest.mark.slow
@pytest.mark.parametrize("model", ["simgcl", "xsimgcl"])
def test_defaults_beat_mostpop_on_the_embedded_default(cfg_factory, tmp_path, model):
    results = train(cfg_factory(f"model={model}", "train.epochs=60", "train.eval_every=10", "train.patience=0",
                                "train.checkpoint_every=0", f"paths.data_dir={tmp_path / 'c'}"))  # fmt: skip
    assert results["test/recall@20"] >= 1.1 * results["mostpop/test/recall@20"]
