"""SpMM with an explicit transpose: gradients against dense autograd (non-symmetric matrices included),
the refusal of an unmarked matrix without its transpose, and the spmm backends."""

import time

import pytest
import torch

from recsys_pyg.data.graph import csr_transpose, is_marked_symmetric, mark_symmetric
from recsys_pyg.models import propagation
from recsys_pyg.models.lightgcn_conv import LightGCNConv
from recsys_pyg.models.propagation import spmm
from tests.helpers.graphs import dense_normalized, small_graph


def lightgcnpp_matrix(a: float = 0.6, b: float = 0.4) -> tuple[torch.Tensor, torch.Tensor]:
    """LightGCN++'s ``D^-a A D^-b`` on the unequal-degree test graph: sparse CSR and dense."""
    g = small_graph()
    dense = dense_normalized(g.user, g.item, g.num_users, g.num_items, left=a, right=b)
    assert not torch.allclose(dense, dense.T)  # the test graph must make it non-symmetric
    return dense.to_sparse_csr(), dense


def two_layer_grad(matmul, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    x = x.detach().clone().requires_grad_(True)
    (matmul(matmul(x)) * w).sum().backward()
    return x.grad


def test_non_symmetric_spmm_gradient_equals_dense_autograd():
    adj, dense = lightgcnpp_matrix()
    x, w = torch.randn(adj.shape[0], 3), torch.randn(adj.shape[0], 3)
    expected = two_layer_grad(lambda h: dense @ h, x, w)
    adj_t = csr_transpose(adj)
    got = two_layer_grad(lambda h: spmm(adj, h, adj_t), x, w)
    assert torch.allclose(got, expected, atol=1e-6)
    # the trap this guards against: the matrix as its own transpose gives a wrong gradient
    wrong = two_layer_grad(lambda h: propagation._SpMM.apply(adj, adj, h), x, w)
    assert not torch.allclose(wrong, expected, atol=1e-3)


def test_unmarked_matrix_without_transpose_is_refused():
    adj, _ = lightgcnpp_matrix()
    with pytest.raises(ValueError, match="without its transpose and is not marked symmetric"):
        spmm(adj, torch.randn(adj.shape[0], 2))
    with pytest.raises(ValueError, match="not symmetric"):
        mark_symmetric(adj)
    with pytest.raises(ValueError, match="adj_t must have shape"):
        spmm(adj, torch.randn(adj.shape[0], 2), torch.zeros(3, 2).to_sparse_csr())
    # the conv refuses it too (the sampled path passes its blocks' transposes)
    with pytest.raises(ValueError, match="not marked symmetric"):
        LightGCNConv()(torch.randn(adj.shape[0], 2), adj)
    conv_out = LightGCNConv()(torch.randn(adj.shape[0], 2), adj, transpose=csr_transpose(adj))
    assert conv_out.shape == (adj.shape[0], 2)


def test_graph_adjacency_is_checked_symmetric_and_stays_marked_on_copies():
    g = small_graph()
    assert is_marked_symmetric(g.adj)
    assert is_marked_symmetric(g.to("cpu").adj)
    dense = dense_normalized(g.user, g.item, g.num_users, g.num_items)
    x, w = torch.randn(g.num_nodes, 3), torch.randn(g.num_nodes, 3)
    got = two_layer_grad(lambda h: spmm(g.adj, h), x, w)
    assert torch.allclose(got, two_layer_grad(lambda h: dense @ h, x, w), atol=1e-6)


def test_csr_transpose_equals_dense_transpose():
    adj, dense = lightgcnpp_matrix()
    assert torch.equal(csr_transpose(adj).to_dense(), dense.T)
    rect = torch.tensor([[0.0, 2.0, 0.0], [1.0, 0.0, 3.0]]).to_sparse_csr()
    assert torch.equal(csr_transpose(rect).to_dense(), rect.to_dense().T)


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
        spmm(g.adj, x).sum().backward()
    assert len(calls) == 2 and current_backend() is torch_matmul
    assert torch.allclose(x.grad, g.adj.to_dense().sum(0)[:, None].expand(-1, 3), atol=1e-6)


def test_unknown_spmm_backend_is_a_clear_error():
    from recsys_pyg.training.parts import spmm_backend

    g = small_graph()
    with pytest.raises(ValueError, match="spmm_backend=nope is not available"):
        spmm_backend("nope", g, 8)
    assert spmm_backend("torch", g, 8)(g.adj, torch.eye(g.num_nodes)).shape == (g.num_nodes, g.num_nodes)


def test_torch_sparse_backend_equals_torch_when_installed():
    pytest.importorskip("torch_sparse")
    from recsys_pyg.models.propagation import torch_sparse_matmul, use_backend

    adj, dense = lightgcnpp_matrix()
    adj_t = csr_transpose(adj)
    x, w = torch.randn(adj.shape[0], 4), torch.randn(adj.shape[0], 4)
    with use_backend(torch_sparse_matmul):
        got = two_layer_grad(lambda h: spmm(adj, h, adj_t), x, w)
    assert torch.allclose(got, two_layer_grad(lambda h: dense @ h, x, w), atol=1e-6)
