"""Train / validation / test splits of an interaction table."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from recsys_pyg.data.interactions import Interactions


@dataclass
class Split:
    """Three disjoint parts of one dataset, in one id space."""

    train: Interactions
    val: Interactions
    test: Interactions

    def __post_init__(self) -> None:
        sizes = {(p.num_users, p.num_items) for p in (self.train, self.val, self.test)}
        if len(sizes) != 1:
            raise ValueError(f"split parts disagree on (num_users, num_items): {sorted(sizes)}")
        if len(self.train) == 0:
            raise ValueError("the training split is empty: the dataset has too few interactions per user")


def _rank_within_user(data: Interactions, gen: torch.Generator) -> tuple[Tensor, Tensor, Tensor]:
    """Order by (user, time) with seeded tie-breaking; return (order, rank in user, user degree)."""
    order = torch.randperm(len(data), generator=gen)  # random tie-break among equal times
    if data.timestamp is not None:
        order = order[torch.argsort(data.timestamp[order], stable=True)]
    order = order[torch.argsort(data.user[order], stable=True)]
    user = data.user[order]
    degree = torch.bincount(user, minlength=data.num_users)
    start = torch.cumsum(degree, 0) - degree
    rank = torch.arange(len(data)) - start[user]
    return order, rank, degree[user]


def temporal_split(data: Interactions, val_fraction: float = 0.1, test_fraction: float = 0.2, seed: int = 0) -> Split:
    """Per-user temporal split: each user's last events are the test part, the ones before it validation.

    A user with ``n`` events gives ``round(n * test_fraction)`` to test and
    ``round(n * val_fraction)`` to validation, always keeping at least one event for training
    (so a user with a single event is training-only). Ties in time are broken by ``seed``;
    without timestamps the order is a seeded random one.
    """
    for name, value in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if not 0.0 <= value < 1.0:
            raise ValueError(f"{name} must lie in [0, 1), got {value}")
    if val_fraction + test_fraction >= 1.0:
        raise ValueError(f"val_fraction + test_fraction must be < 1, got {val_fraction + test_fraction}")
    order, rank, n = _rank_within_user(data, torch.Generator().manual_seed(seed))
    n_test = torch.minimum(torch.round(n * test_fraction).long(), n - 1)
    n_val = torch.minimum(torch.round(n * val_fraction).long(), n - 1 - n_test)
    is_test = rank >= n - n_test
    is_val = (rank >= n - n_test - n_val) & ~is_test
    is_train = ~(is_test | is_val)
    return Split(data.subset(order[is_train]), data.subset(order[is_val]), data.subset(order[is_test]))
