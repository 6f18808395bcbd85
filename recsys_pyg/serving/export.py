"""A run's trained model as files that cannot carry code: ``<run dir>/export/``.

- ``embeddings.safetensors``: ``user (U, d)``, ``item (I, d)`` float32 (the best-by-validation weights'
  final embeddings; for a model that ranks by cosine, item rows are L2-normalised so the dot product
  ranks as the run did), and the items each user has already seen, as CSR ``seen_indptr (U + 1,)``,
  ``seen_indices (nnz,)`` int64: training plus validation, exactly what the test evaluation excludes.
- ``manifest.json``: model, dataset, protocol, sizes, dimension, scoring function, the run's test metrics.
- ``user_ids.json`` / ``item_ids.json``: index -> the data's original id (absent for data without raw ids).

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
import torch.nn.functional as F
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import Tensor

from recsys_pyg.contracts import is_fit_only
from recsys_pyg.data.graph import CSR
from recsys_pyg.io import atomic_write_text

FORMAT = 1
TENSORS = "embeddings.safetensors"
MANIFEST = "manifest.json"


@torch.no_grad()
def export_run(
    model: torch.nn.Module, graph: Any, data: Any, run_dir: Path, cosine: bool, info: dict[str, Any]
) -> Path:
    """Write ``run_dir/export/`` for ``model`` (its current weights); returns the folder.

    ``info``: what the manifest adds (dataset, protocol, best epoch, test metrics).
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
    model.eval()
    user_emb, item_emb = model(graph)
    if cosine:  # ranking by cosine = ranking by the dot product with unit-norm items
        item_emb = F.normalize(item_emb, dim=-1)
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
    manifest.update(
        embeddings=TENSORS, num_users=int(user_emb.shape[0]), num_items=int(item_emb.shape[0]),
        dim=int(user_emb.shape[1]), scoring="dot", items_normalized=bool(cosine),
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


@dataclass
class Exported:
    """A loaded export: embeddings, seen items, raw ids and the manifest."""

    user: Tensor  # (U, d)
    item: Tensor  # (I, d)
    seen: CSR  # (U, I) items to exclude
    user_ids: list[Any] | None  # index -> raw id
    item_ids: list[Any] | None
    manifest: dict[str, Any]

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

    def item_id(self, index: int) -> Any:
        return index if self.item_ids is None else self.item_ids[index]

    def user_id(self, index: int) -> Any:
        return index if self.user_ids is None else self.user_ids[index]


def load_export(path: str | Path) -> Exported:
    """Load ``<run dir>/export`` (or the run dir itself); raw tensors and JSON only, nothing executable."""
    folder = Path(path)
    if (folder / "export" / MANIFEST).exists():
        folder = folder / "export"
    manifest_path = folder / MANIFEST
    if not manifest_path.exists():
        raise ExportError(f"{manifest_path}: no export manifest; a run writes <run dir>/export/ when it finishes")
    try:
        manifest = json.loads(manifest_path.read_text())
    except json.JSONDecodeError as err:
        raise ExportError(f"{manifest_path}, line {err.lineno}: not valid JSON ({err.msg})") from err
    if manifest.get("format") != FORMAT:
        raise ExportError(f"{manifest_path}: export format {manifest.get('format')!r}, this version reads {FORMAT}")
    if manifest.get("embeddings") is None:
        raise ExportError(f"{manifest_path}: {manifest.get('reason', 'this run exported no embeddings')}")
    tensor_path = folder / manifest["embeddings"]
    try:
        tensors = load_file(str(tensor_path))
    except (SafetensorError, OSError) as err:
        raise ExportError(f"{tensor_path}: not a readable safetensors file ({err})") from err
    want = {"user": (manifest["num_users"], manifest["dim"]), "item": (manifest["num_items"], manifest["dim"])}
    for name, shape in want.items():
        if name not in tensors or tuple(tensors[name].shape) != shape:
            got = tuple(tensors[name].shape) if name in tensors else "nothing"
            raise ExportError(f"{tensor_path}: {name!r} should be {shape} per the manifest, got {got}")
    seen = CSR(tensors["seen_indptr"], tensors["seen_indices"], manifest["num_items"])
    ids = [_ids(folder / f"{side}_ids.json", n) if manifest.get("ids") else None
           for side, n in (("user", manifest["num_users"]), ("item", manifest["num_items"]))]  # fmt: skip
    return Exported(tensors["user"], tensors["item"], seen, ids[0], ids[1], manifest)


def _ids(path: Path, n: int) -> list[Any]:
    try:
        ids = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise ExportError(f"{path}: the id map cannot be read ({err})") from err
    if not isinstance(ids, list) or len(ids) != n:
        raise ExportError(f"{path}: expected a list of {n} ids, got {type(ids).__name__} of {len(ids)}")
    return ids
