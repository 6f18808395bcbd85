"""Personalised PageRank against dense power iteration and the closed form; the hard-negative pool and its cache."""

import pytest
import torch

from recsys_pyg.data import BipartiteGraph
from recsys_pyg.samplers import ppr
from recsys_pyg.samplers.curriculum import CurriculumSampler
from recsys_pyg.samplers.ppr import PPRHardSampler, personalized_pagerank, ppr_hard_pool, resolve_window
from tests.samplers.graphs import PPR_SMALL, random_graph


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


@pytest.mark.parametrize("num_iterations", [1, 6, 7])
def test_ppr_matches_dense_power_iteration(num_iterations):
    graph, mask = random_graph(7, 9, 0.35, seed=4)
    graph = BipartiteGraph(graph.user, graph.item, 8, 10)  # user 7 and item 9 isolated
    users = torch.tensor([0, 3, 7, 3])
    got = personalized_pagerank(graph, users, alpha=0.2, num_iterations=num_iterations)
    full = torch.zeros(8, 10, dtype=torch.bool)
    full[:7, :9] = mask
    assert got.shape == (4, 10)
    torch.testing.assert_close(got.double(), dense_ppr(full, users, 0.2, num_iterations), atol=1e-6, rtol=0)


def test_ppr_converges_to_the_closed_form():
    graph, mask = random_graph(6, 8, 0.4, seed=1)
    users = torch.arange(6)
    got = personalized_pagerank(graph, users, alpha=0.15, num_iterations=150)  # 0.85^150 ~ 3e-11
    torch.testing.assert_close(got.double(), dense_ppr(mask, users, 0.15, None), atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match="alpha"):
        personalized_pagerank(graph, users, alpha=0.0)


@pytest.mark.parametrize("window,pool_size", [((5, 20), 100), ((0.1, 0.4), 100), ((3, 30), 6)])
def test_pool_respects_the_rank_window(window, pool_size):
    graph, mask = random_graph(40, 60, 0.25, seed=2)
    lo, hi = resolve_window(window, 60)
    hard = ppr_hard_pool(graph, alpha=0.25, num_iterations=9, window=window, pool_size=pool_size, chunk_size=16)
    assert hard.window == (lo, hi) and hard.pool.shape == (40, pool_size)
    scores = personalized_pagerank(graph, torch.arange(40), alpha=0.25, num_iterations=9)  # (U, I)
    eps = 1e-6
    for u in range(40):
        s, free = scores[u], ~mask[u]
        pooled = hard.pool[u, : hard.count[u]]
        assert (hard.pool[u, hard.count[u] :] == -1).all() and pooled.unique().numel() == pooled.numel()
        assert free[pooled].all() and (s[pooled] > 0).all()
        for j in pooled.tolist():  # its rank among non-positives (any rank within a tie) lies in [lo, hi)
            assert int((free & (s > s[j] + eps)).sum()) < hi and int((free & (s >= s[j] - eps)).sum()) > lo
        in_window = int((s[free].sort(descending=True).values[lo:hi] > 0).sum())
        assert hard.count[u] == min(pool_size, in_window)


def test_resolve_window():
    assert resolve_window((0.02, 0.10), 1682) == (34, 168)
    assert resolve_window((0, 5), 3) == (0, 3)
    assert resolve_window((0.0, 0.01), 10) == (0, 1)  # a fractional window keeps a rank
    for bad in [(10, 5), (1.5, 2), (-1, 3), (0.1,)]:
        with pytest.raises(ValueError, match="window"):
            resolve_window(bad, 100)


def test_pool_cache_is_reused_and_invalidated(tmp_path, monkeypatch):
    graph, _ = random_graph(30, 50, 0.3)
    args = dict(PPR_SMALL, cache_dir=str(tmp_path / "ppr"))
    first = PPRHardSampler(graph, **args).hard_pool
    files = list((tmp_path / "ppr").iterdir())
    assert len(files) == 1 and files[0].suffix == ".pt"  # no temporary file left behind

    def fail(*args, **kwargs):
        raise AssertionError("recomputed")

    monkeypatch.setattr(ppr, "compute_ppr_pool", fail)
    again = PPRHardSampler(graph, **args).hard_pool  # loaded, not recomputed
    assert torch.equal(first.pool, again.pool) and torch.equal(first.count, again.count)
    assert again.window == first.window
    assert CurriculumSampler(graph, **args).sampler.hard_pool.window == first.window  # same pool
    for change in [dict(alpha=0.3), dict(num_iterations=11), dict(window=(2, 10)), dict(pool_size=4), dict(seed=1)]:
        with pytest.raises(AssertionError, match="recomputed"):
            PPRHardSampler(graph, **{**args, **change})
    other = BipartiteGraph(graph.user[1:], graph.item[1:], graph.num_users, graph.num_items)  # one edge less
    with pytest.raises(AssertionError, match="recomputed"):
        PPRHardSampler(other, **args)
