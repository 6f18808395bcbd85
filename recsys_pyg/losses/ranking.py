"""Ranking losses as modules: each holds its hyperparameters and scores a :class:`ScoredBatch`.

A loss is a small ``nn.Module`` whose ``forward`` takes the whole scored batch (scores, mask, the
ids and the sampler's draw), so a loss that needs more than the scores (a proposal's
log-probabilities, the item ids) reads them from there. Regularisation is not a loss's business:
:class:`~recsys_pyg.losses.objective.Objective` adds ``l2_weight`` x the model's penalty.
"""

from __future__ import annotations

import math

from torch import Tensor, nn

from recsys_pyg.losses.batch import ScoredBatch
from recsys_pyg.losses.functional import (
    binary_loss,
    bpr_loss,
    bsl_loss,
    logq_softmax_loss,
    margin_loss,
    softmax_loss,
)


def _positive(name: str, value: float) -> float:
    if not value > 0:
        raise ValueError(f"{name} must be > 0, got {value}")
    return float(value)


def _similarity(name: str, value: str | None, default: str) -> str:
    value = default if value is None else value
    if value not in ("dot", "cosine"):
        raise ValueError(f"{name} must be 'dot' or 'cosine', got {value!r}")
    return value


class BPRLoss(nn.Module):
    """:func:`~recsys_pyg.losses.functional.bpr_loss` of the batch's scores."""

    def forward(self, batch: ScoredBatch) -> Tensor:
        return bpr_loss(batch.pos, batch.neg, batch.mask)


class BinaryLoss(nn.Module):
    """:func:`~recsys_pyg.losses.functional.binary_loss` of the batch's scores."""

    def forward(self, batch: ScoredBatch) -> Tensor:
        return binary_loss(batch.pos, batch.neg, batch.mask)


class SoftmaxLoss(nn.Module):
    """:func:`~recsys_pyg.losses.functional.softmax_loss` with temperature ``τ``, on the scores as drawn
    (no correction for the sampling law: with popularity-drawn negatives it over-penalises popular items;
    see :class:`LogQSoftmaxLoss`).

    Args:
        temperature: ``τ``.
        similarity: ``"dot"`` or ``"cosine"``: what the scores are in training (cosine: of the normalised
            embeddings, as BSL and SimpleX train).
        eval_similarity: how evaluation, the export and serving rank; ``None`` = ``similarity``
            (BSL's authors train by cosine and rank by the raw dot product).
        eval_popularity: at ranking, every item's score gains ``eval_popularity * log(1 + d_i)``, ``d_i`` its
            training degree (default 0: the similarity alone). In-batch negatives are drawn with ``q_i ∝ d_i``,
            which this softmax does not correct in training, so its scores learn ``log p(i|u) - log q_i``;
            ``eval_popularity = temperature`` adds ``log q_i`` back at ranking: the logQ correction
            (:class:`LogQSoftmaxLoss`) applied at inference instead, as PDA adjusts a deconfounded model
            (Zhang et al., SIGIR 2021). An item without training edges gains 0, so cold items are ranked
            among themselves by similarity alone.
    """

    def __init__(
        self,
        temperature: float = 0.1,
        similarity: str = "dot",
        eval_similarity: str | None = None,
        eval_popularity: float = 0.0,
    ) -> None:
        super().__init__()
        self.temperature = _positive("temperature", temperature)
        self.similarity = _similarity("similarity", similarity, "dot")
        self.eval_similarity = _similarity("eval_similarity", eval_similarity, self.similarity)
        if isinstance(eval_popularity, bool) or not float(eval_popularity) >= 0 or not math.isfinite(eval_popularity):
            raise ValueError(f"eval_popularity must be a finite number >= 0, got {eval_popularity!r}")
        self.eval_popularity = float(eval_popularity)

    def forward(self, batch: ScoredBatch) -> Tensor:
        return softmax_loss(batch.pos, batch.neg, batch.mask, self.temperature)

    def extra_repr(self) -> str:
        prior = f", eval_popularity={self.eval_popularity}" if self.eval_popularity else ""
        return f"temperature={self.temperature}, similarity={self.similarity!r}, eval={self.eval_similarity!r}{prior}"


class BSLLoss(nn.Module):
    """BSL (Wu et al., ICDE 2024), :func:`~recsys_pyg.losses.functional.bsl_loss`: ``τ1`` the softmax's
    temperature, ``τ2`` the weight of the negatives' log-sum (1 = a softmax without the positive in its
    denominator); cosine scores by default, as the authors train (``u_norm``, ``i_norm``).

    Args:
        temperature: ``τ1`` (authors' Gowalla LightGCN: 0.12).
        temperature2: ``τ2`` (authors: 1.0 for LightGCN on Gowalla, tuned in [0.8, 1.3] for MF).
        similarity, eval_similarity: as :class:`SoftmaxLoss`.
    """

    def __init__(
        self,
        temperature: float = 0.12,
        temperature2: float = 1.0,
        similarity: str = "cosine",
        eval_similarity: str | None = None,
    ) -> None:
        super().__init__()
        self.temperature = _positive("temperature", temperature)
        self.temperature2 = _positive("temperature2", temperature2)
        self.similarity = _similarity("similarity", similarity, "cosine")
        self.eval_similarity = _similarity("eval_similarity", eval_similarity, self.similarity)

    def forward(self, batch: ScoredBatch) -> Tensor:
        return bsl_loss(batch.pos, batch.neg, batch.mask, self.temperature, self.temperature2)

    def extra_repr(self) -> str:
        return (f"temperature={self.temperature}, temperature2={self.temperature2}, similarity={self.similarity!r}, "
                f"eval={self.eval_similarity!r}")  # fmt: skip


class LogQSoftmaxLoss(nn.Module):
    """Sampled softmax corrected by the sampler's proposal, :func:`~recsys_pyg.losses.functional.logq_softmax_loss`.

    Reads ``log q`` from the sampler's draw (``Negatives.log_q``); ``needs_log_q`` makes the run refuse a
    sampler that cannot give it (hard negatives, PPR, curricula) before training starts.
    """

    needs_log_q = True

    def __init__(self, temperature: float = 0.1) -> None:
        super().__init__()
        self.temperature = _positive("temperature", temperature)

    def forward(self, batch: ScoredBatch) -> Tensor:
        if batch.neg.shape[1] != batch.num_easy:
            raise ValueError("LogQSoftmaxLoss: hard negatives have no proposal probability; use a sampler without them")
        mask = batch.mask
        return logq_softmax_loss(batch.pos, batch.neg, batch.easy_log_q(), mask, self.temperature)

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}"


class MarginLoss(nn.Module):
    """PinSAGE's :func:`~recsys_pyg.losses.functional.margin_loss` with margin ``Δ``."""

    def __init__(self, margin: float = 0.1) -> None:
        super().__init__()
        if margin < 0:
            raise ValueError(f"margin must be >= 0, got {margin}")
        self.margin = float(margin)

    def forward(self, batch: ScoredBatch) -> Tensor:
        return margin_loss(batch.pos, batch.neg, batch.mask, self.margin)

    def extra_repr(self) -> str:
        return f"margin={self.margin}"
