"""Interaction filters: k-core and minimum user activity, re-indexing ids contiguously.

After filtering, only the users / items that still have interactions keep an index;
``user_ids`` / ``item_ids`` and the feature matrices are sliced to match. When the input
carries no raw ids, the result's ``user_ids`` / ``item_ids`` are the *input* indices, so a
filtered table can always be mapped back.
"""

from __future__ import annotations

from dataclasses import replace

import torch
from torch import Tensor

from recsys_pyg.data.interactions import Interactions


def _reindex_side(
    index: Tensor, num: int, ids: list | None, features: Tensor | None
) -> tuple[Tensor, int, list, Tensor | None]:
    """Compact one side: ``(new index (E,), new count, raw ids (count,), features (count, F) or None)``."""
    kept = torch.unique(index)  # sorted, so relative order of ids is kept
    new_of_old = torch.full((num,), -1, dtype=torch.long)
    new_of_old[kept] = torch.arange(kept.numel())
    old = kept.tolist()
    raw = old if ids is None else [ids[i] for i in old]
    return new_of_old[index], kept.numel(), raw, None if features is None else features[kept]


def _compact(data: Interactions, users: bool = True, items: bool = True) -> Interactions:
    """Drop users (and/or items) without interactions and renumber the rest ``0..n-1``."""
    if len(data) == 0:
        raise ValueError("the filter removed every interaction: lower the thresholds (user_k / item_k / n)")
    changes: dict = {}
    for side, on in (("user", users), ("item", items)):
        if on:
            index, num, ids, feats = _reindex_side(
                getattr(data, side),
                getattr(data, f"num_{side}s"),
                getattr(data, f"{side}_ids"),
                getattr(data, f"{side}_features"),
            )
            changes.update({side: index, f"num_{side}s": num, f"{side}_ids": ids, f"{side}_features": feats})
            columns = getattr(data, f"{side}_columns")
            if columns is not None:  # raw feature columns follow their nodes
                kept = torch.unique(getattr(data, side)).tolist()
                changes[f"{side}_columns"] = {k: [v[i] for i in kept] for k, v in columns.items()}
    return replace(data, **changes)


def k_core(data: Interactions, user_k: int, item_k: int) -> Interactions:
    """The largest sub-table where every user has ``>= user_k`` and every item ``>= item_k`` interactions.

    Rows are removed repeatedly (one vectorised pass over all rows per round) until no
    degree falls below its threshold; users and items left without interactions are then
    dropped and the rest re-indexed. Repeated (user, item) rows each count towards degree.

    Raises:
        ValueError: nothing survives; the message says to lower the thresholds.
    """
    if user_k < 0 or item_k < 0:
        raise ValueError(f"user_k and item_k must be >= 0, got user_k={user_k}, item_k={item_k}")
    alive = torch.ones(len(data), dtype=torch.bool)
    while True:
        u_deg = torch.bincount(data.user[alive], minlength=data.num_users)  # (num_users,)
        i_deg = torch.bincount(data.item[alive], minlength=data.num_items)  # (num_items,)
        keep = alive & (u_deg[data.user] >= user_k) & (i_deg[data.item] >= item_k)  # (E,)
        if torch.equal(keep, alive):
            break
        alive = keep
    return _compact(data.subset(alive))


def min_user_interactions(data: Interactions, n: int) -> Interactions:
    """Keep the users with at least ``n`` interactions (one pass), re-indexing users only.

    Items keep their index space (and features), so this composes with pre-computed item data.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    degree = torch.bincount(data.user, minlength=data.num_users)  # (num_users,)
    return _compact(data.subset(degree[data.user] >= n), items=False)
