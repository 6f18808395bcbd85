"""CurriculumSampler: hard negatives per positive follow the schedule."""

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


def test_curriculum_follows_the_schedule():
    graph, mask = random_graph(30, 50, 0.3)
    sampler = CurriculumSampler(graph, torch.Generator().manual_seed(0), num_easy=2, max_hard=3, pace=2, **PPR_SMALL)
    users = torch.arange(30)
    expected = [0, 0, 0, 1, 1, 2, 2, 3, 3, 3, 3]  # epochs 0..10: min(3, (n - 1) // 2)
    for epoch, h in enumerate(expected):
        assert sampler.hard_count(epoch) == h
        neg = sampler.sample(users, None, epoch)
        assert neg.items.shape == (30, 2)
        assert (neg.hard is None) if h == 0 else neg.hard.shape == (30, h)
        assert neg.full_mask(30) is None or neg.full_mask(30).shape == (30, 2 + h)
    pinsage = CurriculumSampler(graph, max_hard=6, **PPR_SMALL)
    assert [pinsage.hard_count(n) for n in range(1, 10)] == [0, 1, 2, 3, 4, 5, 6, 6, 6]
    fixed = PPRHardSampler(graph, num_hard=2, **PPR_SMALL)
    assert all(fixed.hard_count(n) == 2 for n in range(1, 5))
    assert fixed.sample(users, None, 1).hard.shape == (30, 2)


