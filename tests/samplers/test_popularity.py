"""PopularitySampler: draws follow degree^beta over each user's non-positives."""

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


def test_popularity_sampler_follows_degree_power():
    gen = torch.Generator().manual_seed(0)
    num_items, beta = 40, 0.75
    weight = torch.linspace(0.02, 0.9, num_items)  # item j chosen by each of 300 filler users w.p. weight[j]
    fill = torch.rand(300, num_items, generator=gen) < weight
    fill[0] = False
    fill[0, [3, 20, 39]] = True  # the tested user: three positives
    user, item = fill.nonzero(as_tuple=True)
    graph = BipartiteGraph(user, item, 300, num_items)
    sampler = PopularitySampler(graph, num_negatives=50, beta=beta, generator=torch.Generator().manual_seed(3))
    draws = sampler.sample(torch.zeros(2000, dtype=torch.long)).items.flatten()  # 100k draws for user 0
    counts = torch.bincount(draws, minlength=num_items).double()
    free = ~fill[0]
    assert counts[~free].sum() == 0

    def chi2(law: torch.Tensor) -> float:
        expected = draws.numel() * law[free] / law[free].sum()
        return float(((counts[free] - expected) ** 2 / expected).sum())

    dof = int(free.sum()) - 1  # 36; the statistic's mean is dof, its sd sqrt(2 dof) ~ 8.5
    assert chi2((graph.item_degree.double() + 1) ** beta) < dof + 6 * (2 * dof) ** 0.5
    assert chi2(torch.ones(num_items, dtype=torch.float64)) > 10 * dof  # the test can tell uniform apart


