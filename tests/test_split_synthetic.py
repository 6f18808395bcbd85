import pytest
import torch

from recsys_pyg.data import Interactions, make_synthetic, prepare_dataset, temporal_split


def pair_keys(part: Interactions) -> set[tuple[int, int]]:
    return set(zip(part.user.tolist(), part.item.tolist()))


def test_synthetic_is_deterministic_and_exact():
    a = make_synthetic(200, 300, 6000, seed=3)
    b = make_synthetic(200, 300, 6000, seed=3)
    c = make_synthetic(200, 300, 6000, seed=4)
    assert torch.equal(a.user, b.user) and torch.equal(a.item, b.item) and torch.equal(a.timestamp, b.timestamp)
    assert not torch.equal(a.item, c.item)
    assert len(a) == 6000 and len(pair_keys(a)) == 6000  # exact count, no repeated pair
    degree = torch.bincount(a.user, minlength=200)
    assert degree.min() >= 5 and degree.max() <= 150


def test_synthetic_has_popularity_and_activity_skew():
    data = make_synthetic()  # the default: ML-100K sized
    item_deg = torch.bincount(data.item, minlength=data.num_items).sort(descending=True).values
    top_share = item_deg[: data.num_items // 10].sum() / len(data)
    assert top_share > 0.3  # the top 10% of items take far more than 10% of interactions
    user_deg = torch.bincount(data.user, minlength=data.num_users).float()
    assert user_deg.std() / user_deg.mean() > 0.5


def test_synthetic_rejects_impossible_sizes():
    with pytest.raises(ValueError, match="num_interactions=10 is impossible"):
        make_synthetic(100, 50, 10)
    with pytest.raises(ValueError, match="num_users > 0"):
        make_synthetic(0, 50, 10)


def test_temporal_split_properties():
    data = make_synthetic(300, 400, 9000, seed=1)
    split = temporal_split(data, val_fraction=0.1, test_fraction=0.2, seed=0)
    train, val, test = pair_keys(split.train), pair_keys(split.val), pair_keys(split.test)
    assert not (train & val) and not (train & test) and not (val & test)
    assert len(train) + len(val) + len(test) == len(data)
    for u in range(300):
        times = {
            name: part.timestamp[part.user == u]
            for name, part in (("train", split.train), ("val", split.val), ("test", split.test))
        }
        n = sum(t.numel() for t in times.values())
        assert times["test"].numel() == round(n * 0.2)
        assert times["val"].numel() == round(n * 0.1)
        assert times["train"].numel() >= 1
        if times["val"].numel():
            assert times["train"].max() <= times["val"].min()
        if times["test"].numel():
            assert max(times["train"].max(), times["val"].max() if times["val"].numel() else 0) <= times["test"].min()


def test_split_keeps_single_event_users_in_train_and_checks_fractions():
    data = Interactions(
        torch.tensor([0, 1, 1, 1]), torch.tensor([0, 0, 1, 2]), 2, 3, timestamp=torch.tensor([5, 1, 2, 3])
    )
    split = temporal_split(data, 0.34, 0.34)
    assert split.train.user.tolist().count(0) == 1
    assert split.test.item.tolist() == [2] and split.val.item.tolist() == [1]
    with pytest.raises(ValueError, match="val_fraction \\+ test_fraction must be < 1"):
        temporal_split(data, 0.5, 0.5)


def test_interactions_validation_and_dedup():
    with pytest.raises(ValueError, match="item index out of range"):
        Interactions(torch.tensor([0]), torch.tensor([3]), 1, 3)
    with pytest.raises(ValueError, match="at least one user"):
        Interactions(torch.tensor([], dtype=torch.long), torch.tensor([], dtype=torch.long), 0, 3)
    data = Interactions(
        torch.tensor([0, 0, 1, 0]), torch.tensor([1, 1, 0, 2]), 2, 3, timestamp=torch.tensor([9, 4, 1, 2])
    )
    dedup = data.deduplicate()
    assert sorted(zip(dedup.user.tolist(), dedup.item.tolist(), dedup.timestamp.tolist())) == [
        (0, 1, 4),
        (0, 2, 2),
        (1, 0, 1),
    ]
    empty = Interactions(torch.tensor([], dtype=torch.long), torch.tensor([], dtype=torch.long), 2, 3)
    with pytest.raises(ValueError, match="has no interactions"):
        prepare_dataset("empty", empty, temporal_split)
