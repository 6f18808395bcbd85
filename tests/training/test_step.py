"""A training step never reads a value back from the device, so a GPU never waits on the host
(the recorder: :mod:`tests.helpers.syncs`)."""

from __future__ import annotations

import pytest
import torch

from tests.helpers.syncs import SyncRecorder, setup, syncs_in_steps


@pytest.mark.parametrize(
    "overrides",
    [
        ["model=mf"],
        ["model=mf", "model.sparse=true", "optimizer=mixed_adam"],
        ["model=lightgcn"],
        ["model=ngcf"],
        ["model=ngcf", "model.node_dropout=0.1"],
        ["model=lightgcn", "sampler=shared", "loss=softmax"],
        ["model=mf", "sampler=popularity", "loss=binary"],
        ["model=mf", "sampler=ppr_hard", "loss=margin"],
        ["model=mf", "sampler=curriculum"],
    ],
    ids=lambda o: " ".join(o),
)
def test_training_step_never_syncs(cfg_factory, tmp_path, overrides):
    assert syncs_in_steps(*setup(cfg_factory, tmp_path, *overrides)) == []


def test_neighbourhood_models_sync_only_for_their_subgraph_sizes(cfg_factory, tmp_path):
    # Sampled LightGCN builds a per-batch subgraph whose size depends on the data: its syncs all
    # come from building it (the seeds' ``unique`` and the sampler), none from the step itself.
    found = syncs_in_steps(*setup(cfg_factory, tmp_path, "model=lightgcn", "model.fanout=[3,3,3]"))
    assert found
    assert all("neighbor_sampling.py" in f or "lightgcn.py" in f and "unique" in f for f in found), found


def test_recorder_catches_a_sync():
    recorder = SyncRecorder()
    x = torch.randn(10)
    with recorder:
        if bool((x > 0).any()):
            x[x > 0] = 0.0
    assert any("_local_scalar_dense" in f for f in recorder.found)
    assert any("boolean mask" in f for f in recorder.found)
