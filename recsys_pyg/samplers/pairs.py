"""Training pairs as sorted integer keys ``user * I + item``: "is this pair a positive?" by binary search.

Used by every sampler that masks or rejects a user's own positives (shared, popularity, in-batch).
"""

from __future__ import annotations

import torch
from torch import Tensor

from recsys_pyg.data.graph import BipartiteGraph


def edge_keys(graph: BipartiteGraph) -> Tensor:
    """``user * I + item`` of every training edge, ``(E,)``, sorted (the edges are sorted by user, then item)."""
    return graph.user * graph.num_items + graph.item


def is_positive(keys: Tensor, num_items: int, users: Tensor, items: Tensor) -> Tensor:
    """Whether each ``(user, item)`` pair is a training edge; ``users`` and ``items`` broadcast.

    One binary search per pair in the sorted :func:`edge_keys` ``keys``: no Python loop, no dense matrix.
    """
    query = users * num_items + items  # broadcast shape, e.g. (B, S) or (B, k)
    if keys.numel() == 0:
        return torch.zeros_like(query, dtype=torch.bool)
    pos = torch.searchsorted(keys, query).clamp_max_(keys.numel() - 1)
    return keys[pos] == query
