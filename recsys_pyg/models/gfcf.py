"""GF-CF: graph filtering collaborative filtering, a fit-only model (no gradient steps).

Reference: Shen et al., "How Powerful is Graph Convolution for Recommendation?", CIKM 2021;
official code: github.com/yshenaw/GF_CF, class ``GF_CF`` in ``model.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import Tensor, nn

from recsys_pyg.data.graph import BipartiteGraph, sparse_csr
from recsys_pyg.models.common import check_graph
from recsys_pyg.utils import positive_int


def history_entries(graph: BipartiteGraph, users: Tensor) -> tuple[Tensor, Tensor]:
    """The training items of ``users`` ``(C,)`` as (position in ``users``, item) pairs, on the graph's device:
    ``CSR.gather_rows`` with the users moved there first (they may come from the CPU)."""
    csr = graph.user_items
    return csr.gather_rows(users.to(csr.indptr.device))


def project_rows(v: Tensor, row: Tensor, col: Tensor, weight: Tensor, num_users: int) -> Tensor:
    """``(V^T h)^T`` ``(C, k)`` for the sparse history columns ``h`` ``(I, C)`` given as entries (``row``: position in
    the chunk, ``col``: item, ``weight``: the entry's value), from ``v`` ``(I, k)`` (``vt.T``, contiguous): the ideal
    low-pass terms' first factor from the history's entries alone, without the ``k x I x C`` dense product;
    whole rows of ``v`` gathered, not strided columns of ``vt`` (Gowalla, 1024 users: 70 ms instead of 150)."""
    return v.new_zeros(num_users, v.shape[1]).index_add_(0, row, v[col] * weight[:, None])


SPARSE_WORK = 0.25  # GF-CF's first product from the history entries while they make <= this share of (U, C)
CPU_BLOCK = 64  # users filtered together on the CPU: ChebyCF on Gowalla, 1024 users in blocks of 1024 / 64: 17 / 11 s


def in_blocks(score: Callable[[Tensor], Tensor], users: Tensor) -> Tensor:
    """``score(users)`` ``(C, I)`` computed ``CPU_BLOCK`` users at a time on the CPU: a filter of many
    sparse-dense products then streams an ``(I, 64)`` signal (10 MB on Gowalla) that stays in cache, instead of
    an ``(I, 1024)`` one read from memory at every product. Whole on an accelerator."""
    if users.device.type != "cpu" or users.numel() <= CPU_BLOCK:
        return score(users)
    return torch.cat([score(block).contiguous() for block in users.split(CPU_BLOCK)])


def history_matrix(row: Tensor, col: Tensor, values: Tensor, num_users: int, num_items: int) -> Tensor:
    """The chunk's history entries (``row`` sorted, as :func:`history_entries` gives them) as a sparse CSR
    ``(C, I)`` with ``values``."""
    counts = torch.bincount(row, minlength=num_users)
    return sparse_csr(torch.cat([counts.new_zeros(1), counts.cumsum(0)]), col, values, (num_users, num_items))


class FilterOps(NamedTuple):
    r"""The degree-scaled interaction matrices the filters' products use (sparse CSR), built once per fit:
    ``user_item`` :math:`R D_I^{-1/2}` ``(U, I)``, ``item_user`` :math:`D_I^{-1/2} R^\top D_U^{-1}` ``(I, U)``
    (so :math:`\tilde{R}^\top \tilde{R} x` is two plain products, no ``(U, C)`` / ``(I, C)`` rescaling),
    ``v`` ``(I, k)``, the singular vectors as rows, and ``v_up`` :math:`D_I^{1/2} V` (the ideal terms' left factor)."""

    key: tuple
    user_item: Tensor
    item_user: Tensor
    v: Tensor
    v_up: Tensor


def filter_ops(model: nn.Module) -> FilterOps:
    """``model``'s :class:`FilterOps` for its fitted graph, built on first use and again whenever the graph,
    a buffer they come from (a new fit, a loaded state) or the device changes."""
    buffers = (model.vt, model.user_scale, model.item_scale)
    key = (id(model.graph), model.vt.device, *(b._version for b in buffers), *(b.data_ptr() for b in buffers))
    ops = getattr(model, "_ops", None)
    if ops is None or ops.key != key:
        graph = model.graph
        assert graph is not None
        user_item, _ = normalized_interactions(graph, torch.ones_like(model.user_scale), model.item_scale)
        _, item_user = normalized_interactions(graph, model.user_scale.pow(2), model.item_scale)
        v = model.vt.T.contiguous()  # (I, k)
        sqrt_degree = torch.where(model.item_scale > 0, model.item_scale.reciprocal(), 0.0)  # D_I^{1/2}
        ops = model._ops = FilterOps(key, user_item, item_user, v, v * sqrt_degree[:, None])
    return ops


def inv_sqrt_degree(degree: Tensor) -> Tensor:
    """:math:`d^{-1/2}`, 0 where the degree is 0 (as the official code's ``d_inv[isinf] = 0``)."""
    degree = degree.float()
    return torch.where(degree > 0, degree.clamp_min(1).rsqrt(), torch.zeros_like(degree))


def top_right_singular_vectors(mat: Tensor, mat_t: Tensor, k: int, block: int = 64, steps: int = 16) -> Tensor:
    r"""The top-``k`` right singular vectors of a sparse ``mat`` ``(m, n)`` as rows, ``(k, n)``.

    Randomised block Krylov iteration (Musco & Musco, NeurIPS 2015): an orthonormal basis of
    :math:`[\Omega, G\Omega, \dots, G^{s-1}\Omega]`, :math:`G = M^\top M`, ``block`` columns per step,
    then the Rayleigh-Ritz vectors of :math:`G` on it. Only sparse-dense products with ``mat`` and its
    transpose ``mat_t`` (any device); memory ``n * block * steps`` floats. Exact once the basis spans
    the row space (``block * steps >= min(m, n) + block``). Directions beyond the rank come back as
    zero rows. Draws its start from torch's global generator.
    """
    m, n = mat.shape
    basis = torch.linalg.qr(torch.randn(n, min(block, n), device=mat.device)).Q  # (n, b)
    for _ in range(steps - 1):
        if basis.shape[1] >= n:
            break
        new = mat_t @ (mat @ basis[:, -block:])  # (n, b): the next Krylov block
        for _ in range(2):  # full reorthogonalisation; twice, as one pass loses it in floating point
            new = new - basis @ (basis.T @ new)
        new = torch.linalg.qr(new[:, : n - basis.shape[1]]).Q
        new = torch.linalg.qr(new - basis @ (basis.T @ new)).Q  # QR of a near-null block can leave the span
        basis = torch.cat([basis, new], dim=1)
    projected = mat @ basis  # (m, s)
    evals, evecs = torch.linalg.eigh((projected.T @ projected).double())  # ascending sigma^2
    evals, evecs = evals.flip(0)[:k], evecs.flip(1)[:, :k]
    keep = evals > evals[:1].clamp_min(1e-30) * 1e-10  # beyond the rank: no direction of the data
    rows = (basis @ evecs.float()).T * keep[:, None].float()  # (k', n)
    return torch.cat([rows, rows.new_zeros(k - rows.shape[0], n)])  # k rows even when the basis is smaller


def normalized_interactions(graph: BipartiteGraph, user_scale: Tensor, item_scale: Tensor) -> tuple[Tensor, Tensor]:
    r""":math:`\tilde{R} = D_U^{-1/2} R D_I^{-1/2}` ``(U, I)`` and its transpose ``(I, U)``, sparse CSR, from the
    degree scalings ``user_scale`` ``(U,)`` and ``item_scale`` ``(I,)``."""
    r, r_t = graph.user_item_matrix, graph.item_user_matrix
    scaled = []
    for mat, rows, cols in ((r, user_scale, item_scale), (r_t, item_scale, user_scale)):
        crow, col = mat.crow_indices(), mat.col_indices()
        row = torch.repeat_interleave(torch.arange(mat.shape[0], device=crow.device), crow.diff())  # (nnz,)
        scaled.append(sparse_csr(crow, col, rows[row] * cols[col], (mat.shape[0], mat.shape[1])))
    return scaled[0], scaled[1]


def filter_buffers(model: nn.Module, k: int, num_users: int, num_items: int) -> None:
    """The buffers every graph filter here scores with (zeros until :func:`fit_filter`): ``vt`` ``(k, I)`` the top
    right singular vectors of R~, ``user_scale`` ``(U,)`` = D_U^-1/2, ``item_scale`` ``(I,)`` = D_I^-1/2."""
    model.register_buffer("vt", torch.zeros(k, num_items))
    model.register_buffer("user_scale", torch.zeros(num_users))
    model.register_buffer("item_scale", torch.zeros(num_items))
    model.graph = None  # the fitted graph, set by fit_filter


def fit_filter(model: nn.Module, graph: BipartiteGraph, k: int) -> None:
    """What every graph filter here fits: the graph, the degree scalings :math:`D_U^{-1/2}`, :math:`D_I^{-1/2}`
    into ``model.user_scale`` / ``model.item_scale`` and, when ``k > 0``, the top-``k`` right singular vectors
    of :math:`\tilde{R}` into ``model.vt`` (block Krylov with ``model.block`` x ``model.steps`` columns)."""
    check_graph(model, graph)
    model.graph = graph
    model.user_scale.copy_(inv_sqrt_degree(graph.user_degree))
    model.item_scale.copy_(inv_sqrt_degree(graph.item_degree))
    if k:
        norm, norm_t = normalized_interactions(graph, model.user_scale, model.item_scale)
        model.vt.copy_(top_right_singular_vectors(norm, norm_t, k, model.block, model.steps))


def item_graph(ops: FilterOps, x: Tensor) -> Tensor:
    r""":math:`\tilde{R}^\top \tilde{R} x = D_I^{-1/2} R^\top D_U^{-1} R D_I^{-1/2} x` for columns ``x`` ``(I, C)``:
    two sparse-dense products with the scalings folded in (:class:`FilterOps`)."""
    return ops.item_user @ (ops.user_item @ x)


class GFCF(nn.Module):
    r"""GF-CF from `"How Powerful is Graph Convolution for Recommendation?"
    <https://arxiv.org/abs/2108.07567>`_ (Shen et al., CIKM 2021): a linear low-pass filter plus an ideal
    low-pass filter on the normalised item–item graph, in closed form,

    .. math::
        \tilde{R} = D_U^{-1/2} R\, D_I^{-1/2}, \qquad
        \hat{\mathbf{y}}_u = \mathbf{r}_u \tilde{R}^\top \tilde{R}
        + \alpha\, \mathbf{r}_u D_I^{-1/2}\, V_k V_k^\top D_I^{1/2}

    with :math:`\mathbf{r}_u` the user's raw (0/1) training row and :math:`V_k` the top-``k`` right
    singular vectors of :math:`\tilde{R}`: the official code's ``U_2 + alpha * U_1``. Items without
    training interactions get :math:`D_I^{\pm 1/2} = 0` (the official code gives them NaN).

    ``fit`` computes :math:`V_k` by randomised block Krylov iteration on the sparse :math:`\tilde{R}`
    (:func:`top_right_singular_vectors`), never a dense matrix of the data; ``score`` applies the linear
    filter with one sparse-sparse product (from the chunk's history entries) and one sparse-dense product,
    the ideal one with a gather of the history's rows of :math:`V_k` and one ``(I, k) x (k, C)`` GEMM, never an
    ``I x I`` matrix. The singular vectors and degree scalings are buffers (``best.pt`` holds the model).

    Args:
        num_users, num_items: sizes of the data.
        k: singular vectors of the ideal low-pass filter (default 256, as the official code; capped at
            ``min(num_users, num_items)``).
        alpha: weight of the ideal low-pass filter (default 0.3, as the official code; 0 gives the
            linear filter alone, the official setting on Amazon-Book).
        block: columns per step of the block Krylov SVD (default 64).
        steps: steps of the block Krylov SVD; its basis has ``block * steps`` columns (default 16).

    Shapes:
        - **fit:** the training graph
        - **score:** users ``(C,)`` -> ``(C, I)``
    """

    fit_only = True

    def __init__(
        self, num_users: int, num_items: int, k: int = 256, alpha: float = 0.3, block: int = 64, steps: int = 16
    ) -> None:
        super().__init__()
        self.num_users, self.num_items = positive_int("num_users", num_users), positive_int("num_items", num_items)
        self.k = min(positive_int("k", k), num_users, num_items)
        self.block, self.steps = positive_int("block", block), positive_int("steps", steps)
        self.alpha = float(alpha)
        filter_buffers(self, self.k, num_users, num_items)

    def reset_parameters(self) -> None:
        for buffer in (self.vt, self.user_scale, self.item_scale):
            buffer.zero_()

    def __repr__(self) -> str:
        return f"GFCF({self.num_users}, {self.num_items}, k={self.k}, alpha={self.alpha})"

    @torch.no_grad()
    def fit(self, graph: BipartiteGraph) -> None:
        """The degree scalings and the top-``k`` right singular vectors of :math:`\\tilde{R}`."""
        fit_filter(self, graph, self.k)

    def normalized(self, graph: BipartiteGraph) -> tuple[Tensor, Tensor]:
        r""":math:`\tilde{R}` ``(U, I)`` and :math:`\tilde{R}^\top` ``(I, U)``, sparse CSR."""
        return normalized_interactions(graph, self.user_scale, self.item_scale)

    @torch.no_grad()
    def score(self, users: Tensor) -> Tensor:
        """:math:`\\mathbf{r}_u \\tilde{R}^\\top \\tilde{R} + \\alpha\\, \\mathbf{r}_u D_I^{-1/2} V_k V_k^\\top
        D_I^{1/2}` for ``users`` ``(C,)``, ``(C, I)``."""
        if self.graph is None:
            raise RuntimeError("GFCF.score before fit(graph): fit the model first")
        ops = filter_ops(self)
        row, col = history_entries(self.graph, users)
        weight = self.item_scale[col]  # r_u D_I^{-1/2}, one value per history entry
        rows = history_matrix(row, col, weight, users.numel(), self.num_items)  # (C, I), sparse
        # the first product's sparse path makes one entry per (history item, its user): worth it while those are a
        # small share of the dense (U, C) block (Gowalla: 7%, 2.3M entries for 1024 users)
        # linear filter, right to left: R~^T R~ r_u^T = D_I^{-1/2} R^T D_U^{-1} (R D_I^{-1/2} r_u^T); the first product
        # from the history's entries (a sparse-sparse product, ~6% of its (U, C) result nonzero on Gowalla)
        graph = self.graph
        cpu = weight.device.type == "cpu"  # the sparse-sparse path is measured and tested on the CPU only
        if cpu and int(graph.item_degree[col].sum()) <= SPARSE_WORK * users.numel() * self.num_users:
            through_users = torch.sparse.mm(rows, graph.item_user_matrix).t().to_dense()  # (U, C)
        else:  # a dense 2-hop neighbourhood (popular items): the product's entries would outgrow a dense block
            h = torch.zeros(self.num_items, users.numel(), device=weight.device)  # (I, C): (r_u D_I^{-1/2})^T
            h[col, row] = weight
            through_users = graph.user_item_matrix @ h  # (U, C)
        scores = ops.item_user @ through_users  # (I, C)
        if self.alpha:  # ideal low-pass filter, D_I^{1/2} V V^T D_I^{-1/2} r_u^T, added in place
            factors = project_rows(ops.v, row, col, weight, users.numel())  # (C, k): (V^T h)^T
            scores.addmm_(ops.v_up, factors.T, alpha=self.alpha)
        return scores.T  # (C, I)
