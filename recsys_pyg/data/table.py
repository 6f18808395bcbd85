"""Any CSV / TSV / Parquet table of interactions as :class:`Interactions`.

Raw ids (strings or integers) are mapped to contiguous indices in order of first
appearance; the raw ids are kept in ``user_ids`` / ``item_ids`` (integers when every id
in the column is a plain integer, else strings) and can be written with :func:`save_id_maps`.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from recsys_pyg.data.files import DataFileError, open_text
from recsys_pyg.data.interactions import Interactions

_SEPARATORS = {".csv": ",", ".tsv": "\t"}


def _kind(path: Path) -> str:
    """The extension that decides the format, ignoring a trailing ``.gz``."""
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    return suffixes[-1] if suffixes else ""


def _read_text(path: Path, sep: str, header: bool, encoding: str) -> tuple[list[str], Iterator[tuple[int, list[str]]]]:
    """Column names and an iterator of ``(line number, fields)`` over the data rows of a delimited file."""
    f = open_text(path, encoding)
    rows: Iterator[tuple[int, list[str]]]
    if len(sep) == 1:
        rows = _csv_rows(csv.reader(f, delimiter=sep), path)
    else:  # multi-character separators (e.g. MovieLens '::') cannot go through the csv module
        rows = ((n, line.rstrip("\r\n").split(sep)) for n, line in enumerate(f, 1))
    rows = ((n, [v.strip() for v in row]) for n, row in rows if any(v.strip() for v in row))
    try:
        first = next(rows, None)
    except BaseException:
        f.close()
        raise
    if first is None:
        f.close()
        raise DataFileError(path, "empty file: no header and no rows; point dataset.path at the interaction table")
    if header:
        names = first[1]
        names[0] = names[0].lstrip("\ufeff")  # a byte-order mark from spreadsheet exports
    else:
        names = [str(j) for j in range(len(first[1]))]
        rows = _chain(first, rows)

    def data_rows() -> Iterator[tuple[int, list[str]]]:
        with f:
            yield from rows

    return names, data_rows()


def _csv_rows(reader: Any, path: Path) -> Iterator[tuple[int, list[str]]]:
    try:
        for row in reader:
            yield reader.line_num, row
    except csv.Error as err:
        raise DataFileError(
            path, f"malformed delimited text ({err}); fix the line or re-export the file", reader.line_num
        ) from None


def _chain(first: tuple[int, list[str]], rest: Iterator[tuple[int, list[str]]]) -> Iterator[tuple[int, list[str]]]:
    yield first
    yield from rest


def _read_parquet(path: Path) -> tuple[list[str], Iterator[tuple[int, list[Any]]]]:
    """Column names and ``(row number, values)`` pairs of a Parquet file (needs pyarrow)."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as e:
        raise ImportError(f"reading {path} needs pyarrow: pip install pyarrow (or convert the file to CSV)") from e
    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as err:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise DataFileError(
            path,
            f"not a readable Parquet file ({reason}); if it is a delimited text file, name it .csv or .tsv "
            f"(or pass dataset.source.sep), else export it again",
        ) from None
    names = [str(n) for n in table.column_names]
    columns = [table.column(j).to_pylist() for j in range(table.num_columns)]
    return names, ((i + 1, list(values)) for i, values in enumerate(zip(*columns, strict=True)))


def _column(spec: str | int, names: list[str], path: Path, arg: str) -> int:
    """Index of column ``spec`` (a name, or a position when the file has no header)."""
    key = str(spec)
    if key in names:
        return names.index(key)
    hint = " (or null if the file has none)" if arg in ("time_col", "rating_col") else ""
    raise DataFileError(
        path, f"no column {key!r} for {arg}; columns found: {names}. Set dataset.source.{arg}=<one of them>{hint}"
    )


def _number(value: Any, path: Path, line: int, what: str) -> int | float:
    """``value`` as an int (when it is one) or a finite float; else :class:`DataFileError` naming the row."""
    number: int | float
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = value
    else:
        try:
            number = int(value)
        except (TypeError, ValueError):
            try:
                number = float(value)
            except (TypeError, ValueError):
                raise DataFileError(path, f"{what} {value!r} is not a number; fix or drop the row", line) from None
    if isinstance(number, float) and not math.isfinite(number):
        raise DataFileError(
            path, f"{what} {value!r} is not a finite number (NaN or infinite); fix or drop the row", line
        )
    return number


def _maybe_int(ids: list[Any]) -> list[Any]:
    """Turn string ids into ints when every one is a canonical integer (so '7' and '007' never merge)."""
    if not all(isinstance(v, str) for v in ids):
        return ids
    try:
        as_int = [int(v) for v in ids]
    except ValueError:
        return ids
    return as_int if all(str(i) == v for i, v in zip(as_int, ids, strict=True)) else ids


