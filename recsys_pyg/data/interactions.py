"""A table of user–item interactions with contiguous integer ids."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import torch
from torch import Tensor


@dataclass
class Interactions:
    """User–item interactions: one row per event.

    Args:
        user: user index of each interaction, ``(E,)`` long, in ``[0, num_users)``.
        item: item index of each interaction, ``(E,)`` long, in ``[0, num_items)``.
        num_users: number of users (ids may be unused, e.g. cold users).
        num_items: number of items.
        timestamp: ``(E,)`` event times, or ``None``.
        rating: ``(E,)`` explicit ratings, or ``None``.
        user_ids / item_ids: raw ids for index ``i`` (to report in the user's own ids).
        user_features / item_features: node feature matrices ``(num_users, F)`` / ``(num_items, F)``.
        user_columns / item_columns: raw feature columns a loader brings (name -> one value per node,
            e.g. MovieLens titles), encoded after the split (:mod:`recsys_pyg.data.features`).
    """

    user: Tensor
    item: Tensor
    num_users: int
    num_items: int
    timestamp: Tensor | None = None
    rating: Tensor | None = None
    user_ids: list | None = field(default=None, repr=False)
    item_ids: list | None = field(default=None, repr=False)
    user_features: Tensor | None = field(default=None, repr=False)
    item_features: Tensor | None = field(default=None, repr=False)
    user_columns: dict[str, list] | None = field(default=None, repr=False)
    item_columns: dict[str, list] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        for name in ("user", "item"):
            ids = torch.as_tensor(getattr(self, name))
            if ids.is_floating_point() and not bool((torch.isfinite(ids) & (ids == ids.round())).all()):
                raise ValueError(f"{name} ids must be integers, got non-integer, NaN or infinite values")
            setattr(self, name, ids.long())
        if self.user.dim() != 1 or self.user.shape != self.item.shape:
            raise ValueError(
                f"user and item must be 1-D tensors of equal length, got shapes "
                f"{tuple(self.user.shape)} and {tuple(self.item.shape)}"
            )
        if self.num_users <= 0 or self.num_items <= 0:
            raise ValueError(
                f"an interaction dataset needs at least one user and one item, got "
                f"num_users={self.num_users}, num_items={self.num_items}"
            )
        for name, ids, n in (("user", self.user, self.num_users), ("item", self.item, self.num_items)):
            if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= n):
                raise ValueError(
                    f"{name} index out of range: found [{int(ids.min())}, {int(ids.max())}] but num_{name}s={n}"
                )
        for name in ("timestamp", "rating"):
            value = getattr(self, name)
            if value is None:
                continue
            if value.shape != self.user.shape:
                raise ValueError(f"{name} has shape {tuple(value.shape)}, expected {tuple(self.user.shape)}")
            if value.is_floating_point() and not bool(torch.isfinite(value).all()):
                bad = (~torch.isfinite(value)).nonzero().flatten()
                raise ValueError(
                    f"{name} has {bad.numel()} NaN or infinite values (the first at row {int(bad[0])}); "
                    f"drop or fill those rows first"
                )

    def __len__(self) -> int:
        return self.user.numel()

    def subset(self, mask_or_index: Tensor) -> Interactions:
        """The interactions selected by a boolean mask or an index, same id space."""
        return replace(
            self,
            user=self.user[mask_or_index],
            item=self.item[mask_or_index],
            timestamp=None if self.timestamp is None else self.timestamp[mask_or_index],
            rating=None if self.rating is None else self.rating[mask_or_index],
        )

    def deduplicate(self) -> Interactions:
        """Collapse repeated (user, item) pairs, keeping each pair's earliest event."""
        order = self.time_order()
        key = self.user[order] * self.num_items + self.item[order]
        # unique() sorts keys; the first occurrence in time order is the minimum position.
        _, inverse = torch.unique(key, return_inverse=True)
        pos = torch.arange(key.numel())
        first = torch.full((int(inverse.max()) + 1 if key.numel() else 0,), key.numel(), dtype=torch.long)
        first.scatter_reduce_(0, inverse, pos, reduce="amin")
        return self.subset(order[first.sort().values])

    def time_order(self) -> Tensor:
        """A permutation sorting interactions by time (stable; identity without timestamps)."""
        if self.timestamp is None:
            return torch.arange(len(self))
        return torch.argsort(self.timestamp, stable=True)
