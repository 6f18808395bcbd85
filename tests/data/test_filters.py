"""k-core and activity filters, checked against a plain-Python iterative reference."""

from __future__ import annotations

from collections import Counter

import pytest
import torch
from hydra.utils import instantiate

from recsys_pyg.data import RecDataset
from recsys_pyg.data.filters import k_core, min_user_interactions
from recsys_pyg.data.interactions import Interactions


def _reference_k_core(pairs: list[tuple[int, int]], user_k: int, item_k: int) -> list[tuple[int, int]]:
    """Remove under-degree rows until stable, one Python pass at a time."""
    while True:
        u_deg = Counter(u for u, _ in pairs)
        i_deg = Counter(i for _, i in pairs)
        kept = [(u, i) for u, i in pairs if u_deg[u] >= user_k and i_deg[i] >= item_k]
        if len(kept) == len(pairs):
            return kept
        pairs = kept


def _raw_pairs(data: Interactions) -> list[tuple[int, int]]:
    return sorted(
        (data.user_ids[u], data.item_ids[i]) for u, i in zip(data.user.tolist(), data.item.tolist(), strict=True)
    )


def test_k_core_hand_example() -> None:
    # item 3 has one user -> removed; user 2 then has one item -> removed; item 2 then drops below 2.
    user = torch.tensor([0, 0, 0, 1, 1, 1, 2, 2])
    item = torch.tensor([0, 1, 2, 0, 1, 2, 2, 3])
    data = Interactions(user, item, 4, 5, timestamp=torch.arange(8), user_features=torch.arange(4.0)[:, None])
    out = k_core(data, user_k=2, item_k=2)
    assert (out.num_users, out.num_items) == (2, 3)
    assert out.user.tolist() == [0, 0, 0, 1, 1, 1] and out.item.tolist() == [0, 1, 2, 0, 1, 2]
    assert out.timestamp.tolist() == [0, 1, 2, 3, 4, 5]
    assert out.user_ids == [0, 1] and out.item_ids == [0, 1, 2]  # input indices when there were no raw ids
    assert out.user_features.flatten().tolist() == [0.0, 1.0]

    out3 = k_core(data, user_k=3, item_k=2)
    assert (out3.num_users, out3.num_items, len(out3)) == (2, 3, 6)


@pytest.mark.parametrize("seed,user_k,item_k", [(0, 3, 3), (1, 5, 2), (2, 2, 6)])
def test_k_core_matches_reference_on_random_graph(seed: int, user_k: int, item_k: int) -> None:
    gen = torch.Generator().manual_seed(seed)
    num_users, num_items, edges = 300, 200, 2500
    # skewed item popularity so the core is a strict, non-trivial subset
    item = torch.multinomial(torch.arange(1, num_items + 1.0) ** -0.8, edges, replacement=True, generator=gen)
    user = torch.randint(0, num_users, (edges,), generator=gen)
    user_ids = [f"u{j}" for j in range(num_users)]
    item_ids = [1000 + j for j in range(num_items)]
    item_features = torch.randn(num_items, 4, generator=gen)
    data = Interactions(
        user, item, num_users, num_items, user_ids=user_ids, item_ids=item_ids, item_features=item_features
    )

    out = k_core(data, user_k, item_k)
    expected = _reference_k_core(_raw_pairs(data), user_k, item_k)
    assert 0 < len(out) < len(data)
    assert _raw_pairs(out) == sorted(expected)
    assert (torch.bincount(out.user, minlength=out.num_users) >= user_k).all()
    assert (torch.bincount(out.item, minlength=out.num_items) >= item_k).all()
    # features follow their items through the re-indexing
    old = torch.tensor([j - 1000 for j in out.item_ids])
    assert torch.equal(out.item_features, item_features[old])


def test_k_core_empty_result_says_what_to_do() -> None:
    data = Interactions(torch.tensor([0, 1]), torch.tensor([0, 1]), 2, 2)
    with pytest.raises(ValueError, match="lower the thresholds"):
        k_core(data, 2, 2)


def test_min_user_interactions_reindexes_users_only() -> None:
    data = Interactions(
        torch.tensor([0, 2, 2, 3, 3, 3]), torch.tensor([4, 0, 1, 0, 1, 2]), 4, 5, user_ids=["a", "b", "c", "d"]
    )
    out = min_user_interactions(data, 2)
    assert (out.num_users, out.num_items) == (2, 5)
    assert out.user_ids == ["c", "d"] and out.item_ids is None
    assert out.user.tolist() == [0, 0, 1, 1, 1] and out.item.tolist() == [0, 1, 0, 1, 2]


def test_filters_from_the_config(cfg_factory):
    cfg = cfg_factory("dataset.filters.user_core=30", "dataset.filters.item_core=30")
    data: RecDataset = instantiate(cfg.dataset)
    full = torch.cat([getattr(data.split, p).user for p in ("train", "val", "test")])
    items = torch.cat([getattr(data.split, p).item for p in ("train", "val", "test")])
    assert torch.bincount(full).min() >= 30 and torch.bincount(items).min() >= 30
    assert data.num_users < 1000 and data.num_items < 1700
