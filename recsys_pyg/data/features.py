"""Node features from files: read, check, align to the data's ids, encode with statistics of training nodes.

A feature file (``dataset.item_features=<file>`` / ``dataset.user_features=<file>``) is a CSV / TSV
(plain or gzipped), a Parquet file or a ``.npy`` array, one row per node, keyed by the node's raw id
(the first column unless ``features.id_column`` names another; a 2-D ``.npy`` array holds the id in
column 0 and a vector in the rest, a structured one names its fields). Each other column is one of
:data:`KINDS`, given in ``features.types`` or inferred (numbers: ``numeric``; lists of numbers or
strings of several numbers: ``vector``; strings of three or more words on average: ``text``; other
strings: ``categorical``). Every problem is a :class:`FeatureFileError` naming the file, the row (or
line) and the column: ids without a row, rows without an id, unknown or duplicate ids, a missing or
NaN value, a vector of the wrong width.

Encoders (:mod:`recsys_pyg.data.feature_encoders`) are fitted on the nodes that have training
interactions only, then applied to every node: validation and test items, and new items at serving
time, are encoded with what training saw.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from recsys_pyg.data.feature_encoders import Categories, ColumnEncoder, Standardize, TfidfText, Vectors
from recsys_pyg.data.files import DataFileError

KINDS = ("numeric", "categorical", "text", "vector")
DEFAULT_ENCODERS: dict[str, Callable[[], ColumnEncoder]] = {
    "numeric": Standardize,
    "categorical": Categories,
    "text": TfidfText,
    "vector": Vectors,
}
BUILTIN = "features"  # the column name of a loader's own feature matrix (e.g. MovieLens genres/year)
_SPLIT_NUMBERS = re.compile(r"[\s;,]+")


class FeatureFileError(DataFileError):
    """A bad feature file; ``str(err)`` reads ``"{path}, {line|row} {n}, column '{c}': {problem}"``."""

    def __init__(
        self, path: str | Path, problem: str, row: int | None = None, column: str | None = None, unit: str = "line"
    ) -> None:
        super().__init__(path, problem, row)
        self.row, self.column, self.unit = row, column, unit
        where = [str(self.path)]
        if row is not None:
            where.append(f"{unit} {row}")
        if column is not None:
            where.append(f"column {column!r}")
        self.args = (", ".join(where) + f": {problem}",)

    def __str__(self) -> str:
        return str(self.args[0])

    def __reduce__(self) -> tuple[Any, ...]:
        return type(self), (self.path, self.problem, self.row, self.column, self.unit), self.__dict__


@dataclass
class FeatureRows:
    """A feature file's checked rows, in file order: raw id, row number and each column's values."""

    path: Path
    id_column: str
    ids: list[str]
    rows: list[int]  # line (text files) or 1-based row (Parquet, .npy) of each entry
    unit: str
    columns: dict[str, list[Any]]
    kinds: dict[str, str]


def _reader(path: Path) -> tuple[list[str], Iterator[tuple[int, list[Any]]], str]:
    """Column names, ``(row number, values)`` pairs and the row unit (``line`` or ``row``) of a file."""
    from recsys_pyg.data.table import _SEPARATORS, _kind, _read_parquet, _read_text

    if path.is_dir():
        raise IsADirectoryError(f"{path} is a folder; point the feature option at the feature file itself")
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist; put the feature file there or point the option at it")
    kind = _kind(path)
    if kind == ".parquet":
        names, rows = _read_parquet(path)
        return names, rows, "row"
    if kind == ".npy":
        return (*_read_npy(path), "row")
    if kind in _SEPARATORS:
        names, rows = _read_text(path, _SEPARATORS[kind], True, "utf-8")
        return names, rows, "line"
    raise FeatureFileError(path, f"unknown feature file type {kind!r}: use .csv, .tsv (plain or .gz), .parquet or .npy")


def _read_npy(path: Path) -> tuple[list[str], Iterator[tuple[int, list[Any]]]]:
    import numpy as np

    try:
        array = np.load(path, allow_pickle=False)  # no pickled objects: loading runs no code
    except (ValueError, OSError) as err:
        raise FeatureFileError(path, f"not a readable .npy array without objects ({err})") from None
    if array.dtype.names:  # a structured array: one field per column
        names = list(array.dtype.names)
        return names, ((i + 1, [_plain(rec[n]) for n in names]) for i, rec in enumerate(array))
    if array.ndim != 2 or array.shape[1] < 2:
        raise FeatureFileError(path, f"a plain .npy feature array must be 2-D (id, vector...), got shape {array.shape}")
    return ["id", "vector"], ((i + 1, [_plain(row[0]), row[1:].tolist()]) for i, row in enumerate(array))


def _plain(value: Any) -> Any:
    return value.tolist() if hasattr(value, "tolist") else value


def _id_text(value: Any) -> str:
    """A raw id as the text it is matched by (``12.0`` from a float array is ``'12'``)."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _is_missing(value: Any) -> bool:
    return (
        value is None
        or (isinstance(value, str) and not value.strip())
        or (isinstance(value, float) and math.isnan(value))
    )


