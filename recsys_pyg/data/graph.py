"""The training graph: user–item bipartite edges, per-user CSR, normalised adjacency.

Everything here is computed once per run and cached on the object; nothing is
recomputed per batch.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from functools import cached_property

import torch
from torch import Tensor


@dataclass(frozen=True)
class CSR:
    """Rows of column indices: ``indices[indptr[r]:indptr[r + 1]]`` are row ``r``'s, sorted."""

    indptr: Tensor  # (R + 1,)
    indices: Tensor  # (nnz,)
    num_cols: int

    @staticmethod
    def from_pairs(rows: Tensor, cols: Tensor, num_rows: int, num_cols: int) -> CSR:
        """Build from (row, col) pairs; duplicate pairs are kept once."""
        key = torch.unique(rows.long() * num_cols + cols.long())  # sorted by row, then col
        rows, cols = key // num_cols, key % num_cols
        counts = torch.bincount(rows, minlength=num_rows)
        indptr = torch.zeros(num_rows + 1, dtype=torch.long)
        torch.cumsum(counts, 0, out=indptr[1:])
        return CSR(indptr, cols, num_cols)

    @property
    def num_rows(self) -> int:
        return self.indptr.numel() - 1

    @property
    def nnz(self) -> int:
        return self.indices.numel()

    def degree(self) -> Tensor:
        return self.indptr[1:] - self.indptr[:-1]

    def row_index(self) -> Tensor:
        """The row of every stored entry, ``(nnz,)``."""
        return torch.repeat_interleave(torch.arange(self.num_rows), self.degree())

    def gather_rows(self, rows: Tensor, limit: int | None = None) -> tuple[Tensor, Tensor]:
        """Entries of the given rows as (position in ``rows``, column), vectorised; at most the first ``limit``
        of each row when given."""
        start = self.indptr[rows]
        count = self.indptr[rows + 1] - start  # not degree()[rows]: that diffs the whole indptr
        if limit is not None:
            count = count.clamp_max(limit)
        local = torch.repeat_interleave(torch.arange(rows.numel(), device=rows.device), count)  # (n,)
        # entry e of the output is indices[start_r + e - first_r] (first_r: where row r's entries begin in it)
        shift = torch.repeat_interleave(start - (torch.cumsum(count, 0) - count), count)
        return local, self.indices[torch.arange(local.numel(), device=rows.device) + shift]

    def to_dense(self) -> Tensor:
        dense = torch.zeros(self.num_rows, self.num_cols, dtype=torch.bool)
        dense[self.row_index(), self.indices] = True
        return dense

    def to(self, device: torch.device | str) -> CSR:
        return CSR(self.indptr.to(device), self.indices.to(device), self.num_cols)


def normalized_adjacency(user: Tensor, item: Tensor, num_users: int, num_items: int) -> Tensor:
    r"""The symmetric normalised adjacency :math:`D^{-1/2} A D^{-1/2}` of the bipartite graph.

    Nodes are users ``0..U-1`` then items ``U..U+I-1``; :math:`A` has an entry for each
    edge in both directions and no self-loops. Isolated nodes get zero rows.

    Returns:
        A symmetric ``(U + I, U + I)`` sparse CSR tensor (float32).
    """
    n = num_users + num_items
    row = torch.cat([user, item + num_users])
    col = torch.cat([item + num_users, user])
    deg = torch.bincount(row, minlength=n).float()
    inv_sqrt = deg.pow(-0.5)
    inv_sqrt[deg == 0] = 0.0
    value = inv_sqrt[row] * inv_sqrt[col]
    order = torch.argsort(row * n + col)  # CSR order: by row, then column
    crow = torch.zeros(n + 1, dtype=torch.long, device=row.device)
    crow[1:] = torch.cumsum(deg.long(), 0)
    return sparse_csr(crow, col[order], value[order], (n, n))


