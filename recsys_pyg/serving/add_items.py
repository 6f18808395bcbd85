"""New items served without retraining: embed them with an export's item tower and add them to the index.

An export of an inductive PinSAGE (``model.id_embedding=false|dropout``) holds what this needs, as
safetensors and JSON (nothing executable): ``item_tower.safetensors`` (the item tower's weights, every
existing item's layer inputs ``layer<k>``, each feature encoder's tensors) and the manifest's
``item_tower`` entry (sizes and the fitted encoders' JSON state). A new item's embedding is the model's
own computation: its features through the fitted encoders and the projection, then ``K``
:class:`~recsys_pyg.models.pinsage_conv.PinSAGEConv` layers pooling its neighbours' layer inputs, the
head and the skip. Its neighbours come from ``--edges`` (pairs of a known user and a new item): the
``top_t`` existing items most likely reached by one item -> user -> item step of a random walk from it,
weighted by that probability (the expectation of the training walks' visit counts; an item without
edges pools nothing). Existing items and users keep their embeddings: nothing is retrained.
"""

from __future__ import annotations

import csv
import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from recsys_pyg.data.features import EncodedColumn, FeatureFileError, NodeFeatures, read_feature_file
from recsys_pyg.data.graph import CSR
from recsys_pyg.models.pinsage_conv import PinSAGEConv

TOWER = "item_tower.safetensors"


class ItemTower(nn.Module):
    r"""PinSAGE's item tower for items it was not trained on, built from numbers:
    :math:`\mathbf{h}^{(0)} = \mathbf{W}\mathbf{f} + \mathbf{b} + \sum_c \mathbf{E}_c[x_c]`, ``num_layers``
    convolutions over the neighbours' layer inputs, then :math:`\mathrm{head}(\mathbf{h}^{(K)}) + \mathbf{h}^{(0)}`.

    Its parameter names are PinSAGE's item-side ones (``proj.item.weight`` -> ``proj.weight``), so the
    trained weights load with ``load_state_dict(strict=True)``.

    Shapes:
        - **input:** dense features ``(M, F)`` or ``None``, categories ``(M, C)`` or ``None``, the existing
          items' layer inputs ``[(I, d_k)] * K``, neighbours ``index (M, T)`` into them and ``weight (M, T)``
        - **output:** ``(M, embedding_dim)``
    """

    def __init__(self, embedding_dim: int, hidden_dim: int, num_layers: int, dense_dim: int,
                 cardinalities: list[int]) -> None:  # fmt: skip
        super().__init__()
        self.embedding_dim = embedding_dim
        self.proj = nn.Linear(dense_dim, embedding_dim) if dense_dim else None
        self.categories = nn.ModuleList(nn.Embedding(int(c), embedding_dim) for c in cardinalities)
        dims = [embedding_dim] + [hidden_dim] * num_layers
        self.convs = nn.ModuleList(PinSAGEConv(dims[k], hidden_dim, dims[k + 1]) for k in range(num_layers))
        self.head = nn.Sequential(nn.Linear(hidden_dim, hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, embedding_dim))

    def forward(self, dense: Tensor | None, cats: Tensor | None, layers: list[Tensor], index: Tensor,
                weight: Tensor) -> Tensor:  # fmt: skip
        m, t = index.shape
        h0 = torch.zeros(m, self.embedding_dim)
        if self.proj is not None and dense is not None:
            h0 = h0 + self.proj(dense)
        for c, table in enumerate(self.categories):
            h0 = h0 + table(cats[:, c])  # type: ignore[index]
        dst = torch.arange(m).repeat_interleave(t)  # (M*T,) each neighbour -> its new item
        edges = torch.stack([index.flatten(), dst])
        h = h0
        for k, conv in enumerate(self.convs):
            h = conv((layers[k], h), edges, weight.flatten())  # neighbours' layer-k inputs pooled into the new items
        return self.head(h) + h0


