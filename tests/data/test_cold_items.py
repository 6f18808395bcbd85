"""The cold-item split: held-out items have no training interaction, all of theirs go to validation or test."""

from __future__ import annotations

import pytest
import torch

from recsys_pyg.data import make_synthetic
from recsys_pyg.data.cold_items import cold_item_split, first_seen


def _pairs(part) -> set[tuple[int, int]]:
    return set(zip(part.user.tolist(), part.item.tolist(), strict=True))


@pytest.mark.parametrize("by", ["random", "time"])
def test_cold_items_are_held_out_whole(by):
    data = make_synthetic(300, 400, 9000, seed=2)
    split = cold_item_split(data, cold_fraction=0.25, by=by, cold_val_share=0.4, seed=1)
    val, test = split.cold["val"], split.cold["test"]
    assert val.numel() + test.numel() == round(0.25 * data.item.unique().numel())
    assert val.numel() == round(0.4 * (val.numel() + test.numel()))
    cold = torch.cat([val, test])
    assert not torch.isin(split.train.item, cold).any()  # nothing of theirs in training
    # every interaction of a validation-cold item is in validation, of a test-cold item in test
    for items, part in ((val, split.val), (test, split.test)):
        held = torch.isin(data.item, items)
        assert _pairs(data.subset(held)) <= _pairs(part)
    assert sum(map(len, (split.train, split.val, split.test))) == len(data)
    assert not (_pairs(split.train) & _pairs(split.test)) and not (_pairs(split.val) & _pairs(split.test))
    if by == "time":  # the cold items are the last to appear, validation's before test's
        first = first_seen(data)
        warm = ~torch.isin(torch.arange(400), cold) & torch.isfinite(first)
        assert first[cold].min() >= first[warm].max()
        assert first[val].max() <= first[test].min()


def test_warm_interactions_split_per_user_by_time():
    data = make_synthetic(200, 300, 6000, seed=0)
    split = cold_item_split(data, cold_fraction=0.1, seed=0)
    cold = torch.cat([split.cold["val"], split.cold["test"]])
    warm_test = split.test.subset(~torch.isin(split.test.item, cold))
    for u in range(0, 200, 37):  # each user's warm test events come after its training events
        t_train = split.train.timestamp[split.train.user == u]
        t_test = warm_test.timestamp[warm_test.user == u]
        if t_train.numel() and t_test.numel():
            assert t_test.min() >= t_train.max()


def test_cold_item_split_refuses_bad_values():
    data = make_synthetic(50, 60, 500, seed=0)
    with pytest.raises(ValueError, match="cold_fraction must lie in"):
        cold_item_split(data, cold_fraction=1.0)
    with pytest.raises(ValueError, match="by must be one of"):
        cold_item_split(data, by="popularity")
    data.timestamp = None
    with pytest.raises(ValueError, match="needs timestamps"):
        cold_item_split(data, by="time")
