"""Statistics and consistency checks of a prepared dataset (the ``recsys-data`` command)."""

from __future__ import annotations

import torch

from recsys_pyg.data.dataset import RecDataset
from recsys_pyg.data.interactions import Interactions

PARTS = ("train", "val", "test")


def degree_quantiles(values: torch.Tensor, qs: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 0.9, 0.99, 1.0)) -> str:
    if values.numel() == 0:
        return "-"
    ordered = values.double().sort().values
    picks = [ordered[min(int(q * (len(ordered) - 1)), len(ordered) - 1)] for q in qs]
    return " ".join(f"p{int(q * 100)}={float(v):g}" for q, v in zip(qs, picks))


def check(data: RecDataset) -> list[str]:
    """Problems that would make results wrong: pairs in two parts, ids out of range. Empty = fine."""
    problems = []
    keys = {}
    for name in PARTS:
        part: Interactions = getattr(data.split, name)
        for side, ids, n in (("user", part.user, data.num_users), ("item", part.item, data.num_items)):
            if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= n):
                problems.append(f"{name}: {side} id out of range [0, {n})")
        keys[name] = torch.unique(part.user * data.num_items + part.item)
    for i, a in enumerate(PARTS):
        for b in PARTS[i + 1 :]:
            both = int(torch.isin(keys[a], keys[b]).sum())
            if both:
                problems.append(f"{both} user-item pairs are in both {a} and {b}")
    return problems


def report(data: RecDataset) -> str:
    """A readable table of the dataset's sizes, density and degree quantiles per part."""
    stats = data.stats()
    lines = [
        f"dataset {data.name}: {data.num_users} users x {data.num_items} items, density {stats['density']:.5f}",
        "| part | interactions | users | user degree | item degree | cold-start users |",
        "|---|---:|---:|---|---|---:|",
    ]
    for name in PARTS:
        part: Interactions = getattr(data.split, name)
        udeg = torch.bincount(part.user, minlength=data.num_users)
        ideg = torch.bincount(part.item, minlength=data.num_items)
        cold = "-" if name == "train" else str(int(stats[f"{name}_cold_start_users"]))
        lines.append(
            f"| {name} | {len(part)} | {int((udeg > 0).sum())} | {degree_quantiles(udeg[udeg > 0])} | "
            f"{degree_quantiles(ideg[ideg > 0])} | {cold} |"
        )
    features = [
        f"{k}: {tuple(v.shape)}"
        for k, v in (("item features", data.item_features), ("user features", data.user_features))
        if v is not None
    ]
    if features:
        lines.append("features: " + ", ".join(features))
    return "\n".join(lines)
