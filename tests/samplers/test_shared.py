"""SharedSampler: one set per batch, each row's own positives masked."""

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
