"""Losses on normalised embeddings: SimpleX's cosine contrastive loss and DirectAU."""

from __future__ import annotations

from torch import Tensor, nn

from recsys_pyg.losses.batch import ScoredBatch
from recsys_pyg.losses.functional import alignment, ccl_loss, uniformity


class CCLLoss(nn.Module):
    """SimpleX's :func:`~recsys_pyg.losses.functional.ccl_loss` on cosine scores (``similarity = "cosine"``:
    training and evaluation rank by cosine)."""

    similarity = "cosine"

    def __init__(self, margin: float = 0.9, neg_weight: float | None = 150.0) -> None:
        super().__init__()
        if not -1.0 <= margin <= 1.0:
            raise ValueError(f"margin is a cosine threshold in [-1, 1], got {margin}")
        if neg_weight is not None and neg_weight < 0:
            raise ValueError(f"neg_weight must be >= 0 (or null for a plain sum), got {neg_weight}")
        self.margin, self.neg_weight = margin, neg_weight

    def forward(self, batch: ScoredBatch) -> Tensor:
        return ccl_loss(batch.pos, batch.neg, batch.mask, self.margin, self.neg_weight)

    def extra_repr(self) -> str:
        return f"margin={self.margin}, neg_weight={self.neg_weight}"


class DirectAULoss(nn.Module):
    r"""DirectAU (Wang et al., KDD 2022): alignment of each positive pair plus uniformity of the batch's
    users and of its items, :math:`\ell_{align} + \gamma\,(\ell_{unif}(U) + \ell_{unif}(I)) / 2`.

    A loss of the batch's embeddings, not of its scores: negatives are drawn but not used.
    """

    def __init__(self, gamma: float = 1.0) -> None:
        super().__init__()
        if gamma < 0:
            raise ValueError(f"gamma must be >= 0, got {gamma}")
        self.gamma = gamma

    def forward(self, batch: ScoredBatch) -> Tensor:
        user_emb, pos_emb = batch.user_emb, batch.pos_emb  # (B, d) each
        return alignment(user_emb, pos_emb) + self.gamma * (uniformity(user_emb) + uniformity(pos_emb)) / 2

    def extra_repr(self) -> str:
        return f"gamma={self.gamma}"
