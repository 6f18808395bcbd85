"""MovieLens 100K and 1M (GroupLens) as implicit-feedback :class:`Interactions`.

F. M. Harper and J. A. Konstan, "The MovieLens Datasets: History and Context",
ACM TiiS 2015. https://grouplens.org/datasets/movielens/

Each file may be plain or gzipped (``u.data`` or ``u.data.gz``). Ratings at or above
``threshold`` become positive interactions; users and items are indexed over *all*
ratings, so thresholding never changes ``num_users`` / ``num_items`` (users whose ratings
are all low become cold users).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor

from recsys_pyg.data.files import DataFileError, open_text, require_file, resolve_file
from recsys_pyg.data.interactions import Interactions

ML1M_GENRES = tuple(
    "Action|Adventure|Animation|Children's|Comedy|Crime|Documentary|Drama|Fantasy|"
    "Film-Noir|Horror|Musical|Mystery|Romance|Sci-Fi|Thriller|War|Western".split("|")
)
ML1M_OCCUPATIONS = 21  # occupation codes 0..20 in users.dat
ENCODING = "latin-1"

_YEAR = re.compile(r"\((\d{4})\)\s*$")
_FIX = "fix or delete the line, or download the file again"


def _int(text: str, what: str, path: Path, line: int) -> int:
    try:
        return int(text)
    except ValueError:
        raise DataFileError(path, f"{what} {text!r} is not an integer; {_FIX}", line) from None


def _finite(text: str, what: str, path: Path, line: int) -> float:
    try:
        value = float(text)
    except ValueError:
        raise DataFileError(path, f"{what} {text!r} is not a number; {_FIX}", line) from None
    if not math.isfinite(value):
        raise DataFileError(path, f"{what} {text!r} is not a finite number (NaN or infinite); {_FIX}", line)
    return value


def _read_ratings(path: Path, split: Callable[[str], list[str]]) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Parse ``user item rating timestamp`` rows into ``(E,)`` tensors of raw ids, ratings and times."""
    users: list[int] = []
    items: list[int] = []
    ratings: list[float] = []
    times: list[int] = []
    with open_text(path, ENCODING) as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            parts = split(line.strip())
            if len(parts) != 4:
                problem = f"expected 4 fields (user, item, rating, timestamp), got {len(parts)} in {line.strip()!r}"
                raise DataFileError(path, f"{problem}; {_FIX}", lineno)
            try:  # the fast path; on failure, name the field at fault
                user, item, rating, time = int(parts[0]), int(parts[1]), float(parts[2]), int(parts[3])
            except ValueError:
                _int(parts[0], "user id", path, lineno)
                _int(parts[1], "item id", path, lineno)
                _finite(parts[2], "rating", path, lineno)
                _int(parts[3], "timestamp", path, lineno)
                raise
            if not math.isfinite(rating):
                _finite(parts[2], "rating", path, lineno)
            users.append(user)
            items.append(item)
            ratings.append(rating)
            times.append(time)
    if not users:
        raise DataFileError(path, "no ratings: the file is empty; download it again or point dataset.path elsewhere")
    return (
        torch.tensor(users, dtype=torch.long),
        torch.tensor(items, dtype=torch.long),
        torch.tensor(ratings, dtype=torch.float32),
        torch.tensor(times, dtype=torch.long),
    )


def _build(
    raw_user: Tensor, raw_item: Tensor, rating: Tensor, timestamp: Tensor, threshold: float | None
) -> Interactions:
    """Index raw ids (sorted) over all rows, then keep the rows with ``rating >= threshold``."""
    user_ids, user = torch.unique(raw_user, return_inverse=True)
    item_ids, item = torch.unique(raw_item, return_inverse=True)
    data = Interactions(
        user,
        item,
        user_ids.numel(),
        item_ids.numel(),
        timestamp=timestamp,
        rating=rating,
        user_ids=user_ids.tolist(),
        item_ids=item_ids.tolist(),
    )
    return data if threshold is None else data.subset(rating >= threshold)


def _minmax(values: list[float | None]) -> Tensor:
    """Scale known values to ``[0, 1]``; unknown ones (``None``) get the mean of the known. ``(N,)``."""
    known = [v for v in values if v is not None]
    if not known:
        return torch.zeros(len(values))
    low, high = min(known), max(known)
    scale = (high - low) or 1.0
    fill = (sum(known) / len(known) - low) / scale
    return torch.tensor([fill if v is None else (v - low) / scale for v in values], dtype=torch.float32)


