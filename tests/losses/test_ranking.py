"""Ranking losses: each function against a hand computation, each module against its function on a scored batch."""

import math

import pytest
import torch

from recsys_pyg.losses import BinaryLoss, BPRLoss, ScoredBatch, binary_loss, bpr_loss

of = ScoredBatch.of_scores


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
    pos, neg = torch.randn(4), torch.randn(4, 3)
    mask = torch.rand(4, 3) > 0.3
    assert BPRLoss()(of(pos, neg, mask)) == bpr_loss(pos, neg, mask)
    assert BinaryLoss()(of(pos, neg)) == binary_loss(pos, neg)


def test_softmax_hand_computed_and_masked():
    from recsys_pyg.losses import SoftmaxLoss, softmax_loss

    pos = torch.tensor([1.0, 0.0])
    neg = torch.tensor([[0.0, 2.0], [1.0, -1.0]])
    t = 0.5
    row0 = -math.log(math.exp(1 / t) / (math.exp(1 / t) + math.exp(0) + math.exp(2 / t)))
    row1 = -math.log(math.exp(0) / (math.exp(0) + math.exp(1 / t) + math.exp(-1 / t)))
    assert softmax_loss(pos, neg, temperature=t).item() == pytest.approx((row0 + row1) / 2, rel=1e-6)
    mask = torch.tensor([[True, False], [False, False]])
    row0m = -math.log(math.exp(1 / t) / (math.exp(1 / t) + 1))
    assert softmax_loss(pos, neg, mask, t).item() == pytest.approx((row0m + 0.0) / 2, rel=1e-6)
    assert SoftmaxLoss(temperature=t)(of(pos, neg)) == softmax_loss(pos, neg, temperature=t)
    with pytest.raises(ValueError, match="temperature"):
        SoftmaxLoss(temperature=0)


def test_margin_hand_computed():
    from recsys_pyg.losses import MarginLoss, margin_loss

    pos = torch.tensor([1.0, 0.0])
    neg = torch.tensor([[0.95, 0.0], [0.5, -1.0]])
    # row 0: relu(0.95-1+0.1)=0.05, relu(0-1+0.1)=0 -> 0.025; row 1: relu(0.6)=0.6, relu(-0.9)=0 -> 0.3
    assert margin_loss(pos, neg, margin=0.1).item() == pytest.approx((0.025 + 0.3) / 2, rel=1e-5)
    assert MarginLoss(0.1)(of(pos, neg)) == margin_loss(pos, neg, margin=0.1)


def test_hardness_meter_splits_easy_and_hard():
    from recsys_pyg.training.hardness import HardnessMeter

    meter = HardnessMeter()
    pos = torch.tensor([1.0, 2.0])
    neg = torch.tensor([[0.0, 3.0, 1.5], [2.5, 0.0, 4.0]])  # 2 easy columns, 1 hard
    mask = torch.tensor([[True, True, True], [True, False, True]])
    meter.update(pos, neg, mask, num_easy=2)
    out = meter.compute()
    # easy valid margins: 1, -2, -0.5 -> mean -0.5, violations 2/3; hard: -0.5, -2 -> -1.25, 1.0
    assert out["neg/easy_margin"] == pytest.approx(-0.5) and out["neg/easy_violation"] == pytest.approx(2 / 3)
    assert out["neg/hard_margin"] == pytest.approx(-1.25) and out["neg/hard_violation"] == 1.0


def test_logq_softmax_hand_computed():
    from recsys_pyg.losses import LogQSoftmaxLoss, logq_softmax_loss

    pos = torch.tensor([1.0, 0.0])
    neg = torch.tensor([[0.0, 2.0], [1.0, -1.0]])
    q = torch.tensor([[0.5, 0.1], [0.2, 0.2]])
    t = 0.5
    # row b: -log(e^{s+/t} / (e^{s+/t} + sum_j e^{s_j/t} / (k q_j))), k = 2 valid negatives
    row0 = -math.log(math.exp(2) / (math.exp(2) + math.exp(0) / (2 * 0.5) + math.exp(4) / (2 * 0.1)))
    row1 = -math.log(1 / (1 + math.exp(2) / (2 * 0.2) + math.exp(-2) / (2 * 0.2)))
    got = logq_softmax_loss(pos, neg, q.log(), temperature=t)
    assert got.item() == pytest.approx((row0 + row1) / 2, rel=1e-6)
    # masked: row 0 keeps one negative (k = 1); the module reads log q from the sampler's draw
    mask = torch.tensor([[True, False], [True, True]])
    row0m = -math.log(math.exp(2) / (math.exp(2) + 1 / 0.5))
    assert logq_softmax_loss(pos, neg, q.log(), mask, t).item() == pytest.approx((row0m + row1) / 2, rel=1e-6)
    assert LogQSoftmaxLoss(t)(of(pos, neg, mask, log_q=q.log())) == logq_softmax_loss(pos, neg, q.log(), mask, t)
    # a uniform proposal over I items only adds log(I / k) to every negative's logit
    uniform = torch.full((2, 2), math.log(1 / 10))
    shifted = torch.tensor([[0.0, 2.0], [1.0, -1.0]]) + t * math.log(10 / 2)
    assert logq_softmax_loss(pos, neg, uniform, temperature=t).item() == pytest.approx(
        softmax_loss_of(pos, shifted, t), rel=1e-6
    )


