"""The embedded synthetic dataset: deterministic, exact sizes, popularity and activity skew."""

import pytest
import torch

from recsys_pyg.data import Interactions, make_synthetic


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


def test_synthetic_item_features_carry_the_tastes_and_leave_the_interactions_alone():
    data = make_synthetic(300, 400, 6000, seed=1)
    plain = make_synthetic(300, 400, 6000, seed=1, features=False)
    assert plain.item_features is None and torch.equal(data.item, plain.item) and torch.equal(data.user, plain.user)
    feats = data.item_features
    assert feats.shape == (400, 16)
    # taste + noise of norm ~1: a feature vector is nearer its own taste cluster than the average item
    noiseless = make_synthetic(300, 400, 6000, seed=1, feature_noise=0.0).item_features
    torch.testing.assert_close(noiseless.norm(dim=1), torch.ones(400))
    assert abs(float((feats - noiseless).norm(dim=1).mean()) - 1.0) < 0.1
    own = torch.nn.functional.cosine_similarity(feats, noiseless).mean()
    other = torch.nn.functional.cosine_similarity(feats, noiseless.roll(1, 0)).mean()
    assert own > 0.6 and own > other + 0.3
