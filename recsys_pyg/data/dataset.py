"""A dataset ready for training: the split, the training graph and the evaluation targets."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from functools import cached_property, partial
from pathlib import Path
from typing import Any

import torch

from recsys_pyg.data.download import check_local_copy, fetch_archive, fetch_files
from recsys_pyg.data.features import NodeFeatures, dataset_features
from recsys_pyg.data.filters import k_core, min_user_interactions
from recsys_pyg.data.graph import CSR, BipartiteGraph
from recsys_pyg.data.interactions import Interactions
from recsys_pyg.data.split import Split
from recsys_pyg.io import atomic_save

log = logging.getLogger(__name__)


@dataclass
class RecDataset:
    """A split dataset with its training graph and per-user held-out items."""

    name: str
    split: Split
    features: dict[str, NodeFeatures] = field(default_factory=dict)  # side -> encoded features

    @property
    def num_users(self) -> int:
        return self.split.train.num_users

    @property
    def num_items(self) -> int:
        return self.split.train.num_items

    @cached_property
    def graph(self) -> BipartiteGraph:
        """The training graph (built once)."""
        train = self.split.train
        return BipartiteGraph(train.user, train.item, train.num_users, train.num_items)

    @cached_property
    def val_items(self) -> CSR:
        return _csr(self.split.val)

    @cached_property
    def test_items(self) -> CSR:
        return _csr(self.split.test)

    @property
    def item_features(self) -> torch.Tensor | None:
        """Dense item features ``(I, F)``: the encoded columns when there are any, else the loader's matrix."""
        return self.features["item"].dense if "item" in self.features else self.split.train.item_features

    @property
    def user_features(self) -> torch.Tensor | None:
        return self.features["user"].dense if "user" in self.features else self.split.train.user_features

    @property
    def item_categories(self) -> torch.Tensor | None:
        """Categorical item columns as indices ``(I, C)`` (``0`` = a category training never saw), or ``None``."""
        return self.features["item"].categorical if "item" in self.features else None

    @property
    def user_categories(self) -> torch.Tensor | None:
        return self.features["user"].categorical if "user" in self.features else None

    def stats(self) -> dict[str, float]:
        """Sizes, density and cold-start counts of each part."""
        parts = {"train": self.split.train, "val": self.split.val, "test": self.split.test}
        out: dict[str, float] = {"users": self.num_users, "items": self.num_items}
        out.update({f"{k}_interactions": len(v) for k, v in parts.items()})
        out["density"] = sum(len(v) for v in parts.values()) / (self.num_users * self.num_items)
        for part in ("val", "test"):
            out[f"{part}_users"] = int(getattr(self, f"{part}_items").degree().gt(0).sum())
            out[f"{part}_cold_start_users"] = int(self.split.cold_start(part).numel())
            if self.split.cold is not None:  # the cold-start split: items held out whole
                out[f"{part}_cold_items"] = int(self.split.cold[part].numel())
        return out


def _csr(part: Interactions) -> CSR:
    return CSR.from_pairs(part.user, part.item, part.num_users, part.num_items)


def dataset_folder(
    name: str,
    path: str | None,
    data_dir: str | Path,
    url: str | None = None,
    md5: str | None = None,
    sha256: str | None = None,
    subdir: str | None = None,
    files: Mapping[str, Any] | None = None,
    base_url: str | None = None,
    commit: str | None = None,
    verify: bool = True,
) -> Path:
    """Where a dataset's files are: ``path`` (a folder, or a file) when given, else a download cache.

    Without ``path``, ``url`` (an archive) or ``files`` (loose files, see :func:`fetch_files`)
    is fetched into ``data_dir/name`` and verified against its pinned checksum before anything
    reads it; later runs reuse it. ``subdir`` is the archive's top folder; ``commit`` records the
    source revision that ``base_url`` pins (the config interpolates it). ``verify=false`` accepts
    downloads without a checksum. A local copy is compared with the same checksums (a warning only).
    """
    if path is not None:
        location = Path(path).expanduser()
        if not location.exists():
            raise FileNotFoundError(
                f"dataset.path={path} does not exist; give the folder (or file) holding the {name} data"
            )
        if verify and files and location.is_dir():
            check_local_copy(name, location, files, base_url)
        return location
    root = Path(data_dir).expanduser() / name
    if files:
        return fetch_files(name, root, files, base_url, verify)
    if url:
        return fetch_archive(name, root, url, md5=md5, sha256=sha256, subdir=subdir, verify=verify)
    raise ValueError(f"dataset {name}: give dataset.path (a local copy) or a download url")


# Version of the processed-data cache layout; part of the cache key, so older caches are not read.
_CACHE_FORMAT = 3
_PLAIN = (int, float, str, bool, type(None))


def _cache_key(source: partial, folder: Path) -> str:
    spec = {
        "fn": f"{source.func.__module__}.{source.func.__qualname__}",
        "kw": source.keywords,
        "folder": str(folder),
        "format": _CACHE_FORMAT,
    }
    # the cache may live in the data folder itself (loose-file downloads): never stamp our own files
    files = [folder] if folder.is_file() else [p for p in folder.iterdir() if p.is_file() and _is_data_file(p)]
    stamp = sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in files)
    return hashlib.sha1(json.dumps([spec, stamp], sort_keys=True, default=str).encode()).hexdigest()[:12]


def _is_data_file(path: Path) -> bool:
    return not path.name.startswith((".", "processed-"))


