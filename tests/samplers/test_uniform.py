"""UniformSampler: never a positive, uniform over non-positives, deterministic, clear errors."""

import pytest
import torch

from recsys_pyg.data import BipartiteGraph
from recsys_pyg.samplers import UniformSampler
from tests.samplers.graphs import dense_adversarial_graph


def test_never_returns_a_training_positive():
    graph, mask = dense_adversarial_graph()
    sampler = UniformSampler(graph, num_negatives=8, generator=torch.Generator().manual_seed(1))
    users = torch.arange(graph.num_users).repeat(200)
    neg = sampler.sample(users).items
    assert neg.shape == (users.numel(), 8)
    assert not mask[users[:, None], neg].any()
    assert (neg[users == 0] == 17).all() and (neg[users == 1] == 39).all()


def test_uniform_over_non_positives():
    graph, mask = dense_adversarial_graph()
    sampler = UniformSampler(graph, num_negatives=1, generator=torch.Generator().manual_seed(2))
    n = 39 * 3000
    neg = sampler.sample(torch.full((n,), 2)).items.flatten()  # user 2 has only item 0
    counts = torch.bincount(neg, minlength=40).float()
    assert counts[0] == 0
    # each of the 39 items expected 3000 times; 5 sigma ~ 5 * sqrt(3000) ~ 274
    assert (counts[1:] - 3000).abs().max() < 280


def test_deterministic_under_seed_and_errors():
    graph, _ = dense_adversarial_graph()
    users = torch.arange(50)
    a = UniformSampler(graph, 3, torch.Generator().manual_seed(5)).sample(users).items
    b = UniformSampler(graph, 3, torch.Generator().manual_seed(5)).sample(users).items
    assert torch.equal(a, b)
    full = BipartiteGraph(torch.tensor([0, 0, 1]), torch.tensor([0, 1, 0]), 2, 2)
    with pytest.raises(ValueError, match="interacted with every item"):
        UniformSampler(full).sample(torch.tensor([0]))
    with pytest.raises(ValueError, match="num_negatives"):
        UniformSampler(full, num_negatives=0)
