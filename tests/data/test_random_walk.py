"""PinSAGE's random-walk neighbourhoods: visit counts against exact expectations, same side, never self."""

from __future__ import annotations

import pytest
import torch

from recsys_pyg.data import BipartiteGraph, make_synthetic
from recsys_pyg.data.random_walk import importance_neighborhoods


def tiny_graph() -> BipartiteGraph:
    # users 0..3, items 0..4
    user = torch.tensor([0, 0, 1, 1, 1, 2, 2, 3, 3])
    item = torch.tensor([0, 1, 1, 2, 3, 3, 4, 0, 4])
    return BipartiteGraph(user, item, 4, 5)


def expected_weights(graph: BipartiteGraph, side: str, walk_length: int) -> torch.Tensor:
    """Exact expected visit frequencies of same-side nodes (start excluded), normalised per row."""
    a = torch.zeros(graph.num_users, graph.num_items)
    a[graph.user, graph.item] = 1
    if side == "item":
        a = a.T
    p_out = a / a.sum(1, keepdim=True)
    p_back = a.T / a.T.sum(1, keepdim=True)
    two_hop = p_out @ p_back  # (n, n)
    visits = sum(torch.linalg.matrix_power(two_hop, s) for s in range(1, walk_length + 1))
    visits.fill_diagonal_(0)
    return visits / visits.sum(1, keepdim=True)


@pytest.mark.parametrize("walk_length", [1, 3])
def test_random_walk_visits_match_expectations(walk_length):
    graph = tiny_graph()
    nb = importance_neighborhoods(graph, num_walks=20000, walk_length=walk_length, top_t=4, seed=1)
    for side, rows, offset in (("user", slice(0, 4), 0), ("item", slice(4, 9), 4)):
        expected = expected_weights(graph, side, walk_length)
        got = torch.zeros_like(expected)
        index, weight = nb.index[rows] - offset, nb.weight[rows]
        got.scatter_add_(1, index, weight)
        assert torch.allclose(got, expected, atol=0.02), (side, got, expected)


def test_neighbourhoods_are_same_side_and_never_self():
    data = make_synthetic(300, 400, 6000, seed=2)
    graph = BipartiteGraph(data.user, data.item, 300, 400)
    nb = importance_neighborhoods(graph, num_walks=20, walk_length=2, top_t=8)
    assert nb.index.shape == (700, 8)
    node = torch.arange(700)[:, None].expand_as(nb.index)
    real = nb.weight > 0
    assert not (nb.index[real] == node[real]).any()
    is_user = node < 300
    assert ((nb.index < 300) == is_user)[real].all()
    assert torch.allclose(nb.weight.sum(1)[real.any(1)], torch.ones(int(real.any(1).sum())))
    assert (nb.weight[:, :-1] >= nb.weight[:, 1:]).all()  # most visited first
    assert importance_neighborhoods(graph, num_walks=20, walk_length=2, top_t=8) is nb  # cached on the graph