def tower_export(model: nn.Module, graph: Any, features: NodeFeatures) -> tuple[dict[str, Any], dict[str, Tensor]]:
    """The manifest entry and tensors an export keeps for :func:`embed_new_items` (``model.item_tower``)."""
    config, tensors = model.item_tower(graph)  # type: ignore[operator]
    encoders = []
    for j, col in enumerate(features.columns):
        state, arrays = col.encoder.state()
        cls = type(col.encoder)
        encoders.append({"name": col.name, "kind": col.kind, "width": col.width, "output": cls.output,
                         "encoder": f"{cls.__module__}.{cls.__qualname__}", "state": state})  # fmt: skip
        tensors.update({f"encoder{j}.{key}": value.contiguous() for key, value in arrays.items()})
    return {**config, "encoders": encoders}, tensors


def _encoder_class(path: str, where: Path) -> Any:
    """The encoder class an export names: only one of this package's, never an arbitrary import."""
    module, _, name = path.rpartition(".")
    if not module.startswith("recsys_pyg."):
        raise ValueError(f"{where}: encoder {path!r} is not one of recsys_pyg's; the export was not written by it")
    cls = getattr(importlib.import_module(module), name, None)
    if cls is None or not hasattr(cls, "from_state"):
        raise ValueError(f"{where}: {path!r} is not a feature encoder (no from_state)")
    return cls


def load_tower(folder: Path, entry: dict[str, Any], tensors: dict[str, Tensor]) -> tuple[ItemTower, list[Tensor],
                                                                                          NodeFeatures]:  # fmt: skip
    """The tower, the existing items' layer inputs and the fitted encoders of an export."""
    where = folder / TOWER
    tower = ItemTower(entry["embedding_dim"], entry["hidden_dim"], entry["num_layers"], entry["dense_dim"],
                      entry["cardinalities"])  # fmt: skip
    weights = {k: v for k, v in tensors.items() if not k.startswith(("layer", "encoder"))}
    tower.load_state_dict(weights, strict=True)
    tower.eval()
    layers = [tensors[f"layer{k}"] for k in range(entry["num_layers"])]
    columns = []
    for j, enc in enumerate(entry["encoders"]):
        arrays = {k.split(".", 1)[1]: v for k, v in tensors.items() if k.startswith(f"encoder{j}.")}
        encoder = _encoder_class(enc["encoder"], where).from_state(enc["state"], arrays)
        columns.append(EncodedColumn(enc["name"], enc["kind"], encoder, int(enc["width"])))
    return tower, layers, NodeFeatures(None, None, columns)


