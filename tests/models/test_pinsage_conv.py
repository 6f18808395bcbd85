"""PinSAGEConv against its dense formula, on an edge list and on a sparse adjacency."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from recsys_pyg.data import BipartiteGraph
from recsys_pyg.models import PinSAGEConv


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


class _CaptureConv(torch.nn.Module):
    """Stands in for a PinSAGEConv: records the pooling weights per (target, global neighbour)."""

    def __init__(self, prev: list, out_dim: int) -> None:
        super().__init__()
        self.prev, self.out_dim, self.seen = prev, out_dim, []

    def forward(self, x, edge_index, edge_weight):
        src, dst = edge_index
        self.seen.append((dst, self.prev[0][src], edge_weight))
        return torch.zeros(x[1].shape[0], self.out_dim)


def test_conv_equals_dense_formula_edge_list_and_sparse():
    torch.manual_seed(0)
    conv = PinSAGEConv((5, 4), hidden_channels=3, out_channels=6)
    x_src, x_dst = torch.randn(7, 5), torch.randn(3, 4)
    # target t pools sources with importance weights (rows sum to 1); target 2 has no neighbours
    weights = torch.zeros(3, 7)
    weights[0, [1, 4]] = torch.tensor([0.75, 0.25])
    weights[1, [0, 2, 6]] = torch.tensor([0.5, 0.3, 0.2])
    q = torch.relu(x_src @ conv.lin_q.weight.T + conv.lin_q.bias)  # (7, 3)
    n = weights @ q  # (3, 3)
    expected = F.normalize(torch.relu(torch.cat([x_dst, n], 1) @ conv.lin_w.weight.T + conv.lin_w.bias), dim=-1)
    dst, src = weights.nonzero(as_tuple=True)
    out_edges = conv((x_src, x_dst), torch.stack([src, dst]), weights[dst, src])
    out_sparse = conv((x_src, x_dst), weights.to_sparse_csr())
    assert torch.allclose(out_edges, expected, atol=1e-5)
    assert torch.allclose(out_sparse, expected, atol=1e-5)
    # parameter count: Q (5*3 + 3) + W ((4 + 3) * 6 + 6)
    assert sum(p.numel() for p in conv.parameters()) == 5 * 3 + 3 + 7 * 6 + 6
    assert repr(conv) == "PinSAGEConv((5, 4), 3, 6)"


