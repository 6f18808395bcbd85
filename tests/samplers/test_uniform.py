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


def test_only_seen_items_never_draws_an_item_without_training_interactions():
    # 3 users x 8 items; items 2, 5, 6, 7 have no training interaction (held-out, cold items)
    user, item = torch.tensor([0, 0, 1, 1, 2]), torch.tensor([0, 1, 1, 3, 4])
    graph = BipartiteGraph(user, item, 3, 8)
    sampler = UniformSampler(graph, num_negatives=1, generator=torch.Generator().manual_seed(3), only_seen_items=True)
    n = 4000
    out = sampler.sample(torch.full((n,), 0))  # user 0 saw 0 and 1: drawable non-positives 3 and 4
    counts = torch.bincount(out.items.flatten(), minlength=8)
    assert counts[[3, 4]].sum() == n and (counts[[3, 4]].float() - n / 2).abs().max() < 5 * (n / 4) ** 0.5
    torch.testing.assert_close(out.log_q, torch.full((n, 1), -torch.log(torch.tensor(2.0))))  # 1 / (4 - 2)
    everyone = sampler.sample(torch.arange(3).repeat(500)).items.flatten()
    assert not torch.isin(everyone, torch.tensor([2, 5, 6, 7])).any()
    assert set(everyone.tolist()) == {0, 1, 3, 4}
