"""In-batch negatives: the batch's items, each row's own positives masked; refused as chunkable."""

from __future__ import annotations

import pytest
import torch

from recsys_pyg.data import BipartiteGraph
from recsys_pyg.samplers import InBatchSampler
from recsys_pyg.train import train


def test_batch_items_are_the_negatives_and_own_positives_are_masked():
    # user 0: items {0, 1}; user 1: {1, 2}; user 2: {3}
    graph = BipartiteGraph(torch.tensor([0, 0, 1, 1, 2]), torch.tensor([0, 1, 1, 2, 3]), 3, 5)
    users, pos = torch.tensor([0, 1, 2, 0]), torch.tensor([0, 2, 3, 1])
    neg = InBatchSampler(graph).sample(users, pos, epoch=1)
    assert torch.equal(neg.items, pos) and neg.shared and neg.hard is None
    expected = torch.tensor(
        [
            [False, True, True, False],  # user 0: item 0 and item 1 are its positives
            [True, False, True, False],  # user 1: item 2 is its own positive, item 1 another of its positives
            [True, True, False, True],
            [False, True, True, False],
        ]
    )
    assert torch.equal(neg.mask, expected)
    assert InBatchSampler.chunkable is False


def test_never_a_training_positive_unmasked_on_a_random_graph():
    gen = torch.Generator().manual_seed(0)
    dense = torch.rand(30, 20, generator=gen) < 0.3
    user, item = dense.nonzero(as_tuple=True)
    graph = BipartiteGraph(user, item, 30, 20)
    idx = torch.randperm(graph.num_edges, generator=gen)[:64]
    neg = InBatchSampler(graph).sample(graph.user[idx], graph.item[idx], 1)
    counted = dense[graph.user[idx][:, None], neg.items[None, :]] & neg.mask  # (B, B) positives left counting
    assert not counted.any() and (~neg.mask).diagonal().all()


def test_declared_chunkable_it_fails_loudly_instead_of_mixing_rows(cfg_factory, monkeypatch):
    monkeypatch.setattr(InBatchSampler, "chunkable", True)  # a wrong declaration, as a copy-paste would make
    with pytest.raises(ValueError, match="InBatchSampler declares chunkable=True but returned a shared set"):
        train(cfg_factory("debug=default", "sampler=in_batch", "train.sample_batches=4"))


def test_a_sampler_without_the_declaration_is_refused(cfg_factory, monkeypatch):
    monkeypatch.delattr(InBatchSampler, "chunkable")
    with pytest.raises(TypeError, match="must declare `chunkable: bool`"):
        train(cfg_factory("debug=default", "sampler=in_batch"))


# softmax: slow (sampler=in_batch with softmax learns in tests/test_combinations.py)
SLOW_SOFTMAX = pytest.param(["loss=softmax", "loss.temperature=0.2"], marks=pytest.mark.slow)


@pytest.mark.parametrize("loss", [SLOW_SOFTMAX, ["loss=bpr"]], ids=["softmax", "bpr"])
def test_in_batch_training_beats_mostpop(cfg_factory, loss):
    # in-batch negatives are drawn by popularity, as the batch is: they teach less per step than uniform
    # ones (here ~1.5x MostPop at temperature 0.2 against ~1.25x at 0.1), so batches are small
    results = train(cfg_factory("model=mf", "sampler=in_batch", *loss, "dataset.source.num_users=500",
                                "dataset.source.num_items=250", "dataset.source.num_interactions=15000",
                                "dataset.source.strength=6.0", "optimizer.lr=0.005", "train.epochs=20",
                                "train.eval_every=5", "train.batch_size=256"))  # fmt: skip
    assert results["test/recall@20"] > 1.3 * results["mostpop/test/recall@20"]
