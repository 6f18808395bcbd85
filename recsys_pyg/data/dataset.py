"""A dataset ready for training: the split, the training graph and the evaluation targets."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

from recsys_pyg.data.graph import CSR, BipartiteGraph
from recsys_pyg.data.interactions import Interactions
from recsys_pyg.data.split import Split


@dataclass
class RecDataset:
    """A split dataset with its training graph and per-user held-out items."""

    name: str
    split: Split

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

    def stats(self) -> dict[str, float]:
        parts = {"train": self.split.train, "val": self.split.val, "test": self.split.test}
        out: dict[str, float] = {"users": self.num_users, "items": self.num_items}
        out.update({f"{k}_interactions": len(v) for k, v in parts.items()})
        out["density"] = sum(len(v) for v in parts.values()) / (self.num_users * self.num_items)
        return out


def _csr(part: Interactions) -> CSR:
    return CSR.from_pairs(part.user, part.item, part.num_users, part.num_items)


def prepare_dataset(
    name: str,
    source: Interactions | Split,
    split: Callable[[Interactions], Split] | None = None,
    deduplicate: bool = True,
) -> RecDataset:
    """Turn a loaded source into a :class:`RecDataset`.

    Args:
        name: dataset name for logs.
        source: an interaction table, or a :class:`Split` when the data comes pre-split.
        split: the protocol that splits a table (ignored for a pre-split source).
        deduplicate: collapse repeated (user, item) pairs to their earliest event first.
    """
    if isinstance(source, Split):
        return RecDataset(name, source)
    if len(source) == 0:
        raise ValueError(f"dataset '{name}' has no interactions")
    if split is None:
        raise ValueError(f"dataset '{name}' is a single table: give a split protocol (dataset.split)")
    if deduplicate:
        source = source.deduplicate()
    return RecDataset(name, split(source))