def load_table(
    path: str | Path,
    user_col: str | int = "user",
    item_col: str | int = "item",
    time_col: str | int | None = "timestamp",
    rating_col: str | int | None = None,
    sep: str | None = None,
    header: bool = True,
    threshold: float | None = None,
    encoding: str = "utf-8",
) -> Interactions:
    """Load interactions from a delimited text file (plain or ``.gz``) or a Parquet file.

    Args:
        path: the table.
        user_col, item_col: columns holding the raw user and item ids. Without a header,
            columns are named by position (``0``, ``1``, ...).
        time_col: numeric timestamp column, or ``None``.
        rating_col: numeric rating column, or ``None``.
        sep: field separator; ``None`` infers it from the extension (``.csv`` ',', ``.tsv`` tab,
            ``.parquet``). Separators longer than one character (``'::'``) split lines verbatim.
        header: whether the first row names the columns (ignored for Parquet).
        threshold: keep rows with ``rating >= threshold`` (needs ``rating_col``); ids are
            indexed over all rows first, so thresholding keeps ``num_users`` / ``num_items``.
        encoding: text encoding of delimited files.

    Raises:
        DataFileError: empty, truncated or non-text file, missing column, or a timestamp / rating that
            is not a finite number (with its line).
        FileNotFoundError / IsADirectoryError: ``path`` is missing or is a folder.
    """
    path = Path(path)
    if threshold is not None and rating_col is None:
        raise ValueError(f"threshold={threshold} needs the rating column: pass rating_col=...")
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a folder; point dataset.path at the interaction table file itself")
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist; put the interaction table there or point dataset.path at it")
    kind = _kind(path)
    if sep is None and kind == ".parquet":
        names, rows = _read_parquet(path)
    elif sep is None and kind not in _SEPARATORS:
        raise ValueError(f"cannot infer the separator of {path} from {kind!r}: pass sep=',' or sep='\\t' (or '::')")
    else:
        names, rows = _read_text(path, sep or _SEPARATORS[kind], header, encoding)
    cols = {"user_col": user_col, "item_col": item_col, "time_col": time_col, "rating_col": rating_col}
    index = {arg: _column(spec, names, path, arg) for arg, spec in cols.items() if spec is not None}
    width = max(index.values()) + 1

    user_map: dict[Any, int] = {}
    item_map: dict[Any, int] = {}
    user: list[int] = []
    item: list[int] = []
    times: list[int | float] = []
    ratings: list[float] = []
    for line, row in rows:
        if len(row) < width:
            raise DataFileError(path, f"row has {len(row)} fields, expected at least {width} ({names})", line)
        raw_user, raw_item = row[index["user_col"]], row[index["item_col"]]
        if raw_user in (None, "") or raw_item in (None, ""):
            raise DataFileError(path, f"missing user or item id in row {row}", line)
        user.append(user_map.setdefault(raw_user, len(user_map)))
        item.append(item_map.setdefault(raw_item, len(item_map)))
        if "time_col" in index:
            times.append(_number(row[index["time_col"]], path, line, f"timestamp ({time_col})"))
        if "rating_col" in index:
            ratings.append(float(_number(row[index["rating_col"]], path, line, f"rating ({rating_col})")))
    if not user:
        raise DataFileError(path, "no data rows" + (" after the header" if header else ""))

    timestamp = None
    if times:
        is_int = all(isinstance(t, int) for t in times)
        timestamp = torch.tensor(times, dtype=torch.long if is_int else torch.float64)
    data = Interactions(
        torch.tensor(user),
        torch.tensor(item),
        len(user_map),
        len(item_map),
        timestamp=timestamp,
        rating=torch.tensor(ratings, dtype=torch.float32) if ratings else None,
        user_ids=_maybe_int(list(user_map)),
        item_ids=_maybe_int(list(item_map)),
    )
    if threshold is not None:
        assert data.rating is not None
        data = data.subset(data.rating >= threshold)
    return data


def save_id_maps(data: Interactions, folder: str | Path) -> tuple[Path, Path]:
    """Write ``user_ids.json`` / ``item_ids.json`` (list: index -> raw id) into ``folder``; return their paths."""
    if data.user_ids is None or data.item_ids is None:
        raise ValueError("these interactions carry no raw ids (user_ids / item_ids is None): nothing to save")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = folder / "user_ids.json", folder / "item_ids.json"
    for p, ids in zip(paths, (data.user_ids, data.item_ids), strict=True):
        p.write_text(json.dumps(list(ids)))
    return paths
