"""A run's trained model as files that cannot carry code: ``<run dir>/export/``.

- ``embeddings.safetensors``: ``user (U, d)``, ``item (I, d)`` float32 (the best-by-validation weights'
  final embeddings; for a model that ranks by cosine, item rows are L2-normalised so the dot product
  ranks as the run did), and the items each user has already seen, as CSR ``seen_indptr (U + 1,)``,
  ``seen_indices (nnz,)`` int64: training plus validation, exactly what the test evaluation excludes.
- ``manifest.json``: model, dataset, protocol, sizes, dimension, scoring function, the run's test metrics.
- ``user_ids.json`` / ``item_ids.json``: index -> the data's original id (absent for data without raw ids).
- ``item_tower.safetensors`` (inductive PinSAGE only) and the manifest's ``item_tower``: the item tower's
  weights, the existing items' layer inputs and the feature encoders' fitted state (JSON + tensors), so
  new items are embedded without retraining (:mod:`recsys_pyg.serving.add_items`).

safetensors holds raw tensors only (no pickle), so loading an export cannot run code. A fit-only model
(GF-CF, EASE, ItemKNN) has no embeddings: its manifest says so and why.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import Tensor

from recsys_pyg.contracts import is_fit_only
from recsys_pyg.data.graph import CSR
from recsys_pyg.evaluation import ranking_embeddings
from recsys_pyg.io import atomic_write_text
from recsys_pyg.serving.add_items import TOWER, load_tower, tower_export

FORMAT = 1
TENSORS = "embeddings.safetensors"
MANIFEST = "manifest.json"


@torch.no_grad()
def export_run(
    model: torch.nn.Module,
    graph: Any,
    data: Any,
    run_dir: Path,
    cosine: bool,
    info: dict[str, Any],
    popularity: float = 0.0,
) -> Path:
    """Write ``run_dir/export/`` for ``model`` (its current weights); returns the folder.

    ``info``: what the manifest adds (dataset, protocol, best epoch, test metrics). ``popularity``: the
    weight of ``log(1 + d_i)`` the run ranks with (the loss's ``eval_popularity``): the embeddings then carry
    one more column each (:func:`~recsys_pyg.evaluation.with_popularity`), so serving ranks as the evaluation did.
    """
    folder = Path(run_dir) / "export"
    folder.mkdir(parents=True, exist_ok=True)
    manifest: dict[str, Any] = {"format": FORMAT, "model": type(model).__name__, **info}
    for name in ("user_ids.json", "item_ids.json"):
        if (Path(run_dir) / name).exists():
            shutil.copyfile(Path(run_dir) / name, folder / name)
    manifest["ids"] = (folder / "user_ids.json").exists()
    if is_fit_only(model):
        manifest["embeddings"] = None
        manifest["reason"] = (
            f"{type(model).__name__} is fit-only: it scores a user from their training row with the fitted "
            "item-item filter, not with embeddings; rerun it to score (it is fitted in seconds to minutes)"
        )
        atomic_write_text(folder / MANIFEST, json.dumps(manifest, indent=2))
        return folder
    user_emb, item_emb = ranking_embeddings(model, graph, cosine, popularity)  # unit-norm items when cosine
    seen = merged(data.graph.user_items, data.val_items)
    tensors = {
        "user": user_emb.float().cpu().contiguous(),
        "item": item_emb.float().cpu().contiguous(),
        "seen_indptr": seen.indptr.cpu().contiguous(),
        "seen_indices": seen.indices.cpu().contiguous(),
    }
    tmp = folder / f".{TENSORS}.tmp"
    save_file(tensors, str(tmp), metadata={"format": str(FORMAT)})
    tmp.replace(folder / TENSORS)  # atomic: a reader sees the old file or the whole new one
    features = getattr(data, "features", {}).get("item")
    if getattr(model, "inductive", False) and features is not None:  # new items can be embedded without retraining
        entry, tower = tower_export(model, graph, features)
        tmp = folder / f".{TOWER}.tmp"
        save_file(tower, str(tmp), metadata={"format": str(FORMAT)})
        tmp.replace(folder / TOWER)
        manifest["item_tower"] = {"file": TOWER, **entry}
    manifest.update(
        embeddings=TENSORS, num_users=int(user_emb.shape[0]), num_items=int(item_emb.shape[0]),
        dim=int(user_emb.shape[1]), scoring="dot", items_normalized=bool(cosine), popularity_weight=float(popularity),
        seen="training and validation items (what the test evaluation excludes)",
    )  # fmt: skip
    atomic_write_text(folder / MANIFEST, json.dumps(manifest, indent=2))
    return folder


def merged(a: CSR, b: CSR) -> CSR:
    """The union of two CSRs of the same shape (rows' columns sorted, duplicates once)."""
    rows = torch.cat([a.row_index(), b.row_index()])
    return CSR.from_pairs(rows, torch.cat([a.indices, b.indices]), a.num_rows, a.num_cols)


class ExportError(ValueError):
    """An export folder that is missing, incomplete or inconsistent; the message names the file."""


# what to do about a damaged file: the run that wrote it is the source of truth
REDO = "restore the file the run wrote, or rerun the run to export it again"
JSON_TYPES = {dict: "an object", list: "an array", str: "a string", bool: "true/false", int: "a number",
              float: "a number", type(None): "null"}  # fmt: skip


@dataclass
class Exported:
    """A loaded export: embeddings, seen items, raw ids and the manifest."""

    user: Tensor  # (U, d)
    item: Tensor  # (I, d)
    seen: CSR  # (U, I) items to exclude
    user_ids: list[Any] | None  # index -> raw id
    item_ids: list[Any] | None
    manifest: dict[str, Any]
    folder: Path | None = None
    tower: Any = None  # (ItemTower, existing items' layer inputs, fitted encoders) of an inductive model

    def user_index(self, raw: list[str], skip_unknown: bool = False) -> tuple[Tensor, list[str]]:
        """Indices of users given by original id (compared as strings); unknown ids raise, or are returned
        apart with ``skip_unknown``."""
        if self.user_ids is None:  # no raw ids: the ids are the indices
            lookup = {str(i): i for i in range(self.user.shape[0])}
        else:
            lookup = {str(u): i for i, u in enumerate(self.user_ids)}
        unknown = [u for u in raw if str(u) not in lookup]
        if unknown and not skip_unknown:
            shown = ", ".join(map(repr, unknown[:5])) + (" ..." if len(unknown) > 5 else "")
            raise KeyError(
                f"{len(unknown)} user id(s) not in this run's data: {shown} (ids are matched as text; "
                "--skip-unknown lists and skips them)"
            )
        known = [lookup[str(u)] for u in raw if str(u) in lookup]
        return torch.tensor(known, dtype=torch.long), unknown

    def with_items(self, ids: list[Any], emb: Tensor, seen_users: Tensor, seen_items: Tensor) -> Exported:
        """This export with new items appended: ids, embeddings ``(M, d)``, and pairs (user, new item's position)
        that the users have seen (never recommended to them)."""
        num_items = self.item.shape[0]
        rows = torch.cat([self.seen.row_index(), seen_users])
        cols = torch.cat([self.seen.indices, seen_items + num_items])
        seen = CSR.from_pairs(rows, cols, self.seen.num_rows, num_items + emb.shape[0])
        item_ids = list(range(num_items)) if self.item_ids is None else list(self.item_ids)
        manifest = {**self.manifest, "num_items": num_items + emb.shape[0]}
        return Exported(self.user, torch.cat([self.item, emb.float()]), seen, self.user_ids, item_ids + list(ids),
                        manifest, self.folder, self.tower)  # fmt: skip

    def item_id(self, index: int) -> Any:
        return index if self.item_ids is None else self.item_ids[index]

    def user_id(self, index: int) -> Any:
        return index if self.user_ids is None else self.user_ids[index]


def load_export(path: str | Path) -> Exported:
    """Load ``<run dir>/export`` (or the run dir itself); raw tensors and JSON only, nothing executable.

    Everything is checked before it is served, since a damaged or edited file would otherwise be served
    silently (NaN scores, seen items recommended, ids mixed up): finite embeddings of the manifest's
    shapes, a well-formed seen-items CSR, id maps of unique non-null ids. Raises :class:`ExportError`
    naming the file (and the key, row or entry) and what to do.
    """
    folder = Path(path)
    if (folder / "export" / MANIFEST).exists():
        folder = folder / "export"
    manifest_path = folder / MANIFEST
    if not manifest_path.exists():
        raise ExportError(f"{manifest_path}: no export manifest; a run writes <run dir>/export/ when it finishes")
    manifest = read_manifest(manifest_path)
    tensor_path = folder / manifest["embeddings"]
    try:
        tensors = load_file(str(tensor_path))
    except (SafetensorError, OSError) as err:
        raise ExportError(f"{tensor_path}: not a readable safetensors file ({err})") from err
    num_users, num_items, dim = manifest["num_users"], manifest["num_items"], manifest["dim"]
    user = _embedding(tensor_path, tensors, "user", (num_users, dim))
    item = _embedding(tensor_path, tensors, "item", (num_items, dim))
    seen = _seen(tensor_path, tensors, num_users, num_items)
    ids = [_ids(folder / f"{side}_ids.json", side, n) if manifest["ids"] else None
           for side, n in (("user", num_users), ("item", num_items))]  # fmt: skip
    tower = None
    if isinstance(manifest.get("item_tower"), dict):
        path = folder / TOWER
        try:
            tower = load_tower(folder, manifest["item_tower"], load_file(str(path)))
        except (SafetensorError, OSError, KeyError, RuntimeError, ValueError, TypeError) as err:
            raise ExportError(f"{path}: the item tower does not load ({type(err).__name__}: {err}); {REDO}") from err
    return Exported(user, item, seen, ids[0], ids[1], manifest, folder, tower)


def read_manifest(path: Path) -> dict[str, Any]:
    """``manifest.json`` as a dict whose ``embeddings`` (a file name), sizes and ``ids`` flag are usable."""
    try:
        manifest = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ExportError(f"{path}, line {err.lineno}: not valid JSON ({err.msg})") from err
    if not isinstance(manifest, dict):
        raise ExportError(f"{path}: should hold a JSON object (the export's manifest), got {_json(manifest)}; {REDO}")
    if manifest.get("format") != FORMAT:
        raise ExportError(f"{path}: export format {manifest.get('format')!r}, this version reads {FORMAT}")
    if manifest.get("embeddings") is None:
        raise ExportError(f"{path}: {manifest.get('reason', 'this run exported no embeddings')}")
    for key in ("embeddings", "num_users", "num_items", "dim"):
        if key not in manifest:
            raise ExportError(f"{path}: key {key!r} is missing; {REDO}")
    name = manifest["embeddings"]
    if not isinstance(name, str) or not name or Path(name).name != name:  # a file of this folder, nowhere else
        raise ExportError(f"{path}: 'embeddings' should name a file in the export folder, got {name!r}; {REDO}")
    for key in ("num_users", "num_items", "dim"):
        value = manifest[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ExportError(f"{path}: {key!r} should be a positive integer, got {value!r}; {REDO}")
    manifest.setdefault("ids", False)  # exports without raw ids may leave the flag out
    if not isinstance(manifest["ids"], bool):
        raise ExportError(f"{path}: 'ids' should be true or false, got {manifest['ids']!r}; {REDO}")
    return manifest


def _embedding(path: Path, tensors: dict[str, Tensor], name: str, shape: tuple[int, int]) -> Tensor:
    """``tensors[name]`` as float32 of ``shape``, every value finite (NaN would rank items in index order)."""
    if name not in tensors:
        raise ExportError(f"{path}: {name!r} should be {shape} per the manifest, got nothing; {REDO}")
    emb = tensors[name]
    if tuple(emb.shape) != shape:
        raise ExportError(f"{path}: {name!r} should be {shape} per the manifest, got {tuple(emb.shape)}; {REDO}")
    if not emb.is_floating_point():
        raise ExportError(f"{path}: {name!r} should hold floats, got {emb.dtype}; {REDO}")
    bad = ~torch.isfinite(emb).all(dim=1)  # (rows,)
    if bad.any():
        first = int(bad.nonzero()[0])
        raise ExportError(f"{path}: {name!r} has {int(bad.sum())} row(s) with NaN or infinite values (first: row "
                          f"{first}); {REDO}")  # fmt: skip
    return emb.float()


def _seen(path: Path, tensors: dict[str, Tensor], num_users: int, num_items: int) -> CSR:
    """The seen-items CSR, checked (a bad index would un-exclude a seen item or crash mid-batch)."""
    for name in ("seen_indptr", "seen_indices"):
        if name not in tensors:
            raise ExportError(f"{path}: {name!r} is missing; {REDO}")
    problem = csr_problem(tensors["seen_indptr"], tensors["seen_indices"], num_users, num_items, "seen_")
    if problem:
        raise ExportError(f"{path}: {problem}; {REDO}")
    return CSR(tensors["seen_indptr"].long(), tensors["seen_indices"].long(), num_items)


def csr_problem(indptr: Tensor, indices: Tensor, num_rows: int, num_cols: int, prefix: str = "") -> str | None:
    """What is wrong with ``indptr``/``indices`` as a ``num_rows x num_cols`` CSR, or ``None``.

    Well-formed: integer, one-dimensional, ``indptr`` of ``num_rows + 1`` non-decreasing entries from 0 to
    ``len(indices)``, every index in ``[0, num_cols)``. Names use ``prefix`` (``seen_indptr``, ``seen.indptr``).
    """
    ptr, ind = f"{prefix}indptr", f"{prefix}indices"
    for name, t in ((ptr, indptr), (ind, indices)):
        if t.is_floating_point() or t.is_complex() or t.dtype == torch.bool:
            return f"{name!r} should hold integers, got {t.dtype}"
        if t.dim() != 1:
            return f"{name!r} should be one-dimensional, got shape {tuple(t.shape)}"
    if indptr.numel() != num_rows + 1:
        return f"{ptr!r} should have {num_rows + 1} entries (one per user, plus one), got {indptr.numel()}"
    indptr, indices = indptr.long(), indices.long()
    if int(indptr[0]) != 0:
        return f"{ptr!r} should start at 0, got {int(indptr[0])}"
    down = (indptr[1:] < indptr[:-1]).nonzero()
    if down.numel():
        row = int(down[0])
        return (f"{ptr!r} decreases at user row {row} ({int(indptr[row])} -> {int(indptr[row + 1])}); "
                "it must never decrease")  # fmt: skip
    if int(indptr[-1]) != indices.numel():
        return f"{ptr!r} ends at {int(indptr[-1])} but {ind!r} holds {indices.numel()} entries; they must agree"
    bad = ((indices < 0) | (indices >= num_cols)).nonzero()
    if bad.numel():
        pos = int(bad[0])
        row = int(torch.searchsorted(indptr, torch.tensor(pos), right=True)) - 1  # the user whose slice holds it
        return f"{ind!r} entry {pos} (user row {row}) is item {int(indices[pos])}, outside 0..{num_cols - 1}"
    return None


def _ids(path: Path, side: str, n: int) -> list[Any]:
    """``{side}_ids.json``: ``n`` unique non-null ids (compared as text, as users are looked up)."""
    try:
        ids = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise ExportError(f"{path}: the id map cannot be read ({err}); {REDO}") from err
    if not isinstance(ids, list):
        raise ExportError(f"{path}: should hold a JSON array of {n} ids (index -> original id), got {_json(ids)}; "
                          f"{REDO}")  # fmt: skip
    if len(ids) != n:
        raise ExportError(f"{path}: should hold {n} ids (one per {side} in the manifest), got {len(ids)}; {REDO}")
    first: dict[str, int] = {}
    for i, raw in enumerate(ids):
        if raw is None or isinstance(raw, (bool, list, dict)):
            raise ExportError(f"{path}: entry {i} is {_json(raw)}; every id must be a string or a number; {REDO}")
        if str(raw) in first:  # two indices behind one id: which one a lookup returns is arbitrary
            raise ExportError(f"{path}: entries {first[str(raw)]} and {i} are both {str(raw)!r} (ids are matched as "
                              f"text), so the id map is ambiguous; {REDO}")  # fmt: skip
        first[str(raw)] = i
    return ids


def _json(value: Any) -> str:
    """``value``'s JSON type, for messages."""
    return JSON_TYPES.get(type(value), type(value).__name__)
