"""Helpers every embedding model uses: size checks, row selection and the batch L2 regulariser."""

from __future__ import annotations

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

    Looked up through the module, so a ``sparse=True`` table gets a sparse gradient.
    """
    return 0.5 * (embedding(users).pow(2).sum() + embedding(nodes).pow(2).sum()) / max(users.numel(), 1)


def check_graph(model: nn.Module, graph: BipartiteGraph) -> None:
    """A fit-only model is fitted on the graph of the sizes it was built for (a clear error otherwise)."""
    if (graph.num_users, graph.num_items) != (model.num_users, model.num_items):
        raise ValueError(f"graph has {graph.num_users} x {graph.num_items} nodes, the model "
                         f"{model.num_users} x {model.num_items}: build the model from the same data")  # fmt: skip