def _as_number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    try:
        return float(str(value))
    except ValueError:
        return None


def _as_vector(value: Any) -> list[float] | None:
    if isinstance(value, (list, tuple)):
        numbers = [_as_number(v) for v in value]
    elif isinstance(value, str):
        parts = [p for p in _SPLIT_NUMBERS.split(value.strip().strip("[]")) if p]
        numbers = [_as_number(p) for p in parts] if len(parts) >= 2 else [None]
    else:
        return None
    return None if any(n is None for n in numbers) else [float(n) for n in numbers if n is not None]


def infer_kind(values: Sequence[Any]) -> str:
    """The kind of a column from its non-missing values (see the module docstring)."""
    present = [v for v in values if not _is_missing(v)]
    if not present:
        return "text"
    if all(_as_number(v) is not None and not isinstance(v, (list, tuple)) for v in present):
        return "numeric"
    if all(_as_vector(v) is not None for v in present):
        return "vector"
    words = sum(len(str(v).split()) for v in present) / len(present)
    return "text" if words >= 3 else "categorical"


def _check(value: Any, kind: str, width: int | None, where: Callable[[str], FeatureFileError]) -> Any:
    """One value of a ``kind`` column, checked; ``where(problem)`` is the error naming its row and column."""
    if kind == "text":
        return "" if _is_missing(value) else str(value)
    if _is_missing(value) or (kind == "numeric" and isinstance(value, str) and value.strip().lower() == "nan"):
        raise where("the value is missing (empty, null or NaN); fill it in or drop the row")
    if kind == "categorical":
        return str(value)
    if kind == "numeric":
        number = _as_number(value)
        if number is None or isinstance(value, (list, tuple)):
            raise where(f"{value!r} is not a number; fix it, or declare the column's kind in dataset.features.types")
        if not math.isfinite(number):
            raise where(f"{value!r} is not a finite number (NaN or infinite); fix or drop the row")
        return number
    vector = _as_vector(value)
    if vector is None:
        raise where(f"{str(value)[:60]!r} is not a vector of numbers (a list, or numbers separated by spaces)")
    bad = [x for x in vector if not math.isfinite(x)]
    if bad:
        raise where(f"the vector holds {bad[0]} (NaN or infinite); fix or drop the row")
    if width is not None and len(vector) != width:
        raise where(f"the vector has {len(vector)} values, expected {width} (as the other rows); give every row "
                    f"the same width")  # fmt: skip
    return vector


