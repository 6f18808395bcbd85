"""NGCFConv against its dense formula, message dropout, sparse gradients, Xavier bounds."""

import math

import pytest
import torch
import torch.nn.functional as F

from recsys_pyg.models.ngcf import NGCF
from recsys_pyg.models.ngcf_conv import NGCFConv
from tests.helpers.graphs import dense_normalized, small_graph


def dense_ngcf_conv(conv, x, a):
    """NGCF's Eq. (3)-(4) written with dense matrices: LeakyReLU(W1 (x + A x) + b1 + W2 ((A x) * x) + b2)."""
    side = a @ x
    out = (x + side) @ conv.lin_sum.weight.T + conv.lin_sum.bias + (side * x) @ conv.lin_bi.weight.T + conv.lin_bi.bias
    return torch.where(out > 0, out, 0.2 * out)


def test_ngcf_conv_equals_dense_formula_on_both_inputs():
    g = small_graph()
    x = torch.randn(g.num_nodes, 5)
    dense = dense_normalized(g.user, g.item, 4, 5)
    conv = NGCFConv(5, 3).eval()  # eval: no message dropout
    expected = dense_ngcf_conv(conv, x, dense)
    row, col = g.edge_index
    out_sparse = conv(x, g.adj)
    out_edges = conv(x, g.edge_index, dense[row, col])
    assert torch.allclose(out_sparse, expected, atol=1e-5)
    assert torch.allclose(out_edges, expected, atol=1e-5)
    assert torch.allclose(out_sparse, out_edges, atol=1e-6)
    # the isolated item keeps only its self-connection: LeakyReLU(W1 x + b1 + b2)
    iso = x[8] @ conv.lin_sum.weight.T + conv.lin_sum.bias + conv.lin_bi.bias
    assert torch.allclose(out_sparse[8], F.leaky_relu(iso, 0.2), atol=1e-6)
    assert repr(conv) == "NGCFConv(5, 3, message_dropout=0.1)"


def test_ngcf_conv_message_dropout_only_in_training():
    g = small_graph()
    x = torch.randn(g.num_nodes, 4)
    conv = NGCFConv(4, 64, message_dropout=0.5)
    assert torch.equal(conv.eval()(x, g.adj), conv(x, g.adj))
    out = conv.train()(x, g.adj)
    assert (out == 0).float().mean() > 0.3  # about half the outputs zeroed
    with pytest.raises(ValueError, match="message_dropout must be in \\[0, 1\\)"):
        NGCFConv(4, 4, message_dropout=1.0)


@pytest.mark.parametrize("dropped", [False, True])
def test_ngcf_conv_sparse_gradients_equal_dense_autograd(dropped):
    g = small_graph()
    adj = NGCF(4, 5, 4, node_dropout=0.4).dropped_adj(g) if dropped else g.adj
    dense = adj.to_dense()
    conv = NGCFConv(4, 3).eval()
    x1 = torch.randn(g.num_nodes, 4, requires_grad=True)
    x2 = x1.detach().clone().requires_grad_(True)
    w = torch.randn(g.num_nodes, 3)
    params = list(conv.parameters())
    grads_sparse = torch.autograd.grad((conv(x1, adj) * w).sum(), [x1, *params])
    grads_dense = torch.autograd.grad((dense_ngcf_conv(conv, x2, dense) * w).sum(), [x2, *params])
    for a, b in zip(grads_sparse, grads_dense, strict=True):
        assert torch.allclose(a, b, atol=1e-5)


def test_xavier_initialisation_bounds():
    model = NGCF(100, 300, embedding_dim=20, num_layers=1, hidden_dims=[10])
    w = model.embedding.weight
    assert w[:100].abs().max() <= math.sqrt(6 / 120) and w[100:].abs().max() <= math.sqrt(6 / 320)
    assert w[:100].abs().max() > 0.8 * math.sqrt(6 / 120)  # uniform on the whole range, not a small normal
    conv = model.convs[0]
    assert conv.lin_sum.weight.abs().max() <= math.sqrt(6 / 30) and conv.lin_bi.bias.abs().max() <= math.sqrt(6 / 11)
    assert conv.lin_sum.bias.abs().sum() > 0  # the code initialises biases too