def _index(ids: list[int]) -> dict[int, int]:
    return {raw: i for i, raw in enumerate(ids)}


def _ml100k_item_features(path: Path, item_ids: list[int]) -> tuple[Tensor, list[str]]:
    """``(num_items, 20)``: the 19 genre flags of ``u.item`` and the min-max scaled release year; and
    each item's title (``""`` for an item without a row)."""
    index = _index(item_ids)
    genres = torch.zeros(len(item_ids), 19)
    years: list[float | None] = [None] * len(item_ids)
    titles = [""] * len(item_ids)
    with open_text(path, ENCODING) as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            parts = line.rstrip("\r\n").split("|")
            if len(parts) != 24:
                raise DataFileError(path, f"expected 24 '|'-separated fields, got {len(parts)}", lineno)
            row = index.get(_int(parts[0], "movie id", path, lineno))
            flags = [_finite(x, "genre flag", path, lineno) for x in parts[5:]]
            if row is None:  # a movie nobody rated
                continue
            genres[row] = torch.tensor(flags)
            titles[row] = parts[1].strip()
            date = parts[2].strip()
            years[row] = float(date[-4:]) if date[-4:].isdigit() else None
    return torch.cat([genres, _minmax(years)[:, None]], dim=1), titles


def _ml100k_user_features(path: Path, user_ids: list[int], occupations: list[str] | None) -> Tensor:
    """``(num_users, 2 + num_occupations)``: scaled age, gender flag (1 = M), one-hot occupation."""
    index = _index(user_ids)
    rows: dict[int, tuple[float, float, str]] = {}
    with open_text(path, ENCODING) as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            parts = line.strip().split("|")
            if len(parts) != 5:
                problem = f"expected 5 '|'-separated fields (id|age|gender|occupation|zip), got {len(parts)}"
                raise DataFileError(path, problem, lineno)
            uid, age = _int(parts[0], "user id", path, lineno), _finite(parts[1], "age", path, lineno)
            if uid in index:
                rows[index[uid]] = (age, float(parts[2].upper() == "M"), parts[3].strip())
    vocab = occupations or sorted({r[2] for r in rows.values()})
    slot = {name: j for j, name in enumerate(vocab)}
    for row, (_, _, occ) in rows.items():
        if occ not in slot:
            raise DataFileError(path, f"occupation {occ!r} of user {user_ids[row]} is not in u.occupation")
    feats = torch.zeros(len(user_ids), 2 + len(vocab))
    feats[:, 0] = _minmax([rows[i][0] if i in rows else None for i in range(len(user_ids))])
    for row, (_, male, occ) in rows.items():
        feats[row, 1] = male
        feats[row, 2 + slot[occ]] = 1.0
    return feats


def load_ml100k(path: str | Path, threshold: float | None = 4.0, features: bool = True) -> Interactions:
    """Load GroupLens ML-100K from a folder holding ``u.data`` (and optionally ``u.item``, ``u.user``).

    Args:
        path: folder with the ml-100k files, plain or ``.gz``.
        threshold: keep ratings ``>= threshold`` as interactions; ``None`` keeps all 100,000.
        features: build ``item_features`` ``(num_items, 19 genres + 1 scaled year)`` from ``u.item`` and
            ``user_features`` ``(num_users, scaled age + gender + one-hot occupation)`` from ``u.user``
            (occupations ordered as in ``u.occupation`` when present), and the raw titles as
            ``item_columns["title"]`` (a text column). Missing files give ``None``.

    Returns:
        Interactions with 943 users and 1,682 items on the real data; ``user_ids``/``item_ids``
        are the raw 1-based ids, ``rating`` and ``timestamp`` (unix seconds) are kept.
    """
    folder = Path(path)
    data = _build(*_read_ratings(require_file(folder, "u.data"), str.split), threshold)
    assert data.user_ids is not None and data.item_ids is not None
    if features:
        item_file, user_file = resolve_file(folder, "u.item"), resolve_file(folder, "u.user")
        if item_file is not None:
            data.item_features, titles = _ml100k_item_features(item_file, data.item_ids)
            data.item_columns = {"title": titles}  # text, encoded after the split (fitted on training items)
        if user_file is not None:
            occ_file = resolve_file(folder, "u.occupation")
            occupations = None
            if occ_file is not None:
                with open_text(occ_file, ENCODING) as f:
                    occupations = [line.strip() for line in f if line.strip()]
            data.user_features = _ml100k_user_features(user_file, data.user_ids, occupations)
    return data