def read_feature_file(
    path: str | Path,
    types: Mapping[str, str] | None = None,
    id_column: str | None = None,
    widths: Mapping[str, int] | None = None,
) -> FeatureRows:
    """Read and check a feature file (every value, with its row and column named on error).

    Args:
        path: the file.
        types: column -> kind (one of :data:`KINDS`); other columns are inferred.
        id_column: the column of raw ids (``None``: the first column).
        widths: column -> the vector width it must have (serving: what the model was trained with).
    """
    path = Path(path)
    types, widths = dict(types or {}), dict(widths or {})
    names, row_iter, unit = _reader(path)
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise FeatureFileError(path, "two columns have this name; rename one", column=dup)
    id_col = names[0] if id_column is None else str(id_column)
    if id_col not in names:
        raise FeatureFileError(path, f"no id column {id_col!r}; columns found: {names}. Set dataset.features.id_column")
    for col, kind in types.items():
        if kind not in KINDS:
            raise ValueError(f"dataset.features.types.{col}={kind!r}: the kind must be one of {list(KINDS)}")
    j_id = names.index(id_col)
    raw: dict[str, list[Any]] = {n: [] for n in names if n != id_col}
    ids: list[str] = []
    rows: list[int] = []
    first: dict[str, int] = {}
    for row, values in row_iter:
        if len(values) != len(names):
            raise FeatureFileError(path, f"the row has {len(values)} fields, the header {len(names)} ({names})", row,
                                   unit=unit)  # fmt: skip
        key = values[j_id]
        if _is_missing(key):
            raise FeatureFileError(path, "the row has no id; give every row its node's raw id", row, id_col, unit)
        key = _id_text(key)
        if key in first:
            raise FeatureFileError(path, f"id {key!r} is duplicated (also on {unit} {first[key]}); keep one row per id",
                                   row, id_col, unit)  # fmt: skip
        first[key] = row
        ids.append(key)
        rows.append(row)
        for n, v in zip(names, values, strict=True):
            if n != id_col:
                raw[n].append(v)
    if not ids:
        raise FeatureFileError(path, "no data rows after the header")
    kinds = {n: types.get(n) or infer_kind(v) for n, v in raw.items()}
    columns: dict[str, list[Any]] = {}
    for n, values in raw.items():
        width = widths.get(n)
        checked = []
        for row, v in zip(rows, values, strict=True):
            where = lambda problem, row=row, n=n: FeatureFileError(path, problem, row, n, unit)  # noqa: E731
            checked.append(_check(v, kinds[n], width, where))
            if kinds[n] == "vector" and width is None:
                width = len(checked[0])
        columns[n] = checked
    return FeatureRows(path, id_col, ids, rows, unit, columns, kinds)


def align(rows: FeatureRows, known_ids: Sequence[Any], node_ids: Sequence[Any], side: str) -> dict[str, list[Any]]:
    """``rows``' columns in node order: ``node_ids[i]``'s row at position ``i``.

    Every row's id must be in ``known_ids`` (the data's ids before filters: a row for a node the filters
    dropped is ignored) and every node must have a row; ids are compared as text.
    """
    known = {str(k) for k in known_ids}
    for key, row in zip(rows.ids, rows.rows, strict=True):
        if key not in known:
            raise FeatureFileError(rows.path, f"{side} id {key!r} is not in the data (no interaction has it); drop the "
                                   f"row, or check that the file is keyed by the {side} ids of this dataset", row,
                                   rows.id_column, rows.unit)  # fmt: skip
    position = {key: j for j, key in enumerate(rows.ids)}
    missing = [str(i) for i in node_ids if str(i) not in position]
    if missing:
        shown = ", ".join(map(repr, missing[:5])) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise FeatureFileError(rows.path, f"{len(missing)} {side} id(s) of the data have no row: {shown}; add a row "
                               f"for each", column=rows.id_column)  # fmt: skip
    order = [position[str(i)] for i in node_ids]
    return {n: [values[j] for j in order] for n, values in rows.columns.items()}


@dataclass
class EncodedColumn:
    """One encoded column: its name, kind, fitted encoder and output (``dense`` width or a category column)."""

    name: str
    kind: str
    encoder: ColumnEncoder
    width: int  # dense: columns it adds; categorical: its cardinality


@dataclass
class NodeFeatures:
    """One side's encoded features: ``dense (N, F)`` float32 (or ``None``), ``categorical (N, C)`` long
    indices (``0`` = unknown; or ``None``), and the fitted columns in their output order."""

    dense: Tensor | None
    categorical: Tensor | None
    columns: list[EncodedColumn] = field(default_factory=list)

    def transform(self, columns: Mapping[str, Sequence[Any]]) -> tuple[Tensor | None, Tensor | None]:
        """New nodes' raw columns through the fitted encoders: ``(dense (M, F), categorical (M, C))``."""
        dense, cats = [], []
        for col in self.columns:
            out = col.encoder.transform(columns[col.name])
            (cats if col.encoder.output == "categorical" else dense).append(out)
        return (torch.cat(dense, 1) if dense else None), (torch.stack(cats, 1) if cats else None)


