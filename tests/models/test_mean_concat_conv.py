"""MeanConcatConv (GraphSAGE-mean) against its dense formula on both inputs."""

import torch

from recsys_pyg.models.mean_concat_conv import MeanConcatConv
from tests.helpers.graphs import dense_normalized, small_graph


def dense_mean_concat(conv, x, a):
    """ReLU(W [x || mean of the neighbours] + b) with a dense 0/1 adjacency; isolated nodes get a zero mean."""
    pattern = (a != 0).float()
    mean = pattern @ x / pattern.sum(1, keepdim=True).clamp(min=1)
    return torch.relu(torch.cat([x, mean], 1) @ conv.lin.weight.T + conv.lin.bias)


def test_mean_concat_conv_equals_dense_formula_on_both_inputs():
    g = small_graph()
    x = torch.randn(g.num_nodes, 5)
    dense = dense_normalized(g.user, g.item, 4, 5)
    conv = MeanConcatConv(5, 3)
    expected = dense_mean_concat(conv, x, dense)
    row, col = g.edge_index
    out_sparse = conv(x, g.adj)
    out_coo = conv(x, g.adj.to_sparse_coo())
    out_edges = conv(x, g.edge_index)
    out_weighted = conv(x, g.edge_index, dense[row, col])  # weights are ignored: an unweighted mean
    for out in (out_sparse, out_coo, out_edges, out_weighted):
        assert torch.allclose(out, expected, atol=1e-5)
    assert torch.allclose(out_sparse[8], torch.relu(conv.lin.weight[:, :5] @ x[8] + conv.lin.bias), atol=1e-6)
    # gradients through the sparse mean equal the dense ones
    x1 = x.clone().requires_grad_(True)
    x2 = x.clone().requires_grad_(True)
    (conv(x1, g.adj) ** 2).sum().backward()
    (dense_mean_concat(conv, x2, dense) ** 2).sum().backward()
    assert torch.allclose(x1.grad, x2.grad, atol=1e-5)
    assert repr(conv) == "MeanConcatConv(5, 3)"
    assert sum(p.numel() for p in conv.parameters()) == 2 * 5 * 3 + 3
