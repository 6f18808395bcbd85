"""The cold-start protocol: items held out whole, so that validation and test rank items training never saw.

:func:`cold_item_split` picks ``cold_fraction`` of the items (at random, or the last ones to appear:
those first seen after a time cut) and moves every interaction of theirs out of training: the first
``cold_val_share`` of them (in time order for ``by="time"``) to validation, the others to test. The
remaining (warm) interactions are split per user as :func:`~recsys_pyg.data.split.temporal_split`, so
warm items are evaluated too. The split lists each part's cold items in ``Split.cold``; the metrics
of the two groups are reported apart (:mod:`recsys_pyg.cold_start`).
"""

from __future__ import annotations

from dataclasses import replace

import torch
from torch import Tensor

from recsys_pyg.data.interactions import Interactions
from recsys_pyg.data.split import Split, temporal_split

BY = ("random", "time")


def _concat(a: Interactions, b: Interactions) -> Interactions:
    """The rows of ``a`` then ``b`` (same id space)."""

    def cat(x: Tensor | None, y: Tensor | None) -> Tensor | None:
        return None if x is None or y is None else torch.cat([x, y])

    return replace(a, user=torch.cat([a.user, b.user]), item=torch.cat([a.item, b.item]),
                   timestamp=cat(a.timestamp, b.timestamp), rating=cat(a.rating, b.rating))  # fmt: skip


def first_seen(data: Interactions) -> Tensor:
    """Each item's first event time ``(I,)`` float64 (``inf`` for an item without events)."""
    assert data.timestamp is not None
    first = torch.full((data.num_items,), float("inf"), dtype=torch.float64)
    return first.scatter_reduce_(0, data.item, data.timestamp.double(), reduce="amin")


def cold_item_split(
    data: Interactions,
    cold_fraction: float = 0.2,
    by: str = "random",
    cold_val_share: float = 0.5,
    val_fraction: float = 0.1,
    test_fraction: float = 0.2,
    seed: int = 0,
) -> Split:
    """Hold out ``cold_fraction`` of the items with all their interactions; split the rest per user.

    Args:
        data: the interactions.
        cold_fraction: share of the items with interactions to hold out (``0 < cold_fraction < 1``).
        by: ``random`` (a seeded random set) or ``time`` (the items first seen last: those after the
            time cut that leaves ``cold_fraction`` of the items after it).
        cold_val_share: share of the cold items whose interactions go to validation (the earliest
            ones for ``by="time"``); the others go to test.
        val_fraction, test_fraction, seed: the per-user temporal split of the warm interactions.

    Returns:
        A :class:`Split` whose training part has no interaction of a cold item, and whose ``cold``
        maps ``val`` and ``test`` to their cold items (sorted).
    """
    if not 0.0 < cold_fraction < 1.0:
        raise ValueError(f"cold_fraction must lie in (0, 1), got {cold_fraction}")
    if not 0.0 <= cold_val_share <= 1.0:
        raise ValueError(f"cold_val_share must lie in [0, 1], got {cold_val_share}")
    if by not in BY:
        raise ValueError(f"by must be one of {list(BY)}, got {by!r}")
    gen = torch.Generator().manual_seed(seed)
    present = torch.unique(data.item)  # (n,)
    order = present[torch.randperm(present.numel(), generator=gen)]  # seeded: the random draw, or time ties
    if by == "time":
        if data.timestamp is None:
            raise ValueError("cold_item_split(by='time') needs timestamps; this dataset has none (use by=random)")
        order = order[torch.argsort(first_seen(data)[order], stable=True)]  # first seen, earliest first
    n_cold = max(1, round(cold_fraction * present.numel()))
    if n_cold >= present.numel():
        raise ValueError(f"cold_fraction={cold_fraction} leaves no warm item among {present.numel()}")
    cold = order[present.numel() - n_cold :] if by == "time" else order[:n_cold]
    n_val = round(cold_val_share * n_cold)
    cold_val, cold_test = cold[:n_val], cold[n_val:]
    part_of = torch.zeros(data.num_items, dtype=torch.long)  # 0 warm, 1 cold validation, 2 cold test
    part_of[cold_val], part_of[cold_test] = 1, 2
    where = part_of[data.item]
    warm = temporal_split(data.subset(where == 0), val_fraction, test_fraction, seed)
    return Split(
        warm.train,
        _concat(warm.val, data.subset(where == 1)),
        _concat(warm.test, data.subset(where == 2)),
        cold={"val": cold_val.sort().values, "test": cold_test.sort().values},
    )
