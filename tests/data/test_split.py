"""Split protocols: temporal, random, leave-one-out, global temporal; disjoint parts, exact fractions."""

import pytest
import torch

from recsys_pyg.data import Interactions, make_synthetic, temporal_split
from recsys_pyg.data.split import Split, global_temporal_split, leave_one_out, random_split


def pair_keys(part: Interactions) -> set[tuple[int, int]]:
    return set(zip(part.user.tolist(), part.item.tolist()))


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


def events(num_users=40, per_user=10, seed=0) -> Interactions:
    gen = torch.Generator().manual_seed(seed)
    user = torch.arange(num_users).repeat_interleave(per_user)
    item = torch.stack([torch.randperm(50, generator=gen)[:per_user] for _ in range(num_users)]).flatten()
    time = torch.randint(0, 10_000, (num_users * per_user,), generator=gen)
    return Interactions(user, item, num_users, 50, timestamp=time)


def pairs(part: Interactions) -> set:
    return set(zip(part.user.tolist(), part.item.tolist()))


def assert_disjoint(split: Split, total: int) -> None:
    parts = [pairs(split.train), pairs(split.val), pairs(split.test)]
    assert not (parts[0] & parts[1]) and not (parts[0] & parts[2]) and not (parts[1] & parts[2])
    assert sum(len(p) for p in parts) == total


def test_random_and_leave_one_out_protocols():
    data = events()
    split = random_split(data, 0.1, 0.3, seed=4)
    assert_disjoint(split, len(data))
    assert torch.bincount(split.test.user, minlength=40).tolist() == [3] * 40
    assert not torch.equal(split.test.item, random_split(data, 0.1, 0.3, seed=5).test.item)
    loo = leave_one_out(data, mode="last")
    assert_disjoint(loo, len(data))
    assert torch.bincount(loo.test.user, minlength=40).tolist() == [1] * 40
    for u in range(40):  # the test event is the user's latest, the validation event the one before
        t = data.timestamp[data.user == u].sort().values
        assert loo.test.timestamp[loo.test.user == u].item() == t[-1]
        assert loo.val.timestamp[loo.val.user == u].item() == t[-2]
    assert len(leave_one_out(data, mode="random", validation=False).val) == 0
    with pytest.raises(ValueError, match="mode must be"):
        leave_one_out(data, mode="first")


def test_global_temporal_split_and_cold_start():
    data = events()
    split = global_temporal_split(data, val_fraction=0.1, test_fraction=0.2)
    assert_disjoint(split, len(data))
    assert (
        split.train.timestamp.max()
        < split.val.timestamp.min()
        <= split.val.timestamp.max()
        < split.test.timestamp.min()
    )
    assert abs(len(split.test) - 0.2 * len(data)) <= 5
    late = Interactions(torch.tensor([0, 0, 1]), torch.tensor([0, 1, 2]), 2, 3, timestamp=torch.tensor([1, 2, 9]))
    cut = global_temporal_split(late, 0.0, 0.0, test_cutoff=5)
    assert cut.cold_start("test").tolist() == [1]
