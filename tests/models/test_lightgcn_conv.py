"""LightGCNConv against its dense formula, on an edge list and on a sparse adjacency."""

import torch

from recsys_pyg.models import LightGCNConv
from tests.helpers.graphs import dense_normalized, small_graph


def test_conv_equals_dense_formula_on_both_inputs():
    g = small_graph()
    x = torch.randn(g.num_nodes, 5)
    dense = dense_normalized(g.user, g.item, g.num_users, g.num_items)
    conv = LightGCNConv()
    out_sparse = conv(x, g.adj)
    # edge-list path: normalised weights given as edge_weight
    row, col = g.edge_index
    out_edges = conv(x, g.edge_index, dense[row, col])
    assert torch.allclose(out_sparse, dense @ x, atol=1e-6)
    assert torch.allclose(out_edges, dense @ x, atol=1e-6)
    assert repr(conv) == "LightGCNConv()"
