"""ChebyCF: a Chebyshev-polynomial graph filter, a fit-only model (no gradient steps).

Reference: Kim et al., "Graph Spectral Filtering with Chebyshev Interpolation for Recommendation",
SIGIR 2025; official code: github.com/chanwoo0806/ChebyCF (``src/model.py``, ``src/module.py``).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from recsys_pyg.data.graph import BipartiteGraph
from recsys_pyg.models.gfcf import (
    filter_buffers,
    filter_ops,
    fit_filter,
    history_entries,
    in_blocks,
    item_graph,
    project_rows,
)
from recsys_pyg.utils import positive_int


def plateau(order: int, flatness: float) -> Tensor:
    r"""The target transfer function at ``order + 1`` points, as the official ``ChebyFilter.plateau``:
    :math:`x_k = \cos(\pi (K - k) / K)`, value :math:`\tfrac12 + \tfrac12 (-x)^\varphi` for :math:`x < 0` and
    :math:`\tfrac12 - \tfrac12 x^\varphi` otherwise (1 at the lowest graph frequency, 0 at the highest),
    both rounded to 3 decimals as there."""
    k = torch.arange(order + 1, dtype=torch.float64)
    x = torch.cos((order - k) / order * math.pi).round(decimals=3)
    out = torch.where(x < 0, (-x).clamp_min(0).pow(flatness) * 0.5 + 0.5, x.clamp_min(0).pow(flatness) * -0.5 + 0.5)
    return out.round(decimals=3)


def chebyshev_coefficients(order: int, flatness: float) -> Tensor:
    r"""Chebyshev interpolation coefficients :math:`c_0 \dots c_K` of :func:`plateau` at the Chebyshev nodes
    :math:`\cos(\pi (K + 1.5 - j) / (K + 1))`, :math:`j = 1 \dots K + 1`:
    :math:`c_k = \tfrac{2}{K+1} \sum_j T_k(x_j)\, f_j`, :math:`c_0` halved (the official ``ChebyFilter.fit``)."""
    j = torch.arange(1, order + 2, dtype=torch.float64)
    nodes = torch.cos(((order + 1) + 0.5 - j) / (order + 1) * math.pi)
    target = plateau(order, flatness)
    terms = [torch.ones_like(nodes), nodes]  # T_0, T_1 at the nodes
    for _ in range(2, order + 1):
        terms.append(2 * nodes * terms[-1] - terms[-2])
    coeffs = torch.stack(terms[: order + 1]) @ target * (2 / (order + 1))  # (K + 1,)
    coeffs[0] /= 2
    return coeffs


class ChebyCF(nn.Module):
    r"""ChebyCF from `"Graph Spectral Filtering with Chebyshev Interpolation for Recommendation"
    <https://arxiv.org/abs/2505.00552>`_ (Kim et al., SIGIR 2025), in closed form:

    .. math::
        \tilde{R} = D_U^{-1/2} R\, D_I^{-1/2}, \qquad \tilde{L} = I - 2 \tilde{R}^\top \tilde{R}, \qquad
        \hat{\mathbf{y}}_u = \Big( \mathbf{s}_u \sum_{k=0}^{K} c_k T_k(\tilde{L})
        + \alpha\, \mathbf{s}_u V_\eta V_\eta^\top \Big) D_I^{\beta}, \qquad \mathbf{s}_u = \mathbf{r}_u D_I^{-\beta}

    :math:`T_k` the Chebyshev polynomials, :math:`c_k` the interpolation of a plateau-shaped low-pass
    response of flatness :math:`\varphi` (:func:`chebyshev_coefficients`), :math:`V_\eta` the top-``eta``
    right singular vectors of :math:`\tilde{R}` (the ideal low-pass term), :math:`\beta` the degree
    normalisation around the filter. The official code's ``ChebyCF``; items without training
    interactions get 0 in every degree scaling, as there.

    ``score`` applies :math:`T_k(\tilde{L})` by the recurrence :math:`T_{k} = 2 \tilde{L} T_{k-1} - T_{k-2}`:
    ``2K`` sparse-dense products per chunk of users, the ``(eta, I)`` products of the ideal term, never an
    ``I x I`` matrix; ``fit`` is the degree scalings and a block Krylov SVD (as :class:`~recsys_pyg.models.GFCF`).

    Args:
        num_users, num_items: sizes of the data.
        order: the polynomial order :math:`K` (official Gowalla: 8).
        flatness: :math:`\varphi` (official Gowalla: 1.5).
        eta: singular vectors of the ideal term (official Gowalla: 512; 0 = none).
        alpha: its weight (official Gowalla: 0.2; 0 = none).
        beta: the degree normalisation's power (official Gowalla: 0.4; 0 = none).
        block, steps: of the block Krylov SVD (a basis of ``block * steps`` columns).
    """

    fit_only = True

    def __init__(
        self,
        num_users: int,
        num_items: int,
        order: int = 8,
        flatness: float = 1.5,
        eta: int = 512,
        alpha: float = 0.2,
        beta: float = 0.4,
        block: int = 64,
        steps: int = 24,
    ) -> None:
        super().__init__()
        self.num_users, self.num_items = positive_int("num_users", num_users), positive_int("num_items", num_items)
        self.order = positive_int("order", order)
        if not flatness > 0:
            raise ValueError(f"flatness must be > 0, got {flatness}")
        if int(eta) != eta or eta < 0:
            raise ValueError(f"eta must be a non-negative integer (0 = no ideal low-pass term), got {eta!r}")
        if alpha < 0 or beta < 0:
            raise ValueError(f"alpha and beta must be >= 0, got alpha={alpha}, beta={beta}")
        self.flatness, self.alpha, self.beta = float(flatness), float(alpha), float(beta)
        self.eta = min(int(eta), num_users, num_items) if alpha > 0 else 0
        self.block, self.steps = positive_int("block", block), positive_int("steps", steps)
        self.register_buffer("coeffs", chebyshev_coefficients(self.order, self.flatness).float())  # (K + 1,)
        filter_buffers(self, self.eta, num_users, num_items)
        self.register_buffer("pre", torch.zeros(num_items))  # (I,): D_I^{-beta}

    def reset_parameters(self) -> None:
        for buffer in (self.vt, self.user_scale, self.item_scale, self.pre):
            buffer.zero_()

    def __repr__(self) -> str:
        return (f"ChebyCF({self.num_users}, {self.num_items}, order={self.order}, flatness={self.flatness}, "
                f"eta={self.eta}, alpha={self.alpha}, beta={self.beta})")  # fmt: skip

    @torch.no_grad()
    def fit(self, graph: BipartiteGraph) -> None:
        """The degree scalings and, with the ideal term, the top-``eta`` right singular vectors of R~."""
        fit_filter(self, graph, self.eta)
        degree = graph.item_degree.float()
        self.pre.copy_(torch.where(degree > 0, degree.clamp_min(1).pow(-self.beta), torch.zeros_like(degree)))

    def _laplacian(self, x: Tensor) -> Tensor:
        r""":math:`\tilde{L} x = x - 2 \tilde{R}^\top \tilde{R} x` for ``x`` ``(I, C)``."""
        assert self.graph is not None
        return torch.add(x, item_graph(filter_ops(self), x), alpha=-2.0)

    @torch.no_grad()
    def score(self, users: Tensor) -> Tensor:
        """The filtered rows of ``users`` ``(C,)``, ``(C, I)``."""
        if self.graph is None:
            raise RuntimeError("ChebyCF.score before fit(graph): fit the model first")
        return in_blocks(self._score, users)

    def _score(self, users: Tensor) -> Tensor:
        row, col = history_entries(self.graph, users)
        s = torch.zeros(self.num_items, users.numel(), device=self.pre.device)  # (I, C): (r_u D_I^-beta)^T
        s[col, row] = self.pre[col]
        prev, cur = s, self._laplacian(s)  # T_0 s, T_1 s
        out = torch.add(self.coeffs[0] * prev, cur, alpha=float(self.coeffs[1]))
        for k in range(2, self.order + 1):
            prev, cur = cur, self._laplacian(cur).mul_(2).sub_(prev)  # in place on the fresh product
            out.add_(cur, alpha=float(self.coeffs[k]))
        if self.eta:  # V^T s from the history's entries: one (I, eta) x (eta, C) product, not two
            v = filter_ops(self).v  # (I, eta)
            out.addmm_(v, project_rows(v, row, col, self.pre[col], users.numel()).T, alpha=self.alpha)
        post = torch.where(self.pre > 0, self.pre.reciprocal(), torch.zeros_like(self.pre))  # D_I^{beta}
        return out.mul_(post[:, None]).T  # (C, I)