def _split_colons(line: str) -> list[str]:
    return line.split("::")


def _ml1m_item_features(path: Path, item_ids: list[int]) -> tuple[Tensor, list[str]]:
    """``(num_items, 19)``: 18 genre flags from ``movies.dat`` and the scaled year from the title; the titles."""
    index = _index(item_ids)
    slot = {g: j for j, g in enumerate(ML1M_GENRES)}
    genres = torch.zeros(len(item_ids), len(ML1M_GENRES))
    years: list[float | None] = [None] * len(item_ids)
    titles = [""] * len(item_ids)
    with open_text(path, ENCODING) as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            parts = line.rstrip("\r\n").split("::")
            if len(parts) < 3:
                raise DataFileError(path, f"expected MovieID::Title::Genres, got {line.strip()!r}", lineno)
            row = index.get(_int(parts[0], "movie id", path, lineno))
            if row is None:
                continue
            for name in filter(None, parts[-1].strip().split("|")):
                if name not in slot:
                    raise DataFileError(path, f"unknown genre {name!r}; expected one of {list(ML1M_GENRES)}", lineno)
                genres[row, slot[name]] = 1.0
            titles[row] = "::".join(parts[1:-1]).strip()
            match = _YEAR.search(titles[row])
            years[row] = float(match.group(1)) if match else None
    return torch.cat([genres, _minmax(years)[:, None]], dim=1), titles


def _ml1m_user_features(path: Path, user_ids: list[int]) -> Tensor:
    """``(num_users, 23)``: scaled age code, gender flag (1 = M), one-hot occupation code 0..20."""
    index = _index(user_ids)
    feats = torch.zeros(len(user_ids), 2 + ML1M_OCCUPATIONS)
    ages: list[float | None] = [None] * len(user_ids)
    with open_text(path, ENCODING) as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            parts = line.strip().split("::")
            if len(parts) != 5:
                problem = f"expected UserID::Gender::Age::Occupation::Zip-code, got {len(parts)} fields"
                raise DataFileError(path, problem, lineno)
            uid, age = _int(parts[0], "user id", path, lineno), _finite(parts[2], "age", path, lineno)
            occ = _int(parts[3], "occupation code", path, lineno)
            if not 0 <= occ < ML1M_OCCUPATIONS:
                raise DataFileError(path, f"occupation code {occ} outside 0..{ML1M_OCCUPATIONS - 1}", lineno)
            row = index.get(uid)
            if row is None:
                continue
            ages[row] = age
            feats[row, 1] = float(parts[1].upper() == "M")
            feats[row, 2 + occ] = 1.0
    feats[:, 0] = _minmax(ages)
    return feats


def load_ml1m(path: str | Path, threshold: float | None = 4.0, features: bool = True) -> Interactions:
    """Load GroupLens ML-1M from a folder holding ``ratings.dat`` (and optionally ``movies.dat``, ``users.dat``).

    Args:
        path: folder with the ml-1m files, plain or ``.gz`` (``::``-separated, latin-1).
        threshold: keep ratings ``>= threshold``; ``None`` keeps all.
        features: build ``item_features`` ``(num_items, 18 genres + 1 scaled year)`` and
            ``user_features`` ``(num_users, scaled age + gender + 21 one-hot occupations)``
            from the optional files; missing files give ``None``.
    """
    folder = Path(path)
    data = _build(*_read_ratings(require_file(folder, "ratings.dat"), _split_colons), threshold)
    assert data.user_ids is not None and data.item_ids is not None
    if features:
        movies, users = resolve_file(folder, "movies.dat"), resolve_file(folder, "users.dat")
        if movies is not None:
            data.item_features, titles = _ml1m_item_features(movies, data.item_ids)
            data.item_columns = {"title": titles}
        if users is not None:
            data.user_features = _ml1m_user_features(users, data.user_ids)
    return data
