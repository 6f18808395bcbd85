"""Train / validation / test splits of an interaction table.

Every protocol is seeded and returns three disjoint parts in one id space; validation is
carved from the training side the same way the test part is.

- :func:`temporal_split`: per user, the last fraction of events (by time) is test, the
  fraction before it validation.
- :func:`random_split`: the same per-user ratios, events drawn at random.
- :func:`leave_one_out`: per user, one event for test and one for validation, the last or
  a random one.
- :func:`global_temporal_split`: one cut-off time for everyone (as a time or as a quantile
  of all events); test users without training history are cold-start (:meth:`Split.cold_start`).
- ``given``: the data comes pre-split (see :mod:`recsys_pyg.data.lightgcn_format`).
- :func:`~recsys_pyg.data.cold_items.cold_item_split`: a fraction of items held out whole
  (cold-start items, listed in :attr:`Split.cold`), the rest split per user as ``temporal``.
"""

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
    cold: dict[str, Tensor] | None = None  # part (val, test) -> its cold items: held out whole, none in training

    def __post_init__(self) -> None:
        sizes = {(p.num_users, p.num_items) for p in (self.train, self.val, self.test)}
        if len(sizes) != 1:
            raise ValueError(f"split parts disagree on (num_users, num_items): {sorted(sizes)}")
        if len(self.train) == 0:
            raise ValueError("the training split is empty: the dataset has too few interactions per user")

    def cold_start(self, part: str) -> Tensor:
        """Users with held-out events in ``part`` (val or test) but no training event."""
        held = getattr(self, part).user.unique()
        has_train = torch.zeros(self.train.num_users, dtype=torch.bool)
        has_train[self.train.user] = True
        return held[~has_train[held]]


def _check_fractions(val_fraction: float, test_fraction: float) -> None:
    for name, value in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if not 0.0 <= value < 1.0:
            raise ValueError(f"{name} must lie in [0, 1), got {value}")
    if val_fraction + test_fraction >= 1.0:
        raise ValueError(f"val_fraction + test_fraction must be < 1, got {val_fraction + test_fraction}")


def _rank_within_user(data: Interactions, by_time: bool, seed: int) -> tuple[Tensor, Tensor, Tensor]:
    """Order events by (user, time) — or (user, random) — with seeded tie-breaking.

    Returns the order ``(E,)``, each ordered event's rank within its user ``(E,)`` and its
    user's event count ``(E,)``.
    """
    order = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))
    if by_time and data.timestamp is not None:
        order = order[torch.argsort(data.timestamp[order], stable=True)]
    order = order[torch.argsort(data.user[order], stable=True)]
    user = data.user[order]
    degree = torch.bincount(user, minlength=data.num_users)
    start = torch.cumsum(degree, 0) - degree
    rank = torch.arange(len(data)) - start[user]
    return order, rank, degree[user]


def _tail_split(data: Interactions, by_time: bool, seed: int, n_test_of, n_val_of) -> Split:
    """Per user, the last ``n_test`` ordered events are test and the ``n_val`` before them validation;
    every user keeps at least one training event."""
    order, rank, n = _rank_within_user(data, by_time, seed)
    n_test = torch.minimum(n_test_of(n), n - 1).clamp(min=0)
    n_val = torch.minimum(n_val_of(n), n - 1 - n_test).clamp(min=0)
    is_test = rank >= n - n_test
    is_val = (rank >= n - n_test - n_val) & ~is_test
    is_train = ~(is_test | is_val)
    return Split(data.subset(order[is_train]), data.subset(order[is_val]), data.subset(order[is_test]))


def _ratio_split(data: Interactions, val_fraction: float, test_fraction: float, seed: int, by_time: bool) -> Split:
    """Per user, ``round(n * test_fraction)`` events to test and ``round(n * val_fraction)`` to validation."""
    _check_fractions(val_fraction, test_fraction)
    return _tail_split(
        data,
        by_time,
        seed,
        lambda n: torch.round(n * test_fraction).long(),
        lambda n: torch.round(n * val_fraction).long(),
    )


def temporal_split(data: Interactions, val_fraction: float = 0.1, test_fraction: float = 0.2, seed: int = 0) -> Split:
    """Per-user temporal split: each user's last events are test, the ones before them validation.

    A user with ``n`` events gives ``round(n * test_fraction)`` to test and
    ``round(n * val_fraction)`` to validation, always keeping at least one event for training
    (a user with a single event is training-only). Ties in time are broken by ``seed``;
    without timestamps the order is a seeded random one.
    """
    return _ratio_split(data, val_fraction, test_fraction, seed, by_time=True)


def random_split(data: Interactions, val_fraction: float = 0.1, test_fraction: float = 0.2, seed: int = 0) -> Split:
    """Per-user random split with the same counts as :func:`temporal_split` (time ignored)."""
    return _ratio_split(data, val_fraction, test_fraction, seed, by_time=False)


def leave_one_out(data: Interactions, mode: str = "last", validation: bool = True, seed: int = 0) -> Split:
    """Per user, one event for test and (with ``validation``) one for validation.

    ``mode="last"`` takes the latest events (NCF / SASRec protocol), ``"random"`` seeded random ones.
    Users keep at least one training event: a user with two events gives only a test event.
    """
    if mode not in ("last", "random"):
        raise ValueError(f"leave_one_out mode must be 'last' or 'random', got {mode!r}")
    one = lambda n: torch.ones_like(n)  # noqa: E731
    return _tail_split(data, mode == "last", seed, one, one if validation else torch.zeros_like)


def global_temporal_split(
    data: Interactions,
    val_fraction: float = 0.1,
    test_fraction: float = 0.2,
    val_cutoff: float | None = None,
    test_cutoff: float | None = None,
) -> Split:
    """One cut-off time for all users: events at or after ``test_cutoff`` are test, those in
    ``[val_cutoff, test_cutoff)`` validation.

    Cut-offs default to the quantiles of all event times that leave ``test_fraction`` and
    ``val_fraction`` of the events after them. Users first seen after a cut-off are cold-start.
    """
    if data.timestamp is None:
        raise ValueError("global_temporal_split needs timestamps; this dataset has none (use random_split)")
    _check_fractions(val_fraction, test_fraction)
    t = data.timestamp.double()
    ordered = t.sort().values

    def quantile(q: float) -> float:  # torch.quantile refuses inputs over 2**24 events
        return float(ordered[min(int(q * len(ordered)), len(ordered) - 1)])

    if test_cutoff is None:
        test_cutoff = quantile(1.0 - test_fraction) if test_fraction else float("inf")
    if val_cutoff is None:
        val_cutoff = quantile(1.0 - test_fraction - val_fraction) if val_fraction else test_cutoff
    if val_cutoff > test_cutoff:
        raise ValueError(f"val_cutoff={val_cutoff} must not be after test_cutoff={test_cutoff}")
    is_test = t >= test_cutoff
    is_val = (t >= val_cutoff) & ~is_test
    return Split(data.subset(~(is_test | is_val)), data.subset(is_val), data.subset(is_test))