def softmax_loss_of(pos, neg, t):
    from recsys_pyg.losses import softmax_loss

    return softmax_loss(pos, neg, temperature=t).item()


def test_logq_softmax_refuses_a_batch_without_proposal():
    from recsys_pyg.losses import LogQSoftmaxLoss

    with pytest.raises(ValueError, match="proposal log-probabilities"):
        LogQSoftmaxLoss()(of(torch.zeros(2), torch.zeros(2, 3)))
    with pytest.raises(ValueError, match="log_q must be"):
        LogQSoftmaxLoss()(of(torch.zeros(2), torch.zeros(2, 3), log_q=torch.zeros(2, 2)))


def authors_bsl(y_pred: torch.Tensor, t1: float, t2: float) -> torch.Tensor:
    """junkangwu/BSL utils/losses.py, BSL.forward, mode "reweight" (column 0 the positive), verbatim."""
    pos_logits = torch.exp(y_pred[:, 0] / t1)
    neg_logits = torch.exp(y_pred[:, 1:] / t1)
    neg_logits = torch.pow(neg_logits.sum(dim=-1), t2)
    return -torch.log(pos_logits / neg_logits).mean()


def test_bsl_hand_computed_and_equal_to_the_authors_formula():
    from recsys_pyg.losses import BSLLoss, bsl_loss

    pos = torch.tensor([0.5, -0.2])
    neg = torch.tensor([[0.1, 0.4], [0.3, -0.6]])
    t1, t2 = 0.5, 0.8
    row0 = -0.5 / t1 + t2 * math.log(math.exp(0.1 / t1) + math.exp(0.4 / t1))
    row1 = 0.2 / t1 + t2 * math.log(math.exp(0.3 / t1) + math.exp(-0.6 / t1))
    assert bsl_loss(pos, neg, temperature=t1, temperature2=t2).item() == pytest.approx((row0 + row1) / 2, rel=1e-6)
    gen = torch.Generator().manual_seed(0)
    y = torch.rand(16, 9, generator=gen) * 2 - 1  # cosines
    for t1, t2 in ((0.12, 1.0), (0.12, 0.84), (0.3, 1.3)):
        ours = BSLLoss(t1, t2)(of(y[:, 0], y[:, 1:]))
        assert ours.item() == pytest.approx(authors_bsl(y, t1, t2).item(), rel=1e-5)
    # masked negatives leave the sum; a row without any keeps its positive term
    mask = torch.tensor([[True, False], [False, False]])
    expected = ((-0.5 / t1 + t2 * 0.1 / t1) + (0.2 / t1)) / 2
    assert bsl_loss(pos, neg, mask, t1, t2).item() == pytest.approx(expected, rel=1e-6)
    assert BSLLoss().similarity == "cosine" and BSLLoss(eval_similarity="dot").eval_similarity == "dot"
    with pytest.raises(ValueError, match="similarity must be 'dot' or 'cosine'"):
        BSLLoss(similarity="l2")


def test_softmax_similarity_reaches_training_and_evaluation():
    from recsys_pyg.losses import SoftmaxLoss, build_loss

    objective = build_loss({"_target_": "recsys_pyg.losses.ranking.SoftmaxLoss", "similarity": "cosine",
                            "eval_similarity": "dot", "l2_weight": 1e-5})  # fmt: skip
    assert (objective.train_similarity, objective.similarity, objective.l2_weight) == ("cosine", "dot", 1e-5)
    assert SoftmaxLoss().similarity == SoftmaxLoss().eval_similarity == "dot"
    with pytest.raises(ValueError, match="loss.similarity must be"):
        build_loss({"_target_": "recsys_pyg.losses.ranking.SoftmaxLoss", "similarity": "angle"})
    with pytest.raises((ValueError, TypeError), match="loss.l2_weight"):
        build_loss({"_target_": "recsys_pyg.losses.ranking.SoftmaxLoss", "l2_weight": "abc"})


def test_softmax_eval_popularity_reaches_the_objective_and_is_checked():
    from recsys_pyg.contracts import popularity_weight
    from recsys_pyg.losses import SoftmaxLoss, build_loss

    objective = build_loss({"_target_": "recsys_pyg.losses.ranking.SoftmaxLoss", "similarity": "cosine",
                            "eval_popularity": 0.12, "l2_weight": 0.0})  # fmt: skip
    assert objective.eval_popularity == 0.12 and popularity_weight(objective) == 0.12
    assert build_loss({"_target_": "recsys_pyg.losses.ranking.BPRLoss", "l2_weight": 0.0}).eval_popularity == 0.0
    for bad in (-0.1, float("nan"), float("inf"), True):
        with pytest.raises(ValueError, match="eval_popularity must be a finite number >= 0"):
            SoftmaxLoss(eval_popularity=bad)
