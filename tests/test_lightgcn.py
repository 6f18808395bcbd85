import time

import pytest
import torch

from recsys_pyg.data import BipartiteGraph
from recsys_pyg.models import MF, LightGCN, LightGCNConv
from recsys_pyg.models.propagation import symmetric_spmm
from tests.test_graph import dense_normalized


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


def test_symmetric_spmm_gradient_equals_autograd():
    g = small_graph()
    dense = g.adj.to_dense()
    x1 = torch.randn(g.num_nodes, 3, requires_grad=True)
    x2 = x1.detach().clone().requires_grad_(True)
    w = torch.randn(g.num_nodes, 3)
    (symmetric_spmm(g.adj, symmetric_spmm(g.adj, x1)) * w).sum().backward()
    (dense @ (dense @ x2) * w).sum().backward()
    assert torch.allclose(x1.grad, x2.grad, atol=1e-6)


@pytest.mark.parametrize("alpha", [None, [0.1, 0.2, 0.3, 0.4]])
def test_lightgcn_equals_layer_combination(alpha):
    g = small_graph()
    model = LightGCN(4, 4, embedding_dim=6, num_layers=3, alpha=alpha)
    a = torch.tensor(alpha) if alpha else torch.full((4,), 0.25)
    dense = dense_normalized(g.user, g.item, 4, 4)
    e = model.embedding.weight.detach()
    expected = sum(a[k] * torch.linalg.matrix_power(dense, k) @ e for k in range(4))
    users, items = model(g)
    assert torch.allclose(torch.cat([users, items]), expected, atol=1e-6)
    u, i = model(g, torch.tensor([2, 0]), torch.tensor([3]))
    assert torch.allclose(u, expected[[2, 0]], atol=1e-6) and torch.allclose(i, expected[[4 + 3]], atol=1e-6)


def test_l2_penalty_is_half_squared_norm_over_batch():
    model = MF(3, 2, embedding_dim=2)
    with torch.no_grad():
        model.embedding.weight.copy_(torch.tensor([[1.0, 0], [0, 2], [1, 1], [3, 0], [0, 1]]))
    # users 0,1 -> 1 + 4; items 0 (node 3), 1 (node 4), 1 -> 9 + 1 + 1; / (2 * 2)
    assert model.l2_penalty(torch.tensor([0, 1]), torch.tensor([0, 1, 1])).item() == pytest.approx(16 / 4)


def test_models_reject_bad_sizes_and_repr():
    with pytest.raises(ValueError, match="embedding_dim must be a positive integer"):
        LightGCN(3, 3, embedding_dim=0)
    with pytest.raises(ValueError, match="num_layers"):
        LightGCN(3, 3, num_layers=-1)
    with pytest.raises(ValueError, match="alpha needs num_layers \\+ 1 = 3"):
        LightGCN(3, 3, num_layers=2, alpha=[1.0])
    with pytest.raises(ValueError, match="embedding_dim"):
        MF(3, 3, embedding_dim=-4)
    assert repr(LightGCN(5, 7, 8, 2)) == "LightGCN(5, 7, embedding_dim=8, num_layers=2)"
    assert repr(MF(5, 7, 8)) == "MF(5, 7, embedding_dim=8)"
    assert sum(p.numel() for p in LightGCN(5, 7, 8, 2).parameters()) == (5 + 7) * 8


def test_backend_choice_needs_speed_and_agreement():
    from recsys_pyg.models.propagation import choose_backend, current_backend, torch_matmul, use_backend

    g = small_graph()

    def slow(adj, x):
        time.sleep(0.01)
        return adj @ x

    def fast_wrong(adj, x):
        return (adj @ x) + 1.0

    calls = []

    def fast_right(adj, x):
        calls.append(1)
        return adj.to_dense() @ x

    name, timings = choose_backend(g.adj, 8, {"torch": torch_matmul, "slow": slow})
    assert name == "torch" and timings["slow"] > timings["torch"]
    name, timings = choose_backend(g.adj, 8, {"torch": slow, "wrong": fast_wrong})
    assert name == "torch" and "wrong" not in timings  # faster but wrong: never picked
    name, _ = choose_backend(g.adj, 8, {"torch": slow, "right": fast_right})
    assert name == "right"
    # the chosen product is the one propagation uses, forward and backward
    x = torch.randn(g.num_nodes, 3, requires_grad=True)
    calls.clear()
    with use_backend(fast_right):
        symmetric_spmm(g.adj, x).sum().backward()
    assert len(calls) == 2 and current_backend() is torch_matmul
    assert torch.allclose(x.grad, g.adj.to_dense().sum(0)[:, None].expand(-1, 3), atol=1e-6)


def test_unknown_spmm_backend_is_a_clear_error():
    from recsys_pyg.training.parts import spmm_backend

    with pytest.raises(ValueError, match="spmm_backend=nope is not available"):
        spmm_backend("nope", small_graph(), 8)
    assert spmm_backend("torch", small_graph(), 8)(small_graph().adj, torch.eye(8)).shape == (8, 8)


def test_torch_sparse_backend_equals_torch_when_installed():
    pytest.importorskip("torch_sparse")
    from recsys_pyg.models.propagation import torch_sparse_matmul, use_backend

    g = small_graph()
    x1 = torch.randn(g.num_nodes, 4, requires_grad=True)
    x2 = x1.detach().clone().requires_grad_(True)
    w = torch.randn(g.num_nodes, 4)
    (symmetric_spmm(g.adj, symmetric_spmm(g.adj, x1)) * w).sum().backward()
    with use_backend(torch_sparse_matmul):
        out = symmetric_spmm(g.adj, symmetric_spmm(g.adj, x2))
        (out * w).sum().backward()
    assert torch.allclose(out, g.adj.to_dense() @ (g.adj.to_dense() @ x2), atol=1e-6)
    assert torch.allclose(x1.grad, x2.grad, atol=1e-6)
