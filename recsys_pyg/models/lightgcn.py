"""LightGCN: embeddings smoothed by parameter-free propagation over the user–item graph."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from recsys_pyg.data.graph import BipartiteGraph
from recsys_pyg.data.neighbor_sampling import check_max_hop_nodes, sample_subgraph
from recsys_pyg.models.common import check_sizes, embedding_l2, select_nodes
from recsys_pyg.models.lightgcn_conv import LightGCNConv


class LightGCN(nn.Module):
    r"""LightGCN from `"LightGCN: Simplifying and Powering Graph Convolution Network
    for Recommendation" <https://arxiv.org/abs/2002.02126>`_ (He et al., SIGIR 2020):

    .. math::
        \mathbf{E}^{(k+1)} = \tilde{\mathbf{A}} \mathbf{E}^{(k)}, \qquad
        \mathbf{E} = \sum_{k=0}^{K} \alpha_k \mathbf{E}^{(k)}, \qquad
        s(u, i) = \mathbf{e}_u^\top \mathbf{e}_i

    with :math:`\tilde{\mathbf{A}} = \mathbf{D}^{-1/2}\mathbf{A}\mathbf{D}^{-1/2}` the
    symmetric normalised adjacency of the bipartite graph (users, then items).

    Args:
        num_users: number of users.
        num_items: number of items.
        embedding_dim: size of each embedding (default 64).
        num_layers: number of propagation layers :math:`K` (default 3).
        alpha: layer weights :math:`\alpha_k`, a list of ``K + 1`` numbers or one number for
            every layer; ``None`` gives :math:`1 / (K + 1)` each (default).
        init_std: standard deviation of the normal initialisation (default 0.1, as the paper's code).
        fanout: neighbours sampled per node at each hop during training, ``K`` numbers (e.g.
            ``[10, 10, 10]``); each batch then propagates over its seeds' sampled subgraph
            (:mod:`recsys_pyg.data.neighbor_sampling`), so a batch costs the same on any graph
            size and an epoch grows linearly with the edges. Evaluation always propagates the
            whole graph exactly. ``None`` propagates the whole graph in every batch, the
            paper's exact training (default).
        max_hop_nodes: with ``fanout``, at most this many new nodes per hop beyond the first,
            kept uniformly and reweighted so the estimate stays unbiased; it bounds a batch's
            subgraph on any graph (``None``: no cap, default).
        sparse: sparse gradients for the embedding table, with ``fanout`` only (pair with
            ``optimizer=mixed_adam``): a step then updates only the subgraph's rows, not the
            whole table (default ``False``).
        generator: with ``fanout``, the source of the sampled neighbourhoods' draws: the run's seeded
            generator, on the run's device, so a run's subgraphs follow its seed and torch's global
            random state is left alone (``None``: torch's default generator, default).
    """

    def __init__(
        self,
        num_users: int,
        num_items: int,
        embedding_dim: int = 64,
        num_layers: int = 3,
        alpha: float | Sequence[float] | None = None,
        init_std: float = 0.1,
        fanout: Sequence[int] | None = None,
        max_hop_nodes: int | None = None,
        sparse: bool = False,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        check_sizes(num_users, num_items, embedding_dim)
        if int(num_layers) != num_layers or num_layers < 0:
            raise ValueError(f"num_layers must be a non-negative integer, got {num_layers!r}")
        self.num_users, self.num_items, self.num_layers = num_users, num_items, num_layers
        self.init_std = init_std
        if alpha is None:
            weights = torch.full((num_layers + 1,), 1.0 / (num_layers + 1))
        elif isinstance(alpha, (int, float)):
            weights = torch.full((num_layers + 1,), float(alpha))
        else:
            weights = torch.tensor(list(alpha), dtype=torch.float)
            if weights.numel() != num_layers + 1:
                raise ValueError(f"alpha needs num_layers + 1 = {num_layers + 1} weights, got {weights.numel()}")
        self.register_buffer("alpha", weights)
        if fanout is not None:
            if len(fanout) != num_layers or any(int(f) != f or f <= 0 for f in fanout):
                raise ValueError(f"fanout needs num_layers = {num_layers} positive integers, got {list(fanout)}")
        elif sparse:
            raise ValueError("sparse=True needs a fanout: full-graph propagation gives every row a gradient")
        check_max_hop_nodes(max_hop_nodes)
        self.fanout = None if fanout is None else [int(f) for f in fanout]
        self.max_hop_nodes, self.generator = max_hop_nodes, generator
        self.embedding = nn.Embedding(num_users + num_items, embedding_dim, sparse=sparse)
        self.conv = LightGCNConv()
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.normal_(self.embedding.weight, std=self.init_std)

    def propagate(self, adj: Tensor) -> Tensor:
        """All node embeddings :math:`\\sum_k \\alpha_k \\tilde{A}^k E^{(0)}`, ``(U + I, d)``."""
        x = self.embedding.weight
        out = x * self.alpha[0]
        for k in range(1, self.num_layers + 1):
            x = self.conv(x, adj)
            out = out + x * self.alpha[k]
        return out

    def forward(
        self, graph: BipartiteGraph, users: Tensor | None = None, items: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        """Embeddings of ``users`` ``(B, d)`` and ``items`` ``(B', d)`` (all of them when ``None``).

        In training mode with a ``fanout``, over the batch's sampled subgraph; otherwise exact.
        """
        if self.fanout is not None and self.training and users is not None and items is not None:
            return self.sampled_forward(graph, users, items)
        out = self.propagate(graph.adj)
        return select_nodes(out, self.num_users, users, items)

    def sampled_forward(self, graph: BipartiteGraph, users: Tensor, items: Tensor) -> tuple[Tensor, Tensor]:
        """The batch's embeddings propagated over its neighbour-sampled subgraph (see ``fanout``)."""
        assert self.fanout is not None
        seeds, inverse = torch.unique(torch.cat([users, items + self.num_users]), return_inverse=True)
        sub = sample_subgraph(graph.adj, seeds, self.fanout, self.max_hop_nodes, self.generator)
        # the seeds' rows looked up on their own: slicing them out of x would make autograd fill an (n, d) zero grad
        out = self.embedding(seeds) * self.alpha[0]  # (S, d)
        x = self.embedding(sub.nodes)  # (n, d): sparse gradients touch the subgraph's rows only
        for k, (block, block_t) in enumerate(zip(sub.blocks, sub.blocks_t), start=1):
            x = self.conv(x, block, transpose=block_t)  # rows still needed by later layers only
            out = out + x[: sub.num_seeds] * self.alpha[k]
        out = out[inverse]  # (B + B', d)
        return out[: users.numel()], out[users.numel() :]

    def l2_penalty(self, users: Tensor, items: Tensor) -> Tensor:
        r"""L2 on the batch's layer-0 embeddings, :math:`\frac{1}{2B}\sum \|\mathbf{e}^{(0)}\|^2`, as in the paper."""
        return embedding_l2(self.embedding, users, items + self.num_users)

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}({self.num_users}, {self.num_items}, "
            f"embedding_dim={self.embedding.embedding_dim}, num_layers={self.num_layers}"
            + ("" if self.fanout is None else f", fanout={self.fanout}")
            + ")"
        )
