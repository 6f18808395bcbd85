"""The contrastive losses: SimpleX's CCL, DirectAU and InfoNCE against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from recsys_pyg.contracts import uses_cosine
from recsys_pyg.losses import CCLLoss, DirectAULoss, ScoredBatch, ccl_loss, info_nce
from recsys_pyg.train import train
from tests.helpers.configs import DATA, TRAINED
from tests.helpers.reference import np_info_nce
from tests.helpers.syncs import setup, syncs_in_steps


def test_ccl_hand_computed_with_and_without_weight_and_mask():
    pos = torch.tensor([0.8, -0.2])
    neg = torch.tensor([[0.95, 0.5], [0.92, 0.99]])
    # row 0: (1 - 0.8) + relu(0.95 - 0.9) + relu(0.5 - 0.9) = 0.2 + 0.05; row 1: 1.2 + 0.02 + 0.09
    assert ccl_loss(pos, neg, margin=0.9).item() == pytest.approx((0.25 + 1.31) / 2, rel=1e-5)
    # w / |N| * sum: row 0: 0.2 + 150 * 0.05 / 2; row 1: 1.2 + 150 * 0.11 / 2
    assert ccl_loss(pos, neg, margin=0.9, neg_weight=150).item() == pytest.approx((3.95 + 9.45) / 2, rel=1e-5)
    mask = torch.tensor([[True, False], [False, False]])  # row 0 keeps one negative, row 1 none
    assert ccl_loss(pos, neg, mask, 0.9, 150).item() == pytest.approx((0.2 + 150 * 0.05 + 1.2) / 2, rel=1e-5)


def test_ccl_loss_scores_by_cosine_and_checks_arguments():
    loss = CCLLoss()
    assert uses_cosine(loss) and (loss.margin, loss.neg_weight) == (0.9, 150.0)
    pos, neg = torch.rand(4) * 2 - 1, torch.rand(4, 3) * 2 - 1
    assert loss(ScoredBatch.of_scores(pos, neg)) == ccl_loss(pos, neg, None, 0.9, 150.0)
    assert "margin=0.9, neg_weight=150.0" in repr(loss)
    with pytest.raises(ValueError, match="margin is a cosine"):
        CCLLoss(margin=1.5)
    with pytest.raises(ValueError, match="neg_weight"):
        CCLLoss(neg_weight=-1)


def test_directau_hand_computed():
    users = [[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]]
    items = [[1.0, 1.0], [0.0, -1.0], [2.0, 0.0]]

    def unit(v):
        n = math.hypot(*v)
        return [x / n for x in v]

    def sq(a, b):
        return sum((x - y) ** 2 for x, y in zip(unit(a), unit(b)))

    def uniform(rows):
        pairs = [(a, b) for n, a in enumerate(rows) for b in rows[n + 1 :]]
        return math.log(sum(math.exp(-2 * sq(a, b)) for a, b in pairs) / len(pairs))

    align = sum(sq(u, i) for u, i in zip(users, items)) / 3
    loss = DirectAULoss(gamma=2.0)
    expected = align + 2.0 * (uniform(users) + uniform(items)) / 2
    assert loss(embedded(users, items)).item() == pytest.approx(expected, rel=1e-5)
    # one row: no pair to spread, alignment only
    assert loss(embedded(users[:1], items[:1])).item() == pytest.approx(sq(users[0], items[0]), abs=1e-6)
    with pytest.raises(ValueError, match="gamma"):
        DirectAULoss(gamma=-1)


def embedded(users: list, items: list) -> ScoredBatch:
    """A batch whose users' and positives' embeddings are the given rows (scores unused)."""
    batch = ScoredBatch.of_scores(torch.zeros(len(users)), torch.zeros(len(users), 1))
    batch.user_emb, batch.pos_emb = torch.tensor(users), torch.tensor(items)
    return batch


def test_info_nce_equals_numpy_and_counts_kept_rows_once():
    z1, z2 = torch.randn(5, 4), torch.randn(5, 4)
    assert info_nce(z1, z2, 0.2).item() == pytest.approx(np_info_nce(z1.numpy(), z2.numpy(), 0.2), rel=1e-5)
    ids = torch.tensor([0, 1, 0, 2, 1])
    rows = torch.tensor([[1.0, 0.0], [0.3, 0.9], [1.0, 0.0], [-0.5, 0.2], [0.3, 0.9]])
    other = rows + 0.1 * torch.randn(3, 2)[ids]  # the same id has the same row in both views
    keep = torch.tensor([True, True, False, True, False])
    expected = np_info_nce(rows[[0, 1, 3]].numpy(), other[[0, 1, 3]].numpy(), 0.5)
    assert info_nce(rows, other, 0.5, keep).item() == pytest.approx(expected, rel=1e-5)
    assert np.isfinite(expected)


@pytest.mark.parametrize("loss", ["ccl", "directau"])
def test_training_step_never_syncs(cfg_factory, tmp_path, loss):
    assert syncs_in_steps(*setup(cfg_factory, tmp_path, "model=lightgcn", f"loss={loss}", "sampler=shared")) == []


# slow: that they learn is tests/test_combinations.py's claim (one training per piece)
@pytest.mark.slow
@pytest.mark.parametrize(
    "overrides",
    [["loss=ccl", "sampler=shared", "sampler.num_negatives=100"], ["loss=directau"]],
    ids=["ccl", "directau"],
)
def test_trains_through_train_and_beats_mostpop(cfg_factory, overrides):
    results = train(cfg_factory("model=mf", *overrides, *DATA, *TRAINED))
    assert results["test/recall@20"] > 1.3 * results["mostpop/test/recall@20"]  # seeds 0, 1: 1.50-1.63x
