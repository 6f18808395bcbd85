"""PinSAGEConv against its dense formula, on an edge list and on a sparse adjacency."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from recsys_pyg.models import PinSAGEConv


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
