"""NGCF: embeddings refined by learned message passing over the user–item graph.

References: Wang et al., "Neural Graph Collaborative Filtering", SIGIR 2019
(https://arxiv.org/abs/1905.08108), and the authors' code
(https://github.com/xiangwang1223/neural_graph_collaborative_filtering).
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from recsys_pyg.data.graph import BipartiteGraph, is_marked_symmetric, mark_symmetric, sparse_csr
from recsys_pyg.models.common import check_sizes, embedding_l2, select_nodes
from recsys_pyg.models.mean_concat_conv import MeanConcatConv
from recsys_pyg.models.ngcf_conv import NGCFConv

COMBINES = ("concat", "mean")
LAYERS = ("ngcf", "mean_concat")


def undirected_edge_ids(adj: Tensor) -> tuple[Tensor, int]:
    """For a symmetric sparse CSR ``adj`` ``(N, N)``: the id of every stored entry's undirected edge
    ``(nnz,)`` (entries ``(r, c)`` and ``(c, r)`` share one), and the number of edges."""
    if adj.layout != torch.sparse_csr:
        raise TypeError(f"node dropout needs a sparse CSR adjacency, got layout {adj.layout}")
    n = adj.shape[0]
    crow, col = adj.crow_indices(), adj.col_indices()
    row = torch.repeat_interleave(torch.arange(n, device=col.device), crow[1:] - crow[:-1])  # (nnz,)
    key = torch.minimum(row, col) * n + torch.maximum(row, col)  # (nnz,) same for both directions
    uniq, edge_id, count = torch.unique(key, return_inverse=True, return_counts=True)  # (M,), (nnz,), (M,)
    if not torch.equal(count, torch.where(uniq // n == uniq % n, 1, 2)):  # self-loops once, others twice
        raise ValueError("node dropout needs a symmetric adjacency: some entries have no transposed entry")
    return edge_id, uniq.numel()


def drop_symmetric(adj: Tensor, edge_id: Tensor, num_edges: int, p: float) -> Tensor:
    """``adj`` with each undirected edge dropped (both directions together) with probability ``p`` and the
    kept entries scaled by ``1 / (1 - p)``, as NGCF's node dropout; still symmetric, sparse CSR.

    Dropped entries stay in the structure as zeros: the result has ``adj``'s shape and sparsity
    pattern whatever the draw, so building it never waits on the device for a count; the SpMM
    then multiplies the dropped zeros too, the cost of a step without dropout.
    """
    keep = (torch.rand(num_edges, device=adj.device) >= p)[edge_id]  # (nnz,)
    value = adj.values() * keep / (1.0 - p)
    dropped = sparse_csr(adj.crow_indices(), adj.col_indices(), value, adj.shape)
    # both directions of an edge share one draw: symmetric whenever adj is (no per-step check)
    return mark_symmetric(dropped, check=False) if is_marked_symmetric(adj) else dropped


class NGCF(nn.Module):
    r"""NGCF from `"Neural Graph Collaborative Filtering" <https://arxiv.org/abs/1905.08108>`_
    (Wang et al., SIGIR 2019):

    .. math::
        \mathbf{E}^{(k+1)} = \mathrm{LeakyReLU}\big((\tilde{\mathbf{A}} + \mathbf{I})\mathbf{E}^{(k)}
        \mathbf{W}_1^{(k)} + (\tilde{\mathbf{A}}\mathbf{E}^{(k)} \odot \mathbf{E}^{(k)})\mathbf{W}_2^{(k)}\big),
        \qquad \mathbf{e}_u = \mathbf{e}_u^{(0)} \,\|\, \bar{\mathbf{e}}_u^{(1)} \,\|\, \cdots \,\|\,
        \bar{\mathbf{e}}_u^{(K)}, \qquad s(u, i) = \mathbf{e}_u^\top \mathbf{e}_i

    with :math:`\tilde{\mathbf{A}} = \mathbf{D}^{-1/2}\mathbf{A}\mathbf{D}^{-1/2}` and
    :math:`\bar{\mathbf{e}}^{(k)} = \mathbf{e}^{(k)} / \|\mathbf{e}^{(k)}\|` (each layer's output is
    L2-normalised before it is combined, as the authors' code; the next layer gets it unnormalised).
    See :class:`~recsys_pyg.models.ngcf_conv.NGCFConv` for one layer.

    Args:
        num_users: number of users.
        num_items: number of items.
        embedding_dim: size of the layer-0 (ID) embeddings (default 64).
        num_layers: number of propagation layers :math:`K` (default 3).
        hidden_dims: output size of each layer, ``K`` numbers; ``None`` gives ``embedding_dim`` for
            each (default).
        message_dropout: dropout on each layer's output in training (default 0.1, as the code).
        node_dropout: probability of dropping each undirected user–item edge of the normalised
            adjacency in training, kept entries scaled by ``1 / (1 - p)`` (default 0.0, off as the code).
        combine: ``"concat"`` the layers' embeddings (the paper; output size
            ``embedding_dim + sum(hidden_dims)``) or take their ``"mean"`` (needs equal sizes) (default "concat").
        layer: ``"ngcf"`` (:class:`~recsys_pyg.models.ngcf_conv.NGCFConv`) or ``"mean_concat"``
            (:class:`~recsys_pyg.models.mean_concat_conv.MeanConcatConv`) (default "ngcf").

    Every weight, bias and embedding is Xavier-uniform initialised, as the authors' code.
    """

    def __init__(
        self,
        num_users: int,
        num_items: int,
        embedding_dim: int = 64,
        num_layers: int = 3,
        hidden_dims: Sequence[int] | None = None,
        message_dropout: float = 0.1,
        node_dropout: float = 0.0,
        combine: str = "concat",
        layer: str = "ngcf",
    ) -> None:
        super().__init__()
        check_sizes(num_users, num_items, embedding_dim)
        if int(num_layers) != num_layers or num_layers < 0:
            raise ValueError(f"num_layers must be a non-negative integer, got {num_layers!r}")
        dims = [embedding_dim] * int(num_layers) if hidden_dims is None else list(hidden_dims)
        if len(dims) != num_layers:
            raise ValueError(
                f"hidden_dims has {len(dims)} sizes but num_layers={num_layers}: give one size per layer "
                f"(or hidden_dims=None for embedding_dim={embedding_dim} each)"
            )
        if any(int(h) != h or h <= 0 for h in dims):
            raise ValueError(f"hidden_dims must be positive integers, got {dims}")
        for name, p in (("message_dropout", message_dropout), ("node_dropout", node_dropout)):
            if not 0.0 <= p < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {p}")
        if combine not in COMBINES:
            raise ValueError(f"unknown combine={combine!r}; choose one of {list(COMBINES)}")
        if layer not in LAYERS:
            raise ValueError(f"unknown layer={layer!r}; choose one of {list(LAYERS)}")
        if combine == "mean" and any(h != embedding_dim for h in dims):
            raise ValueError(
                f"combine='mean' averages the layers, so every hidden dim must equal embedding_dim={embedding_dim}, "
                f"got hidden_dims={dims}; use combine='concat' or equal sizes"
            )
        self.num_users, self.num_items, self.num_layers = num_users, num_items, int(num_layers)
        self.embedding_dim, self.hidden_dims = embedding_dim, [int(h) for h in dims]
        self.message_dropout, self.node_dropout = message_dropout, node_dropout
        self.combine, self.layer = combine, layer
        self.out_dim = embedding_dim if combine == "mean" else embedding_dim + sum(self.hidden_dims)
        self.embedding = nn.Embedding(num_users + num_items, embedding_dim)
        sizes = [embedding_dim, *self.hidden_dims]
        self.convs = nn.ModuleList(
            NGCFConv(d_in, d_out, message_dropout=message_dropout) if layer == "ngcf" else MeanConcatConv(d_in, d_out)
            for d_in, d_out in zip(sizes[:-1], sizes[1:])
        )
        # (graph, entry rows, undirected edge id per entry, number of edges) for node dropout
        self._edge_ids: tuple[weakref.ref[BipartiteGraph], Tensor, int] | None = None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # Xavier on the user and item tables separately, as the code's two (U, d) and (I, d) variables.
        bound_u = math.sqrt(6.0 / (self.num_users + self.embedding_dim))
        bound_i = math.sqrt(6.0 / (self.num_items + self.embedding_dim))
        with torch.no_grad():
            self.embedding.weight[: self.num_users].uniform_(-bound_u, bound_u)
            self.embedding.weight[self.num_users :].uniform_(-bound_i, bound_i)
        for conv in self.convs:
            conv.reset_parameters()

    def dropped_adj(self, graph: BipartiteGraph) -> Tensor:
        """``graph.adj`` after node dropout (a fresh draw per call); the edge ids are computed once per graph."""
        cached = self._edge_ids
        if cached is None or cached[0]() is not graph:
            self._edge_ids = cached = (weakref.ref(graph), *undirected_edge_ids(graph.adj))
        _, edge_id, num_edges = cached
        return drop_symmetric(graph.adj, edge_id, num_edges, self.node_dropout)

    def propagate(self, adj: Tensor) -> Tensor:
        """All node embeddings, ``(U + I, out_dim)``."""
        x = self.embedding.weight  # (N, d)
        layers = [x]
        for conv in self.convs:
            x = conv(x, adj)  # (N, d_k)
            if not isinstance(conv, NGCFConv):  # NGCFConv applies its own message dropout
                x = F.dropout(x, self.message_dropout, self.training)
            layers.append(F.normalize(x, dim=-1))
        return torch.cat(layers, dim=-1) if self.combine == "concat" else torch.stack(layers).mean(0)

    def forward(
        self, graph: BipartiteGraph, users: Tensor | None = None, items: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        """Embeddings of ``users`` ``(B, out_dim)`` and ``items`` ``(B', out_dim)`` (all of them when ``None``)."""
        adj = self.dropped_adj(graph) if self.training and self.node_dropout > 0 and self.convs else graph.adj
        out = self.propagate(adj)
        return select_nodes(out, self.num_users, users, items)

    def l2_penalty(self, users: Tensor, items: Tensor) -> Tensor:
        r"""L2 on the batch's layer-0 embeddings, :math:`\frac{1}{2B}\sum \|\mathbf{e}^{(0)}\|^2`, as the code."""
        return embedding_l2(self.embedding, users, items + self.num_users)

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_edge_ids"] = None  # a weak reference does not pickle; recomputed on demand
        return state

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}({self.num_users}, {self.num_items}, "
            f"embedding_dim={self.embedding_dim}, num_layers={self.num_layers}, hidden_dims={self.hidden_dims}, "
            f"combine={self.combine!r}, layer={self.layer!r})"
        )