def _to_plain(data: Interactions | Split) -> dict[str, Any] | None:
    """The cache record: tensors, numbers, strings, lists and dicts only (loadable with ``weights_only=True``).

    ``None`` when a field holds something else (e.g. raw ids that are dates): such data is not cached.
    """
    parts = {"train": data.train, "val": data.val, "test": data.test} if isinstance(data, Split) else {"data": data}
    record: dict[str, Any] = {"format": _CACHE_FORMAT, "kind": "split" if isinstance(data, Split) else "table"}
    record["parts"] = {}
    for key, part in parts.items():
        values: dict[str, Any] = {}
        for f in fields(part):
            value = getattr(part, f.name)
            if isinstance(value, (list, tuple)):
                if not all(type(v) in _PLAIN for v in value):
                    return None
                value = list(value)
            elif isinstance(value, dict):  # raw feature columns: name -> one plain value per node
                if not all(isinstance(v, list) and all(type(x) in _PLAIN for x in v) for v in value.values()):
                    return None
            elif not isinstance(value, (torch.Tensor, *_PLAIN)):
                return None
            values[f.name] = value
        record["parts"][key] = values
    return record


def _from_plain(record: Any) -> Interactions | Split:
    """Rebuild what :func:`_to_plain` stored (validated again by ``Interactions``); ``ValueError`` if malformed."""
    if not isinstance(record, dict) or record.get("format") != _CACHE_FORMAT:
        raise ValueError("not a processed-data cache of this version")
    parts = {key: Interactions(**values) for key, values in record["parts"].items()}
    if record.get("kind") == "split":
        return Split(parts["train"], parts["val"], parts["test"])
    return parts["data"]


def load_source(source: Any, folder: Path, cache_dir: Path | None) -> Interactions | Split:
    """Call a loader on ``folder``, reusing the processed result cached in ``cache_dir``.

    The cache holds tensors and plain containers only and is read with ``weights_only=True``:
    a cache file that does not load that way (damaged, older, or crafted) is never executed,
    only ignored with a warning and rebuilt.
    """
    if cache_dir is None or not isinstance(source, partial):
        return source(folder)
    cache_file = cache_dir / f"processed-{_cache_key(source, folder)}.pt"
    if cache_file.exists():
        try:
            return _from_plain(torch.load(cache_file, map_location="cpu", weights_only=True))
        except Exception as err:  # a broken or unsafe cache is rebuilt, never trusted
            reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            log.warning("ignoring cache %s, which does not load safely (%s); rebuilding it", cache_file, reason)
    data = source(folder)
    record = _to_plain(data)
    if record is None:
        log.info("not caching %s: the data holds values other than tensors, numbers and strings", cache_file)
        return data
    try:
        atomic_save(record, cache_file)  # atomic: temp file + rename
    except OSError as err:  # a read-only cache folder is fine: just no cache
        log.info("not caching %s: %s", cache_file, err)
    return data


def apply_filters(data: Interactions, user_core: int = 0, item_core: int = 0, min_user: int = 0) -> Interactions:
    """k-core on users and items (iterated until stable), then a minimum of events per user."""
    if user_core or item_core:
        data = k_core(data, user_core, item_core)
    if min_user:
        data = min_user_interactions(data, min_user)
    return data


def prepare_dataset(
    name: str,
    source: Interactions | Split | Callable[[Path], Interactions | Split],
    split: Callable[[Interactions], Split] | None = None,
    deduplicate: bool = True,
    path: str | None = None,
    data_dir: str | Path = "data_cache",
    download: Mapping[str, Any] | None = None,
    filters: Mapping[str, int] | None = None,
    cache: bool = True,
    item_features: str | None = None,
    user_features: str | None = None,
    features: Mapping[str, Any] | None = None,
) -> RecDataset:
    """Turn a loaded source into a :class:`RecDataset`.

    Args:
        name: dataset name for logs.
        source: an interaction table, a :class:`Split` (data that comes pre-split), or a loader
            called with the dataset's folder (``path``, or the download cache).
        split: the protocol that splits a table (ignored for a pre-split source).
        deduplicate: collapse repeated (user, item) pairs to their earliest event first.
        path: a local copy of the dataset's files.
        data_dir: the cache folder: downloads and processed results go to ``data_dir/name``.
        download: where to fetch the files when ``path`` is not given (see :func:`dataset_folder`).
        filters: ``user_core``, ``item_core``, ``min_user`` (see :func:`apply_filters`).
        cache: reuse the processed result saved in ``data_dir/name``.
        item_features, user_features: feature files keyed by the raw ids (see :mod:`recsys_pyg.data.features`).
        features: how columns are encoded: ``types`` (column -> kind), ``id_column``, and an encoder
            factory per kind (``numeric``, ``categorical``, ``text``, ``vector``), fitted on training nodes.
    """
    data: Any = source
    if callable(source) and not isinstance(source, (Interactions, Split)):
        folder = dataset_folder(name=name, path=path, data_dir=data_dir, **(download or {}))
        data = load_source(source, folder, Path(data_dir).expanduser() / name if cache else None)
    files = {"user": user_features, "item": item_features}
    if isinstance(data, Split):
        known = {s: _ids_of(data.train, s) for s in files}
        return RecDataset(name, data, dataset_features(data, known, files, **dict(features or {})))
    if len(data) == 0:
        raise ValueError(f"dataset '{name}' has no interactions")
    if split is None:
        raise ValueError(f"dataset '{name}' is a single table: give a split protocol (dataset.split)")
    known = {s: _ids_of(data, s) for s in files}  # before filters: a row for a filtered-out node is not an error
    if deduplicate:
        data = data.deduplicate()
    data = apply_filters(data, **(filters or {}))
    parts = split(data)
    return RecDataset(name, parts, dataset_features(parts, known, files, **dict(features or {})))


def _ids_of(data: Interactions, side: str) -> list[Any]:
    """The raw ids of one side (the indices when the data has none)."""
    ids = getattr(data, f"{side}_ids")
    return list(range(getattr(data, f"num_{side}s"))) if ids is None else list(ids)
