"""Matrix factorisation: the shallow embedding baseline."""

from __future__ import annotations

import warnings

import torch
from torch import Tensor, nn

from recsys_pyg.data.graph import BipartiteGraph
from recsys_pyg.models.common import check_sizes, embedding_l2, select_nodes


class MF(nn.Module):
    r"""Matrix factorisation (Koren et al., 2009) trained on implicit feedback (BPR, Rendle et al., 2009):

    .. math::
        s(u, i) = \mathbf{e}_u^\top \mathbf{e}_i

    Args:
        num_users: number of users.
        num_items: number of items.
        embedding_dim: size of each embedding (default 64).
        num_layers: accepted so that a sweep over LightGCN's depth can include MF as its
            ``K = 0`` case; MF has no propagation, so every value gives the same model (default 0).
        init_std: standard deviation of the normal initialisation (default 0.1).
        sparse: sparse gradients for the embedding table (pair with ``optimizer=mixed_adam``): a step
            then touches only the batch's rows (default ``False``).
    """

    def __init__(
        self,
        num_users: int,
        num_items: int,
        embedding_dim: int = 64,
        num_layers: int = 0,
        init_std: float = 0.1,
        sparse: bool = False,
    ) -> None:
        super().__init__()
        check_sizes(num_users, num_items, embedding_dim)
        if num_layers:
            warnings.warn(
                f"MF has no propagation layers: num_layers={num_layers} gives the same model as 0", stacklevel=2
            )
        self.num_users, self.num_items = num_users, num_items
        self.init_std = init_std
        self.embedding = nn.Embedding(num_users + num_items, embedding_dim, sparse=sparse)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.normal_(self.embedding.weight, std=self.init_std)

    def forward(
        self, graph: BipartiteGraph | None = None, users: Tensor | None = None, items: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        """Embeddings of ``users`` ``(B, d)`` and ``items`` ``(B', d)`` (all of them when ``None``)."""
        if users is not None and items is not None:  # a batch: look up rows (sparse-gradient friendly)
            # one lookup: each one's backward writes a dense (N, d) gradient, the bulk of a CPU step's time
            rows = self.embedding(torch.cat([users, items + self.num_users]))  # (B + B', d)
            return rows[: users.numel()], rows[users.numel() :]
        return select_nodes(self.embedding.weight, self.num_users, users, items)

    def l2_penalty(self, users: Tensor, items: Tensor) -> Tensor:
        r""":math:`\frac{1}{2B}(\sum_u \|\mathbf{e}_u\|^2 + \sum_i \|\mathbf{e}_i\|^2)` over the batch's rows."""
        return embedding_l2(self.embedding, users, items + self.num_users)

    def __repr__(self) -> str:
        dim = self.embedding.embedding_dim
        return f"{self.__class__.__name__}({self.num_users}, {self.num_items}, embedding_dim={dim})"