def encode(
    columns: Mapping[str, Sequence[Any]],
    kinds: Mapping[str, str],
    train_nodes: Tensor,
    encoders: Mapping[str, Callable[[], ColumnEncoder]] | None = None,
) -> NodeFeatures:
    """Fit one encoder per column on ``train_nodes`` (indices) and encode every node.

    ``encoders``: kind -> a factory (the config's partials); :data:`DEFAULT_ENCODERS` fill the rest.
    """
    factories = {**DEFAULT_ENCODERS, **(encoders or {})}
    train = train_nodes.tolist()
    fitted: list[EncodedColumn] = []
    dense, cats = [], []
    for name, values in columns.items():
        encoder = factories[kinds[name]]()
        encoder.fit([values[i] for i in train])
        out = encoder.transform(values)
        if encoder.output == "categorical":
            cats.append(out)
            fitted.append(EncodedColumn(name, kinds[name], encoder, int(encoder.cardinality)))
        else:
            dense.append(out)
            fitted.append(EncodedColumn(name, kinds[name], encoder, int(out.shape[1])))
    return NodeFeatures(torch.cat(dense, 1) if dense else None, torch.stack(cats, 1) if cats else None, fitted)


def dataset_features(
    split: Any,
    known_ids: Mapping[str, Sequence[Any]],
    files: Mapping[str, str | Path | None],
    types: Mapping[str, str] | None = None,
    id_column: str | None = None,
    **encoders: Callable[[], ColumnEncoder],
) -> dict[str, NodeFeatures]:
    """Each side's :class:`NodeFeatures` from its loader's matrix (column ``features``), its loader's raw
    columns (e.g. MovieLens titles) and its feature file, fitted on the nodes with training interactions.

    Args:
        split: the :class:`~recsys_pyg.data.split.Split` (its training part holds the nodes' ids).
        known_ids: side -> the data's raw ids before filters (a file row outside them is an error).
        files: side -> feature file or ``None``.
        types, id_column: see :func:`read_feature_file`.
        **encoders: kind -> encoder factory (``numeric=...``, ``text=...``).
    """
    unknown = sorted(set(encoders) - set(KINDS))
    if unknown:
        raise ValueError(f"dataset.features: unknown kind(s) {unknown}; the encoders are keyed by {list(KINDS)}")
    train = split.train
    out: dict[str, NodeFeatures] = {}
    for side in ("user", "item"):
        n = getattr(train, f"num_{side}s")
        ids = getattr(train, f"{side}_ids")
        node_ids = list(range(n)) if ids is None else list(ids)
        columns: dict[str, list[Any]] = dict(getattr(train, f"{side}_columns") or {})
        kinds = {c: (types or {}).get(c) or infer_kind(v) for c, v in columns.items()}
        if files.get(side):
            rows = read_feature_file(files[side], types, id_column)  # type: ignore[arg-type]
            clash = sorted(set(rows.columns) & (set(columns) | {BUILTIN}))
            if clash:
                raise FeatureFileError(rows.path, f"the dataset already has a {side} column of this name; rename it",
                                       column=clash[0])  # fmt: skip
            columns.update(align(rows, known_ids[side], node_ids, side))
            kinds.update(rows.kinds)
        matrix = getattr(train, f"{side}_features")
        if not columns and matrix is None:
            continue
        train_nodes = torch.unique(getattr(train, side))
        encoded = encode(columns, kinds, train_nodes, encoders)
        if matrix is not None:  # the loader's own matrix, as it is: a vector column named `features`
            vectors = Vectors()
            vectors.width = int(matrix.shape[1])
            encoded.columns.insert(0, EncodedColumn(BUILTIN, "vector", vectors, vectors.width))
            parts = [matrix.float()] + ([encoded.dense] if encoded.dense is not None else [])
            encoded.dense = torch.cat(parts, 1)
        out[side] = encoded
    return out
