"""Every model trains with every sampler and every loss (one tiny epoch each)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from recsys_pyg.train import train
from tests.conftest import CONF

MODELS = sorted(p.stem for p in (Path(CONF) / "model").glob("*.yaml"))
SAMPLERS = sorted(p.stem for p in (Path(CONF) / "sampler").glob("*.yaml"))
LOSSES = sorted(p.stem for p in (Path(CONF) / "loss").glob("*.yaml"))
TINY = ["debug=default", "train.epochs=2", "train.eval_every=2"]


def run(cfg_factory, tmp_path, *overrides):
    cfg = cfg_factory(*TINY, *overrides, f"paths.data_dir={tmp_path / 'cache'}")
    results = train(cfg)
    assert math.isfinite(results["test/recall@20"]) and 0 <= results["test/recall@20"] <= 1
    return results


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("sampler", SAMPLERS)
def test_every_model_with_every_sampler(cfg_factory, tmp_path, model, sampler):
    run(cfg_factory, tmp_path, f"model={model}", f"sampler={sampler}")


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("sampler", ["uniform", "shared"])
def test_every_model_with_every_loss(cfg_factory, tmp_path, model, loss, sampler):
    run(cfg_factory, tmp_path, f"model={model}", f"loss={loss}", f"sampler={sampler}")
