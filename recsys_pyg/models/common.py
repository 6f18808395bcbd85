"""Helpers every embedding model uses: size checks, row selection and the batch L2 regulariser."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from recsys_pyg.data.graph import BipartiteGraph
from recsys_pyg.utils import positive_int


def check_sizes(num_users: int, num_items: int, embedding_dim: int) -> None:
    """Raise a clear error for impossible model sizes."""
    for name, value in (("num_users", num_users), ("num_items", num_items), ("embedding_dim", embedding_dim)):
        positive_int(name, value)


def select_nodes(out: Tensor, num_users: int, users: Tensor | None, items: Tensor | None) -> tuple[Tensor, Tensor]:
    """Rows of ``users`` and ``items`` from all node embeddings ``out`` ``(U + I, d)``; all of a side when ``None``."""
    user_emb, item_emb = out[:num_users], out[num_users:]
    return (
        user_emb if users is None else user_emb[users],
        item_emb if items is None else item_emb[items],
    )


def embedding_l2(embedding: nn.Embedding, users: Tensor, nodes: Tensor) -> Tensor:
    """Half the squared norm of the batch's embeddings, divided by the batch size ``len(users)``.

    Looked up through the module, so a ``sparse=True`` table gets a sparse gradient. A dense table asked for
    more rows than it has (hundreds of negatives per row) is weighted by each row's count instead: the same sum,
    without gathering ``len(nodes) x d`` copies (nor their backward).
    """
    # one lookup for both: each lookup's backward writes a whole (N, d) dense gradient (4.5M floats on Gowalla)
    return 0.5 * _squared_norms(embedding, torch.cat([users, nodes])) / max(users.numel(), 1)


def _squared_norms(embedding: nn.Embedding, ids: Tensor) -> Tensor:
    """``sum_j ||E[ids_j]||^2``, through the module or by the rows' counts (same value and gradient)."""
    if embedding.sparse or ids.numel() <= embedding.num_embeddings:
        return embedding(ids).pow(2).sum()
    weight = embedding.weight
    counts = torch.zeros(weight.shape[0], device=weight.device, dtype=weight.dtype)
    counts.index_add_(0, ids, torch.ones_like(ids, dtype=weight.dtype))  # (N,): no data-dependent size
    return (counts * weight.pow(2).sum(1)).sum()


def check_graph(model: nn.Module, graph: BipartiteGraph) -> None:
    """A fit-only model is fitted on the graph of the sizes it was built for (a clear error otherwise)."""
    if (graph.num_users, graph.num_items) != (model.num_users, model.num_items):
        raise ValueError(f"graph has {graph.num_users} x {graph.num_items} nodes, the model "
                         f"{model.num_users} x {model.num_items}: build the model from the same data")  # fmt: skip
