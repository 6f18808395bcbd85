"""The NGCF / LightGCN paper splits (gowalla, yelp2018, amazon-book) as a :class:`Split`.

X. Wang et al., "Neural Graph Collaborative Filtering", SIGIR 2019, https://arxiv.org/abs/1905.08108;
X. He et al., "LightGCN", SIGIR 2020, https://arxiv.org/abs/2002.02126.

A folder holds ``train.txt`` and ``test.txt`` (plain or ``.gz``), one line per user::

    user_id item_id item_id ...

0-based ids separated by spaces or tabs. Some lines carry a user id and no items (the
user still counts towards ``num_users``); blank lines are skipped.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor

from recsys_pyg.data.files import DataFileError, open_text, require_file
from recsys_pyg.data.interactions import Interactions
from recsys_pyg.data.split import Split

_LINE = "expected one line per user, 'user_id item_id item_id ...', with 0-based integer ids separated by spaces"


def _parse(path: Path) -> tuple[Tensor, Tensor, int]:
    """``(user, item, max_user_id)``: ``(E,)`` long tensors and the largest user id seen.

    Raises:
        DataFileError: a token is not a non-negative integer, or the file holds no line at all.
    """
    users: list[int] = []
    items: list[int] = []
    max_user = -1
    with open_text(path) as f:
        for lineno, line in enumerate(f, 1):
            tokens = line.split()
            if not tokens:
                continue
            try:
                ids = [int(t) for t in tokens]
            except ValueError:
                bad = next(t for t in tokens if not _is_int(t))
                raise DataFileError(
                    path, f"non-integer id {bad!r}; {_LINE}. Fix or delete the line, or download the file again", lineno
                ) from None
            if min(ids) < 0:
                problem = f"negative id {min(ids)}; {_LINE}. Fix or delete the line, or download the file again"
                raise DataFileError(path, problem, lineno)
            max_user = max(max_user, ids[0])
            users.extend([ids[0]] * (len(ids) - 1))
            items.extend(ids[1:])
    if max_user < 0:
        raise DataFileError(path, f"empty file: {_LINE}. Download it again, or point dataset.path at the right folder")
    return torch.tensor(users, dtype=torch.long), torch.tensor(items, dtype=torch.long), max_user


def _is_int(token: str) -> bool:
    try:
        int(token)
    except ValueError:
        return False
    return True


def parse_adjacency_lines(path: str | Path) -> tuple[Tensor, Tensor]:
    """Read an adjacency-list file (``user_id item_id item_id ...`` per line) into ``(E,)`` user and item tensors.

    Raises:
        DataFileError: a token is not a non-negative integer (the message names file and line), or the
            file is empty.
    """
    user, item, _ = _parse(Path(path))
    return user, item


def _carve_validation(train: Interactions, val_fraction: float, seed: int) -> tuple[Tensor, Tensor]:
    """Per-user random validation mask over ``train``: ``round(n * val_fraction)`` of each user's ``n`` items,
    at most ``n - 1``. Returns boolean ``(E,)`` masks ``(is_train, is_val)``."""
    gen = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(train), generator=gen)
    order = order[torch.argsort(train.user[order], stable=True)]  # grouped by user, random within
    user = train.user[order]
    degree = torch.bincount(user, minlength=train.num_users)
    rank = torch.arange(len(train)) - (torch.cumsum(degree, 0) - degree)[user]
    n = degree[user]
    n_val = torch.minimum(torch.round(n * val_fraction).long(), n - 1)
    is_val = torch.zeros(len(train), dtype=torch.bool)
    is_val[order[rank < n_val]] = True
    return ~is_val, is_val


def load_lightgcn_split(path: str | Path, val_fraction: float = 0.0, seed: int = 0) -> Split:
    """Load ``train.txt`` / ``test.txt`` from ``path`` as a :class:`Split`.

    Args:
        path: folder holding the two files.
        val_fraction: fraction of each user's training items moved (at random, seeded) to validation;
            every user keeps at least one training item. ``0`` gives an empty validation part.
        seed: seed of the validation draw.

    Returns:
        A split with ``num_users`` / ``num_items`` = largest id + 1 over both files; no timestamps.
    """
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must lie in [0, 1), got {val_fraction}")
    folder = Path(path)
    train_file, test_file = require_file(folder, "train.txt"), require_file(folder, "test.txt")
    tr_user, tr_item, tr_max = _parse(train_file)
    te_user, te_item, te_max = _parse(test_file)
    if tr_item.numel() == 0:
        raise DataFileError(
            train_file, "no interactions: every line has a user id and no items; download the file again"
        )
    num_users = max(tr_max, te_max) + 1
    num_items = int(torch.cat([tr_item, te_item]).max()) + 1
    train = Interactions(tr_user, tr_item, num_users, num_items)
    test = Interactions(te_user, te_item, num_users, num_items)
    if val_fraction == 0.0:
        return Split(train, train.subset(torch.zeros(len(train), dtype=torch.bool)), test)
    is_train, is_val = _carve_validation(train, val_fraction, seed)
    return Split(train.subset(is_train), train.subset(is_val), test)
