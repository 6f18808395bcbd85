import math

import pytest
import torch

from recsys_pyg.losses import BinaryLoss, BPRLoss, binary_loss, bpr_loss


def log_sigmoid(x: float) -> float:
    return -math.log1p(math.exp(-x))


def test_bpr_hand_computed():
    pos = torch.tensor([2.0, 0.0])
    neg = torch.tensor([[1.0, 3.0], [0.5, -1.0]])
    row0 = -(log_sigmoid(1.0) + log_sigmoid(-1.0)) / 2
    row1 = -(log_sigmoid(-0.5) + log_sigmoid(1.0)) / 2
    assert bpr_loss(pos, neg).item() == pytest.approx((row0 + row1) / 2, rel=1e-6)


def test_bpr_mask_drops_negatives_and_empty_rows():
    pos = torch.tensor([2.0, 0.0])
    neg = torch.tensor([[1.0, 3.0], [0.5, -1.0]])
    mask = torch.tensor([[True, False], [False, False]])
    # only row 0 has a valid negative; row 1 is left out of the mean
    assert bpr_loss(pos, neg, mask).item() == pytest.approx(-log_sigmoid(1.0), rel=1e-6)


def test_binary_hand_computed():
    pos = torch.tensor([1.0, -2.0])
    neg = torch.tensor([[0.0], [3.0]])
    softplus = lambda x: math.log1p(math.exp(x))  # noqa: E731
    expected = (softplus(-1.0) + softplus(2.0) + softplus(0.0) + softplus(3.0)) / 4
    assert binary_loss(pos, neg).item() == pytest.approx(expected, rel=1e-6)
    mask = torch.tensor([[True], [False]])
    expected_masked = (softplus(-1.0) + softplus(2.0) + softplus(0.0)) / 3
    assert binary_loss(pos, neg, mask).item() == pytest.approx(expected_masked, rel=1e-6)


def test_shapes_checked_and_modules():
    with pytest.raises(ValueError, match="expected pos"):
        bpr_loss(torch.zeros(3), torch.zeros(2, 1))
    with pytest.raises(ValueError, match="l2_weight"):
        BPRLoss(l2_weight=-1)
    pos, neg = torch.randn(4), torch.randn(4, 3)
    assert BPRLoss(1e-3)(pos, neg) == bpr_loss(pos, neg)
    assert BinaryLoss()(pos, neg) == binary_loss(pos, neg)
    assert "l2_weight=0.001" in repr(BPRLoss(1e-3))
