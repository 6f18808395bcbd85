import pytest
import torch

from recsys_pyg.data import BipartiteGraph
from recsys_pyg.samplers import UniformSampler


def dense_adversarial_graph(num_users=50, num_items=40, seed=0):
    """Most users have almost every item; user 0 lacks only item 17, user 1 only the last item."""
    gen = torch.Generator().manual_seed(seed)
    mask = torch.rand(num_users, num_items, generator=gen) < 0.9
    mask[torch.arange(num_users), torch.randint(num_items, (num_users,), generator=gen)] = False  # no full row
    mask[0] = True
    mask[0, 17] = False
    mask[1] = True
    mask[1, -1] = False
    mask[2] = False
    mask[2, 0] = True
    user, item = mask.nonzero(as_tuple=True)
    return BipartiteGraph(user, item, num_users, num_items), mask


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


def test_negatives_split_by_row_and_which_samplers_allow_it(tmp_path):
    from recsys_pyg.samplers import Negatives, SharedSampler
    from recsys_pyg.samplers.curriculum import CurriculumSampler
    from recsys_pyg.samplers.popularity import PopularitySampler
    from recsys_pyg.samplers.ppr import PPRHardSampler

    graph, positives = dense_adversarial_graph()
    users = torch.arange(50).repeat(4)  # 200 rows, drawn in one call, used as 4 batches of 50
    neg = PPRHardSampler(graph, num_easy=2, num_hard=1, cache_dir=str(tmp_path)).sample(users)
    parts = [neg.rows(s, s + 50) for s in range(0, 200, 50)]
    assert torch.equal(torch.cat([p.items for p in parts]), neg.items)
    assert torch.equal(torch.cat([p.hard for p in parts]), neg.hard)
    for p, s in zip(parts, range(0, 200, 50), strict=True):
        assert p.items.shape == (50, 2) and p.full_mask(50).shape == (50, 3)
        assert not positives[users[s : s + 50, None], p.items].any()  # still never a positive of its row
    shared = SharedSampler(graph, 8).sample(users)
    with pytest.raises(ValueError, match="cannot be split by row"):
        shared.rows(0, 50)
    assert isinstance(shared, Negatives) and not SharedSampler(graph, 8).chunkable
    assert UniformSampler(graph).chunkable and PopularitySampler(graph).chunkable
    assert not PPRHardSampler(graph, shared=True, cache_dir=str(tmp_path)).chunkable
    assert CurriculumSampler(graph, cache_dir=str(tmp_path)).chunkable
