"""Bad config values: each error names its key (``model.embedding_dim``, ``eval.ks``), never a consequence elsewhere."""

from __future__ import annotations

import pytest
from hydra.errors import ConfigCompositionException, MissingConfigException

from recsys_pyg.train import train

TINY = ["dataset.source.num_users=60", "dataset.source.num_items=80", "dataset.source.num_interactions=900"]


@pytest.mark.parametrize(
    "override,error,message",
    [
        ("model.embedding_dim=abc", ValueError, "model.embedding_dim must be a positive integer, got 'abc'"),
        ("model.embedding_dim=0", ValueError, "model.embedding_dim must be a positive integer, got 0"),
        ("model.num_layers=-1", ValueError, "model.num_layers must be a non-negative integer, got -1"),
        ("eval.ks=[0]", ValueError, "eval.ks (every K) must be a positive integer, got 0"),
        ("eval.ks=[]", ValueError, "eval.ks must be a non-empty list"),
        ("eval.ks=20", ValueError, "eval.ks must be a non-empty list of positive integers"),
        ("eval.chunk_size=0", ValueError, "eval.chunk_size must be a positive integer"),
        ("train.epochs=abc", ValueError, "train.epochs must be a positive integer, got 'abc'"),
        ("train.batch_size=0", ValueError, "train.batch_size must be a positive integer, got 0"),
        ("train.patience=-1", ValueError, "train.patience must be an integer >= 0"),
        ("train.patience=1.5", ValueError, "train.patience must be an integer >= 0"),
        ("train.num_threads=0", ValueError, "train.num_threads must be a positive integer or null"),
        ("train.grad_clip=abc", ValueError, "train.grad_clip must be a finite number >= 0 or null"),
        ("train.progress=maybe", ValueError, "train.progress must be true or false"),
        ("train.monitor=val/recall@7", ValueError, "train.monitor=val/recall@7 is not a validation metric"),
        ("seed=abc", ValueError, "seed must be an integer"),
        ("sampler.num_negatives=0", ValueError, "sampler.num_negatives must be a positive integer"),
        ("loss.l2_weight=-1", ValueError, "loss.l2_weight must be >= 0"),
        ("loss.l2_weight=abc", TypeError, "loss.l2_weight must be a finite number >= 0, got 'abc'"),
        ("optimizer.lr=abc", TypeError, "optimizer.lr must be a number, got 'abc'"),
        ("optimizer.weight_decay=abc", TypeError, "optimizer.weight_decay must be a number, got 'abc'"),
        ("device=cuda:7", ValueError, "device=cuda:7 was asked for but CUDA is not available"),
        ("dataset.source.num_interactions=10", ValueError, "num_interactions=10 is impossible"),
    ],
    ids=lambda x: x if isinstance(x, str) and "=" in x else "",
)
def test_bad_values_name_their_key(cfg_factory, override, error, message):
    if override == "device=cuda:7":
        pytest.importorskip("torch")
        import torch

        if torch.cuda.is_available():
            pytest.skip("a CUDA machine: the device exists")
    cfg = cfg_factory(*TINY, override)
    with pytest.raises(error) as err:
        train(cfg)
    assert message in str(err.value)


def test_a_misspelt_key_is_an_error_naming_it(cfg_factory):
    with pytest.raises(ConfigCompositionException) as err:
        cfg_factory("train.epoch=3")
    assert "train.epoch" in str(err.value) + str(err.value.__cause__)
    with pytest.raises(ConfigCompositionException) as err:
        cfg_factory("model.embeding_dim=3")
    assert "embeding_dim" in str(err.value) + str(err.value.__cause__)


def test_an_unknown_option_lists_the_valid_ones(cfg_factory):
    with pytest.raises(MissingConfigException) as err:
        cfg_factory("sampler=nope")
    assert all(name in str(err.value) for name in ("uniform", "shared", "in_batch"))


def test_a_setup_failure_leaves_a_failed_status_and_the_composed_config(cfg_factory, tmp_path):
    """A bad value found while building the parts (or checking the config) still leaves the record saying so."""
    import json

    for override, key in (("optimizer.lr=abc", "optimizer.lr"), ("train.epochs=abc", "train.epochs")):
        with pytest.raises((TypeError, ValueError)):
            train(cfg_factory(*TINY, override))
        status = json.loads((tmp_path / "status.json").read_text())
        assert status["status"] == "failed" and key in status["error"]
        assert json.loads((tmp_path / "config.json").read_text())["train"]["batch_size"] > 0


def test_running_out_of_memory_while_building_leaves_a_failed_status_saying_so(cfg_factory, tmp_path):
    """A real allocation failure while the parts are built (an MF table of 10^13 columns: beyond any address
    space, whatever the overcommit policy): the record says failed with the allocator's message, and the
    config that asked for it is kept."""
    import json

    with pytest.raises(RuntimeError, match="allocate"):
        train(cfg_factory(*TINY, "model=mf", "model.embedding_dim=10000000000000"))
    status = json.loads((tmp_path / "status.json").read_text())
    assert status["status"] == "failed" and "can't allocate memory" in status["error"], status
    assert json.loads((tmp_path / "config.json").read_text())["model"]["embedding_dim"] == 10**13