def sparse_csr(crow: Tensor, col: Tensor, values: Tensor, shape: tuple[int, int]) -> Tensor:
    """A sparse CSR tensor from its parts (no invariant checks), without torch's "CSR support is in beta"
    warning: the package relies on CSR only for SpMM, which is stable."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return torch.sparse_csr_tensor(crow, col, values, shape, check_invariants=False)


def csr_transpose(adj: Tensor) -> Tensor:
    """The transpose of a sparse CSR ``adj`` ``(N, M)`` as a sparse CSR ``(M, N)``, built once by the caller."""
    if adj.layout != torch.sparse_csr:
        raise TypeError(f"expected a sparse CSR tensor, got layout {adj.layout}")
    return adj.to_sparse_coo().t().coalesce().to_sparse_csr()


def mark_symmetric(adj: Tensor, atol: float = 1e-6, check: bool = True) -> Tensor:
    """Check that the sparse ``adj`` equals its transpose (pattern and values) and mark it so, in place.

    Propagation (:func:`recsys_pyg.models.propagation.spmm`) uses a marked matrix as its own
    transpose in the backward pass and refuses an unmarked one given without its transpose: a
    non-symmetric matrix (``D^-a A D^-b`` with ``a != b``, a row-normalised mean, a sampled
    block) would otherwise get a silently wrong gradient. Raises ``ValueError`` if it is not
    symmetric. The mark survives :meth:`BipartiteGraph.to`; a copy made otherwise is unmarked.

    ``check=False`` skips the check (a sync and a sort), for a matrix symmetric by construction
    from a checked one, made every step: NGCF's node dropout drops both directions of an edge
    together (its test checks the result equals its transpose).
    """
    if adj.dim() != 2 or adj.shape[0] != adj.shape[1]:
        raise ValueError(f"a symmetric matrix must be square, got shape {tuple(adj.shape)}")
    if not check:
        adj._recsys_symmetric = True
        return adj
    coo = (adj.to_sparse_coo() if adj.layout == torch.sparse_csr else adj).coalesce()
    t = coo.t().coalesce()
    same = torch.equal(coo.indices(), t.indices()) and torch.allclose(coo.values(), t.values(), rtol=0, atol=atol)
    if not same:
        raise ValueError(
            "the matrix is not symmetric: pass its transpose to propagation explicitly "
            "(spmm(adj, x, adj_t=csr_transpose(adj))) instead of marking it symmetric"
        )
    adj._recsys_symmetric = True  # read by is_marked_symmetric; freed with the tensor
    return adj


def is_marked_symmetric(adj: Tensor) -> bool:
    """Whether :func:`mark_symmetric` checked and marked ``adj``."""
    return bool(getattr(adj, "_recsys_symmetric", False))


class BipartiteGraph:
    """The training interactions as a graph, with cached derived structures.

    Args:
        user: ``(E,)`` user of each training edge.
        item: ``(E,)`` item of each training edge.
        num_users, num_items: node counts of each side.

    Edges are stored by user, then item; repeated pairs are kept once.
    """

    def __init__(self, user: Tensor, item: Tensor, num_users: int, num_items: int) -> None:
        self.num_users, self.num_items = num_users, num_items
        self.user_items = CSR.from_pairs(user, item, num_users, num_items)
        self.user, self.item = self.user_items.row_index(), self.user_items.indices  # (E,), (E,)

    def __repr__(self) -> str:
        return f"BipartiteGraph(num_users={self.num_users}, num_items={self.num_items}, num_edges={self.num_edges})"

    @property
    def num_nodes(self) -> int:
        return self.num_users + self.num_items

    @property
    def num_edges(self) -> int:
        return self.user.numel()

    @cached_property
    def user_degree(self) -> Tensor:
        return self.user_items.degree()

    @cached_property
    def item_degree(self) -> Tensor:
        return torch.bincount(self.item, minlength=self.num_items)

    @cached_property
    def item_users(self) -> CSR:
        """Each item's training users, sorted: the transpose of ``user_items``."""
        order = torch.argsort(self.item * self.num_users + self.user)  # by item, then user
        indptr = torch.zeros(self.num_items + 1, dtype=torch.long, device=self.item.device)
        indptr[1:] = torch.cumsum(self.item_degree, 0)
        return CSR(indptr, self.user[order], self.num_users)

    @cached_property
    def user_item_matrix(self) -> Tensor:
        """The interaction matrix :math:`R`, sparse CSR ``(U, I)`` of ones (float32)."""
        csr = self.user_items
        return sparse_csr(
            csr.indptr, csr.indices, torch.ones_like(csr.indices, dtype=torch.float), (self.num_users, self.num_items)
        )

    @cached_property
    def item_user_matrix(self) -> Tensor:
        r""":math:`R^\top`, sparse CSR ``(I, U)`` of ones (float32)."""
        csr = self.item_users
        ones = torch.ones(self.num_edges, dtype=torch.float, device=self.item.device)
        return sparse_csr(csr.indptr, csr.indices, ones, (self.num_items, self.num_users))

    @cached_property
    def adj(self) -> Tensor:
        """Symmetric normalised adjacency, sparse CSR ``(N, N)``, checked and marked symmetric
        (:func:`mark_symmetric`); see :func:`normalized_adjacency`."""
        return mark_symmetric(normalized_adjacency(self.user, self.item, self.num_users, self.num_items))

    @cached_property
    def edge_index(self) -> Tensor:
        """Both directions of every edge over global node ids, ``(2, 2E)``; items offset by ``U``."""
        item = self.item + self.num_users
        return torch.stack([torch.cat([self.user, item]), torch.cat([item, self.user])])

    def to(self, device: torch.device | str) -> BipartiteGraph:
        """A copy on ``device``; cached structures already built move along."""
        graph = BipartiteGraph.__new__(BipartiteGraph)
        graph.num_users, graph.num_items = self.num_users, self.num_items
        graph.user_items = self.user_items.to(device)
        graph.user, graph.item = self.user.to(device), self.item.to(device)
        for name in ("adj", "edge_index", "item_degree", "user_degree", "item_users"):
            if name in self.__dict__:
                graph.__dict__[name] = self.__dict__[name].to(device)
        if "adj" in graph.__dict__:  # checked once when built; a device copy holds the same values
            graph.__dict__["adj"]._recsys_symmetric = True
        return graph
