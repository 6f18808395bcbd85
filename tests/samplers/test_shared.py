"""SharedSampler: one set per batch, each row's own positives masked."""

import pytest
import torch

from recsys_pyg.data import BipartiteGraph
from recsys_pyg.samplers.curriculum import CurriculumSampler
from recsys_pyg.samplers.popularity import PopularitySampler
from recsys_pyg.samplers.ppr import PPRHardSampler
from recsys_pyg.samplers.shared import SharedSampler

PPR_SMALL = dict(window=(1, 10), pool_size=8, num_iterations=10)
FACTORIES = {
    "shared_uniform": lambda g, gen: SharedSampler(g, 16, gen),
    "shared_popularity": lambda g, gen: SharedSampler(g, 16, gen, distribution="popularity"),
    "popularity": lambda g, gen: PopularitySampler(g, 4, generator=gen, max_rounds=3),
    "ppr_hard": lambda g, gen: PPRHardSampler(g, gen, num_easy=2, num_hard=3, **PPR_SMALL),
    "ppr_hard_shared": lambda g, gen: PPRHardSampler(g, gen, num_hard=2, shared=True, num_shared=12, **PPR_SMALL),
    "curriculum": lambda g, gen: CurriculumSampler(g, gen, num_easy=1, max_hard=4, **PPR_SMALL),
}


def random_graph(num_users, num_items, density, seed=0):
    gen = torch.Generator().manual_seed(seed)
    mask = torch.rand(num_users, num_items, generator=gen) < density
    user, item = mask.nonzero(as_tuple=True)
    return BipartiteGraph(user, item, num_users, num_items), mask


def dense_ppr(mask: torch.Tensor, users: torch.Tensor, alpha: float, num_iterations: int | None) -> torch.Tensor:
    """Items' PPR from a dense float64 P over all U + I nodes; ``num_iterations=None``: the closed form."""
    num_users, num_items = mask.shape
    n = num_users + num_items
    adj = torch.zeros(n, n, dtype=torch.float64)
    adj[:num_users, num_users:] = mask.double()
    adj[num_users:, :num_users] = mask.T.double()
    deg = adj.sum(1, keepdim=True)
    walk = torch.where(deg > 0, adj / deg.clamp_min(1), 0.0)  # P = D^-1 A, zero rows when isolated
    restart = torch.zeros(n, users.numel(), dtype=torch.float64)
    restart[users, torch.arange(users.numel())] = 1.0  # (N, C)
    if num_iterations is None:
        p = alpha * torch.linalg.solve(torch.eye(n, dtype=torch.float64) - (1 - alpha) * walk.T, restart)
    else:
        p = alpha * restart
        for _ in range(num_iterations):
            p = alpha * restart + (1 - alpha) * walk.T @ p
    return p[num_users:].T  # (C, I)


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
    assert pop.sample(users[:1]).items.sort().values.tolist() == list(range(20))  # only items with degree > 0
    with pytest.raises(ValueError, match="distribution"):
        SharedSampler(graph, distribution="zipf")


