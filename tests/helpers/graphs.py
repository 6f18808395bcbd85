"""Small graphs for tests, with their dense formulas."""

from __future__ import annotations

import torch

from recsys_pyg.data import BipartiteGraph


def small_graph() -> BipartiteGraph:
    """4 users x 5 items, 8 edges; edges join nodes of unequal degree (user 0, degree 3, and item 2,
    degree 1), so ``D^-a A D^-b`` with ``a != b`` is not symmetric on it; item 4 (node 8) has no edge."""
    user = torch.tensor([0, 0, 0, 1, 1, 2, 3, 3])
    item = torch.tensor([0, 1, 2, 0, 3, 0, 1, 3])
    return BipartiteGraph(user, item, 4, 5)


def dense_adjacency(user: torch.Tensor, item: torch.Tensor, num_users: int, num_items: int) -> torch.Tensor:
    """The 0/1 bipartite adjacency ``A``, users then items, ``(U + I, U + I)``."""
    n = num_users + num_items
    a = torch.zeros(n, n)
    a[user, item + num_users] = 1
    a[item + num_users, user] = 1
    return a


def dense_normalized(user, item, num_users, num_items, left: float = 0.5, right: float = 0.5) -> torch.Tensor:
    """``D^-left A D^-right`` as a dense matrix (isolated nodes: zero rows); the defaults give LightGCN's."""
    a = dense_adjacency(user, item, num_users, num_items)
    deg = a.sum(1)
    inv_l = torch.where(deg > 0, deg.pow(-left), torch.zeros_like(deg))
    inv_r = torch.where(deg > 0, deg.pow(-right), torch.zeros_like(deg))
    return inv_l[:, None] * a * inv_r[None, :]


def random_graph(num_users: int = 40, num_items: int = 30, density: float = 0.2, seed: int = 0) -> BipartiteGraph:
    """Each (user, item) pair an edge with probability ``density``, seeded."""
    gen = torch.Generator().manual_seed(seed)
    dense = torch.rand(num_users, num_items, generator=gen) < density
    user, item = dense.nonzero(as_tuple=True)
    return BipartiteGraph(user, item, num_users, num_items)
