"""score_batch's paths give the same scores and gradients: per-row products, and many per-row negatives scored
against every item by one GEMM then gathered (hard negatives included, dot and cosine)."""

from __future__ import annotations

import pytest
import torch

import recsys_pyg.training.step as step
from recsys_pyg.models import MF, LightGCN, SimpleX
from recsys_pyg.samplers import Negatives
from tests.helpers.graphs import random_graph


def scored(model, graph, users, pos, neg, cosine):
    model.zero_grad()
    batch = step.score_batch(model, graph, users, pos, neg, cosine=cosine)
    (batch.pos.sum() + (batch.neg * torch.linspace(0.5, 1.5, batch.neg.shape[1])).sum()).backward()
    return batch.pos.detach(), batch.neg.detach(), model.embedding.weight.grad.clone()


@pytest.mark.parametrize("cosine", [False, True], ids=["dot", "cosine"])
@pytest.mark.parametrize("hard", [False, True], ids=["easy", "easy+hard"])
@pytest.mark.parametrize(("num_items", "dim"), [(50, 8), (100, 2)], ids=["I<=kd", "I>kd"])
@pytest.mark.parametrize("cls", [MF, LightGCN, SimpleX])
def test_many_negatives_through_every_item_equal_the_per_row_product(monkeypatch, cls, num_items, dim, hard, cosine):
    """SimpleX leaves row b's positive out of its user's history: the every-item call must still hand the model
    the positives first (it once passed arange(I), so SimpleX left out item b instead)."""
    graph = random_graph(num_users=40, num_items=num_items, density=0.2)
    torch.manual_seed(0)
    if cls is SimpleX:
        model = SimpleX(graph.num_users, graph.num_items, dim, aggregator="mean", init_std=0.1)
    else:
        model = cls(graph.num_users, graph.num_items, dim, 0 if cls is MF else 2)
    gen = torch.Generator().manual_seed(1)
    users, pos = graph.user[:6], graph.item[:6]
    neg = Negatives(torch.randint(num_items, (6, 40), generator=gen),
                    hard=torch.randint(num_items, (6, 3), generator=gen) if hard else None)  # fmt: skip
    assert 6 * 40 >= 2 * graph.num_items  # the batch draws enough to score against every item
    taken = []
    real = step._scored_against_every_item
    monkeypatch.setattr(step, "_scored_against_every_item", lambda *a: taken.append(1) or real(*a))
    fast = scored(model, graph, users, pos, neg, cosine)
    assert taken == ([1] if num_items <= 40 * dim else [])  # the GEMM only where it takes no more memory
    monkeypatch.setattr(step, "GEMM_NEGATIVES", 10**9)  # the per-row (B, k, d) product
    reference = scored(model, graph, users, pos, neg, cosine)
    assert fast[1].shape == (6, 43 if hard else 40)
    for got, want in zip(fast, reference, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)  # float32 sums in another order


@pytest.mark.parametrize("sparse", [False, True])
def test_the_l2_of_many_repeated_rows_equals_the_gathered_sum(sparse):
    """embedding_l2 weighted by row counts (more ids than rows, dense table) = the gathered rows' sum, with the
    same gradient; a sparse table keeps the gathered path (its gradient stays sparse)."""
    from recsys_pyg.models.common import embedding_l2

    torch.manual_seed(0)
    table = torch.nn.Embedding(30, 4, sparse=sparse)
    users, nodes = torch.randint(30, (5,)), torch.randint(30, (200,))  # 200 ids > 30 rows
    got = embedding_l2(table, users, nodes)
    got.backward()
    grad = table.weight.grad.to_dense().clone()
    table.weight.grad = None
    want = 0.5 * (table.weight[users].pow(2).sum() + table.weight[nodes].pow(2).sum()) / 5
    want.backward()
    torch.testing.assert_close(got, want)
    torch.testing.assert_close(grad, table.weight.grad.to_dense())


@pytest.mark.parametrize("cosine", [False, True], ids=["dot", "cosine"])
@pytest.mark.parametrize("cls", [MF, LightGCN, SimpleX])
def test_blocks_of_shared_sets_score_as_their_per_row_items(cls, cosine):
    """Negatives.blocks (a set per block of rows, sampler=shared groups=G): one product per block gives the
    per-row scores and gradients; 7 rows in 3 blocks (sizes 3, 2, 2)."""
    graph = random_graph(num_users=40, num_items=60, density=0.2)
    torch.manual_seed(0)
    if cls is SimpleX:
        model = SimpleX(graph.num_users, graph.num_items, 8, aggregator="mean", init_std=0.1)
    else:
        model = cls(graph.num_users, graph.num_items, 8, 0 if cls is MF else 2)
    gen = torch.Generator().manual_seed(1)
    users, pos = graph.user[:7], graph.item[:7]
    sets = torch.stack([torch.randperm(60, generator=gen)[:5] for _ in range(3)])  # (3, 5)
    items = sets[torch.tensor([0, 0, 0, 1, 1, 2, 2])]  # (7, 5)
    mask = torch.rand(7, 5, generator=gen) > 0.2
    blocked = scored(model, graph, users, pos, Negatives(items, mask, blocks=3), cosine)
    per_row = scored(model, graph, users, pos, Negatives(items, mask), cosine)
    for got, want in zip(blocked, per_row, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
