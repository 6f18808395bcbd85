"""Item-based k-nearest-neighbour collaborative filtering: a fit-only model (no gradient steps).

Reference: Sarwar et al., "Item-Based Collaborative Filtering Recommendation Algorithms", WWW 2001;
Deshpande & Karypis, "Item-Based Top-N Recommendation Algorithms", TOIS 2004.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from recsys_pyg.data.graph import BipartiteGraph, sparse_csr
from recsys_pyg.models.common import check_graph
from recsys_pyg.models.gfcf import history_entries, history_matrix
from recsys_pyg.utils import positive_int


class ItemKNN(nn.Module):
    r"""Cosine item–item similarity, pruned to each item's ``k`` nearest neighbours:

    .. math::
        s_{ij} = \frac{|\mathcal{N}(i) \cap \mathcal{N}(j)|}{\sqrt{|\mathcal{N}(i)|\,|\mathcal{N}(j)|}}
        \quad (i \neq j), \qquad
        \hat{y}_{uj} = \sum_{i \in \mathcal{N}(u) \cap \mathcal{K}(j)} s_{ij}

    where :math:`\mathcal{N}(i)` are item :math:`i`'s training users, :math:`\mathcal{N}(u)` the
    user's training items and :math:`\mathcal{K}(j)` the ``k`` items most similar to :math:`j`.
    In matrix form :math:`\hat{Y} = R\,W` with :math:`W` the pruned similarity (column :math:`j`
    keeps its ``k`` largest entries).

    ``fit`` computes the similarity in blocks of ``chunk_size`` items (an ``(I, chunk)`` block
    from one sparse-dense product), never the dense ``I x I`` matrix; what it keeps is the
    ``(I, k)`` neighbour table, in buffers (so ``best.pt`` holds the fitted model). ``score`` is one
    sparse-sparse product of the users' history rows with :math:`W` (``k`` updates per history entry on average).

    Args:
        num_users, num_items: sizes of the data.
        k: neighbours kept per item (default 100; capped at ``num_items - 1``).
        chunk_size: items per similarity block; memory ``(U + I) * chunk_size`` floats (default 1024).

    Shapes:
        - **fit:** the training graph
        - **score:** users ``(C,)`` -> ``(C, I)``
    """

    fit_only = True

    def __init__(self, num_users: int, num_items: int, k: int = 100, chunk_size: int = 1024) -> None:
        super().__init__()
        self.num_users, self.num_items = positive_int("num_users", num_users), positive_int("num_items", num_items)
        self.k = min(positive_int("k", k), max(num_items - 1, 1))
        self.chunk_size = positive_int("chunk_size", chunk_size)
        self.register_buffer("neighbors", torch.zeros(num_items, self.k, dtype=torch.long))  # (I, k)
        self.register_buffer("weights", torch.zeros(num_items, self.k))  # (I, k)
        self.graph: BipartiteGraph | None = None

    def reset_parameters(self) -> None:
        self.neighbors.zero_()
        self.weights.zero_()

    def __repr__(self) -> str:
        return f"ItemKNN({self.num_users}, {self.num_items}, k={self.k})"

    @torch.no_grad()
    def fit(self, graph: BipartiteGraph) -> None:
        """The ``k`` most cosine-similar items of every item, from the training interactions."""
        check_graph(self, graph)
        self.graph = graph
        device = graph.user.device
        r_t = graph.item_user_matrix  # (I, U)
        inv_norm = graph.item_degree.float().clamp_min(1).rsqrt()  # (I,)
        for start in range(0, self.num_items, self.chunk_size):
            stop = min(start + self.chunk_size, self.num_items)
            block = torch.zeros(graph.num_users, stop - start, device=device)  # R[:, start:stop], dense (U, c)
            in_block = (graph.item >= start) & (graph.item < stop)
            block[graph.user[in_block], graph.item[in_block] - start] = 1.0
            sim = (r_t @ block) * inv_norm[:, None] * inv_norm[None, start:stop]  # (I, c) co-counts -> cosine
            sim[torch.arange(start, stop, device=device), torch.arange(stop - start, device=device)] = 0.0  # i != j
            top = sim.topk(self.k, dim=0)  # (k, c): the k most similar items of each column item
            self.neighbors[start:stop] = top.indices.T
            self.weights[start:stop] = top.values.T

    def pruned(self) -> Tensor:
        """The pruned similarity :math:`W` ``(I, I)`` as sparse CSR by rows: row :math:`i` holds the items
        :math:`j` whose neighbour table keeps :math:`i` (the table's transpose), built once per fit."""
        key = (self.neighbors._version, self.weights._version, self.neighbors.data_ptr(), self.weights.data_ptr())
        cached = getattr(self, "_pruned", None)
        if cached is None or cached[0] != key:
            source = self.neighbors.flatten()  # (I k,): the neighbour i of each (j, i) pair
            order = torch.argsort(source, stable=True)
            target = torch.arange(self.num_items, device=source.device).repeat_interleave(self.k)[order]
            crow = torch.cat([source.new_zeros(1), torch.bincount(source, minlength=self.num_items).cumsum(0)])
            shape = (self.num_items, self.num_items)
            cached = self._pruned = (key, sparse_csr(crow, target, self.weights.flatten()[order], shape))
        return cached[1]

    def score(self, users: Tensor) -> Tensor:
        """:math:`R_{\\text{users}} W`, ``(C, I)``."""
        if self.graph is None:
            raise RuntimeError("ItemKNN.score before fit(graph): fit the model first")
        # one sparse-sparse product from the history's entries: nnz(R_users) x k updates, not the (I, I k) x (I, C)
        # product over the zeros of a dense history (Gowalla, 1024 users, one thread: 0.26 s instead of 1.9)
        row, col = history_entries(self.graph, users)
        c, n = users.numel(), self.num_items
        history = history_matrix(row, col, torch.ones_like(col, dtype=torch.float), c, n)  # (C, I)
        product = torch.sparse.mm(history, self.pruned())  # (C, I), sparse CSR
        # scattered into a dense block by flat index (CSR's own to_dense took 4x as long here)
        crow, target = product.crow_indices(), product.col_indices()
        flat = torch.repeat_interleave(torch.arange(c, device=crow.device) * n, crow.diff()) + target
        return torch.zeros(c * n, device=crow.device).index_put_((flat,), product.values(), accumulate=True).view(c, n)
