"""LightGCNConv against its dense formula, on an edge list and on a sparse adjacency."""

import torch

from recsys_pyg.data import BipartiteGraph
from recsys_pyg.models import LightGCNConv
from tests.data.test_graph import dense_normalized


def small_graph():
    user = torch.tensor([0, 0, 1, 2, 2, 1, 3])
    item = torch.tensor([0, 1, 1, 3, 0, 3, 2])
    return BipartiteGraph(user, item, 4, 4)


def test_conv_equals_dense_formula_on_both_inputs():
    g = small_graph()
    x = torch.randn(g.num_nodes, 5)
    dense = dense_normalized(g.user, g.item, 4, 4)
    conv = LightGCNConv()
    out_sparse = conv(x, g.adj)
    # edge-list path: normalised weights given as edge_weight
    row, col = g.edge_index
    out_edges = conv(x, g.edge_index, dense[row, col])
    assert torch.allclose(out_sparse, dense @ x, atol=1e-6)
    assert torch.allclose(out_edges, dense @ x, atol=1e-6)
    assert repr(conv) == "LightGCNConv()"
