"""Sparse propagation with a symmetric adjacency.

For a symmetric ``A``, the gradient of ``A @ X`` with respect to ``X`` is ``A @ G``: the
backward pass is another forward SpMM, with no transpose through generic sparse
autograd. On a Gowalla-sized graph (30k users, 41k items, 810k edges, d=64, 3 layers,
2 CPU cores) forward+backward took 0.17 s this way against 0.36 s for PyG's ``LGConv``
on the same cached CSR adjacency and 2.6 s for ``LGConv`` on an edge list with per-call
normalisation (``scripts/bench.py`` reproduces the comparison).
"""

from __future__ import annotations

import torch
from torch import Tensor


class _SymmetricSpMM(torch.autograd.Function):
    @staticmethod
    def forward(ctx, adj: Tensor, x: Tensor) -> Tensor:  # type: ignore[override]
        ctx.adj = adj
        return adj @ x

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[None, Tensor]:  # type: ignore[override]
        return None, ctx.adj @ grad


def symmetric_spmm(adj: Tensor, x: Tensor) -> Tensor:
    """``adj @ x`` for a symmetric sparse ``adj`` ``(N, N)`` and dense ``x`` ``(N, F)``.

    The caller guarantees symmetry; the gradient flows to ``x`` only.
    """
    if not adj.is_sparse and adj.layout != torch.sparse_csr:
        raise TypeError(f"adj must be a sparse tensor, got layout {adj.layout}")
    return _SymmetricSpMM.apply(adj, x)