def new_item_neighbourhoods(seen: CSR, users: Tensor, new: Tensor, num_new: int, top_t: int) -> tuple[Tensor, Tensor]:
    """Each new item's ``top_t`` existing neighbours and their weights, ``(M, T)`` twice (weight 0: padding).

    The weight of existing item ``k`` for new item ``j`` is the probability that one step item -> user ->
    item of a walk from ``j`` ends at ``k``: ``mean over j's users u of 1[k in seen(u)] / |seen(u)|``.
    ``users``, ``new``: the ``--edges`` pairs (user index, new item's position).
    """
    index = torch.zeros(num_new, top_t, dtype=torch.long)
    weight = torch.zeros(num_new, top_t)
    if users.numel() == 0:
        return index, weight
    pair, item = seen.gather_rows(users)  # (n,) position in the edge list, (n,) existing item
    degree = seen.degree()[users].clamp(min=1).float()  # (E,)
    users_of = torch.bincount(new, minlength=num_new).clamp(min=1).float()  # (M,)
    share = 1.0 / (degree[pair] * users_of[new[pair]])  # (n,)
    key = new[pair] * seen.num_cols + item
    key, inverse = torch.unique(key, return_inverse=True)
    mass = torch.zeros(key.numel()).index_add_(0, inverse, share)  # (n_pairs,) by (new item, existing item)
    order = torch.sort(mass, descending=True, stable=True).indices
    order = order[torch.argsort(key[order] // seen.num_cols, stable=True)]  # by new item, heaviest first
    row, col, mass = key[order] // seen.num_cols, key[order] % seen.num_cols, mass[order]
    rank = torch.arange(row.numel()) - torch.searchsorted(row, row)
    keep = rank < top_t
    index[row[keep], rank[keep]], weight[row[keep], rank[keep]] = col[keep], mass[keep]
    return index, weight


@dataclass
class NewItems:
    """Embedded new items: raw ids, embeddings ``(M, d)``, and the ``--edges`` pairs as seen items."""

    ids: list[str]
    emb: Tensor
    seen_users: Tensor  # (E,) user indices
    seen_items: Tensor  # (E,) positions among the new items


def read_edges(path: Path, user_lookup: dict[str, int], new_ids: list[str]) -> tuple[Tensor, Tensor]:
    """``user,item`` pairs (a header row, raw ids): known users and new items only, named by line otherwise."""
    position = {i: j for j, i in enumerate(new_ids)}
    users, items = [], []
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f))
    except OSError as err:
        raise FeatureFileError(path, f"cannot read the edges file ({err.strerror})") from None
    for line, row in enumerate(rows[1:], start=2):
        if not any(v.strip() for v in row):
            continue
        if len(row) < 2:
            raise FeatureFileError(path, "expected user,item", line)
        user, item = row[0].strip(), row[1].strip()
        if user not in user_lookup:
            raise FeatureFileError(path, f"user {user!r} is not in the export", line, rows[0][0] if rows else None)
        if item not in position:
            raise FeatureFileError(path, f"item {item!r} is not one of the new items", line, rows[0][1])
        users.append(user_lookup[user])
        items.append(position[item])
    return torch.tensor(users, dtype=torch.long), torch.tensor(items, dtype=torch.long)


@torch.no_grad()
def embed_new_items(exported: Any, features_file: str | Path, edges_file: str | Path | None = None) -> NewItems:
    """Embed the items of ``features_file`` (same columns as training's, keyed by new raw ids) with the
    export's item tower; ``edges_file`` gives some of them known users' interactions (their neighbourhoods)."""
    if exported.tower is None:
        raise ValueError(f"{exported.folder}: this export has no item tower (only an inductive PinSAGE, "
                         "model.id_embedding=false|dropout, can embed new items); retrain with one")  # fmt: skip
    tower, layers, encoders = exported.tower
    entry = exported.manifest["item_tower"]
    kinds = {c.name: c.kind for c in encoders.columns}
    widths = {c.name: c.width for c in encoders.columns if c.kind == "vector"}
    rows = read_feature_file(features_file, kinds, widths=widths)
    missing = [c for c in kinds if c not in rows.columns]
    if missing:
        raise FeatureFileError(rows.path, f"the model was trained with this column too; add it ({list(kinds)})",
                               column=missing[0])  # fmt: skip
    existing = {str(exported.item_id(i)) for i in range(exported.item.shape[0])}
    for key, row in zip(rows.ids, rows.rows, strict=True):
        if key in existing:
            raise FeatureFileError(rows.path, f"item {key!r} is already in the export; new items need new ids", row,
                                   rows.id_column, rows.unit)  # fmt: skip
    dense, cats = encoders.transform(rows.columns)
    users = torch.empty(0, dtype=torch.long)
    new = torch.empty(0, dtype=torch.long)
    if edges_file is not None:
        lookup = {str(exported.user_id(u)): u for u in range(exported.user.shape[0])}
        users, new = read_edges(Path(edges_file), lookup, rows.ids)
    index, weight = new_item_neighbourhoods(exported.seen, users, new, len(rows.ids), int(entry["top_t"]))
    emb = tower(dense, cats, layers, index, weight)
    if exported.manifest.get("items_normalized"):  # a cosine model: unit-norm items, as the export's
        emb = torch.nn.functional.normalize(emb, dim=-1)
    if exported.manifest.get("popularity_weight"):  # the export's popularity column: log(1 + 0) = 0, no training edges
        emb = torch.cat([emb, torch.zeros(emb.shape[0], 1, dtype=emb.dtype)], dim=1)
    return NewItems(rows.ids, emb, users, new)
