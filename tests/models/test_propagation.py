"""Symmetric SpMM and the spmm backends: gradients, the choice by timing, clear errors."""

import time

import pytest
import torch

from recsys_pyg.models.propagation import symmetric_spmm
from tests.models.test_lightgcn_conv import small_graph


def test_symmetric_spmm_gradient_equals_autograd():
    g = small_graph()
    dense = g.adj.to_dense()
    x1 = torch.randn(g.num_nodes, 3, requires_grad=True)
    x2 = x1.detach().clone().requires_grad_(True)
    w = torch.randn(g.num_nodes, 3)
    (symmetric_spmm(g.adj, symmetric_spmm(g.adj, x1)) * w).sum().backward()
    (dense @ (dense @ x2) * w).sum().backward()
    assert torch.allclose(x1.grad, x2.grad, atol=1e-6)


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
