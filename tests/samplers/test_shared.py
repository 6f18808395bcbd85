"""SharedSampler: one set per batch, each row's own positives masked."""

import math

import pytest
import torch

from recsys_pyg.data import BipartiteGraph
from recsys_pyg.samplers.shared import SharedSampler
from tests.samplers.graphs import random_graph


def test_shared_negatives_are_one_set_masked_per_user():
    graph, mask = random_graph(30, 50, 0.3)
    sampler = SharedSampler(graph, 20, torch.Generator().manual_seed(0))
    users = torch.tensor([0, 5, 5, 9])
    first, second = sampler.sample(users), sampler.sample(users)
    assert first.items.shape == (20,) and first.items.unique().numel() == 20  # one set, no repeats
    assert torch.equal(first.full_mask(4), ~mask[users][:, first.items])
    assert torch.equal(first.mask[1], first.mask[2])  # same user, same row
    assert not torch.equal(first.items, second.items)  # a fresh set per batch
    assert SharedSampler(graph, 500).sample(users).items.sort().values.tolist() == list(range(50))  # capped at I

    cold = torch.cat([torch.arange(0, 20), torch.arange(0, 5)])  # items 20.. have degree 0
    skewed = BipartiteGraph(torch.arange(25) % 7, cold, 7, 60)
    pop = SharedSampler(skewed, 200, torch.Generator().manual_seed(0), distribution="popularity")
    assert pop.sample(users[:1]).items.sort().values.tolist() == list(range(60))  # degree-0 items drawable too
    with pytest.raises(ValueError, match="distribution"):
        SharedSampler(graph, distribution="zipf")


def test_uniform_subsets_of_a_large_catalogue_are_distinct_and_uniform():
    """Where 8 S <= I the set comes from a few more iid draws than S, S of their distinct values kept at random:
    distinct items, each included with probability S / I (5,000 draws of 20 of 400 items: 250 per item)."""

    graph = BipartiteGraph(torch.tensor([0, 1]), torch.tensor([0, 1]), 2, 400)
    sampler = SharedSampler(graph, 20, torch.Generator().manual_seed(0))
    counts = torch.zeros(400)
    for _ in range(5000):
        items = sampler.sample_shared()
        assert items.numel() == 20 and items.unique().numel() == 20
        counts[items] += 1
    expected = 5000 * 20 / 400  # 250, binomial sd ~15.4
    assert (counts - expected).abs().max() < 5 * 15.4
    assert float(counts[:200].sum()) == pytest.approx(float(counts[200:].sum()), rel=0.03)  # no bias to low ids


@pytest.mark.parametrize("distribution", ["uniform", "popularity"])
@pytest.mark.parametrize("batch", [10, 3])
def test_groups_give_each_block_of_rows_its_own_masked_set(batch, distribution):
    """groups = 4: rows in contiguous blocks (tensor_split), one distinct set per block, every row's own
    positives masked; more groups than rows: a set per row."""
    graph, mask = random_graph(30, 50, 0.3)
    sampler = SharedSampler(graph, 8, torch.Generator().manual_seed(0), distribution=distribution, groups=4)
    users = torch.randint(30, (batch,), generator=torch.Generator().manual_seed(1))
    neg = sampler.sample(users)
    blocks = min(4, batch)
    assert neg.blocks == blocks and neg.items.shape == neg.mask.shape == neg.log_q.shape == (batch, 8)
    spans = [b.tolist() for b in torch.tensor_split(torch.arange(batch), blocks)]
    for rows in spans:
        assert (neg.items[rows] == neg.items[rows[0]]).all() and neg.items[rows[0]].unique().numel() == 8
    assert len({tuple(neg.items[rows[0]].tolist()) for rows in spans}) == blocks  # a fresh set per block
    assert torch.equal(neg.mask, ~mask[users[:, None], neg.items])
    assert torch.allclose(neg.log_q, sampler.probs.log().float()[neg.items])  # each row's draw law
    if distribution == "uniform":
        assert torch.allclose(neg.log_q, torch.full_like(neg.log_q, -math.log(50)))
    assert neg.rows(0, 2).blocks is None  # a cut through the rows keeps them per-row, without the structure
    with pytest.raises(ValueError, match="groups"):
        SharedSampler(graph, 8, groups=0)


def test_many_sets_drawn_at_once_are_distinct_and_uniform():
    """sample_sets (groups > 1) draws every block's set in one pass: distinct items in each, each item included
    with probability S / I (250 x 20 sets of 20 of 400 items: 250 per item)."""
    graph = BipartiteGraph(torch.tensor([0, 1]), torch.tensor([0, 1]), 2, 400)
    sampler = SharedSampler(graph, 20, torch.Generator().manual_seed(0), groups=20)
    counts = torch.zeros(400)
    for _ in range(250):
        sets = sampler.sample_sets(20)
        assert sets.shape == (20, 20) and all(row.unique().numel() == 20 for row in sets)
        counts += torch.bincount(sets.flatten(), minlength=400)
    assert (counts - 250).abs().max() < 5 * 15.4
    assert float(counts[:200].sum()) == pytest.approx(float(counts[200:].sum()), rel=0.03)


def test_a_set_short_of_distinct_draws_is_drawn_again(monkeypatch):
    """A row of the batched draw with fewer than S distinct values falls back to its own uniform subset."""
    graph = BipartiteGraph(torch.tensor([0]), torch.tensor([0]), 1, 400)
    sampler = SharedSampler(graph, 20, torch.Generator().manual_seed(0), groups=3)
    real = torch.randint

    def few_distinct(high, size, **kwargs):
        out = real(high, size, **kwargs)
        if len(size) == 2:  # the batched draw: its row 1 gets 10 distinct values at most
            out[1] %= 10
        return out

    monkeypatch.setattr(torch, "randint", few_distinct)
    sets = sampler.sample_sets(3)
    assert sets.shape == (3, 20) and all(row.unique().numel() == 20 for row in sets)
    assert (sets[1] >= 10).any()  # drawn again, not padded from the short row
