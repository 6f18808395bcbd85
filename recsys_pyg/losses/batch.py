"""What a loss is computed from: a batch scored by the model, with everything the sampler drew."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from recsys_pyg.samplers.negatives import Negatives


@dataclass
class ScoredBatch:
    """A batch of ``B`` positive (user, item) pairs, its negatives and their scores.

    Args:
        users: ``(B,)`` the batch's users.
        pos_items: ``(B,)`` their positive items.
        negatives: what the sampler drew (:class:`~recsys_pyg.samplers.Negatives`: ``items``
            ``(B, k)`` or ``(S,)``, ``mask``, ``hard`` ``(B, h)``, ``log_q`` the proposal's
            log-probabilities of ``items``, where the sampler knows them).
        pos: ``(B,)`` scores of the positives.
        neg: ``(B, k + h)`` or ``(B, S + h)`` scores of the negatives (easy, then hard).
        mask: same shape as ``neg``, True where a negative counts; ``None`` = all count.
        user_emb: ``(B, d)`` the users' embeddings (normalised when the loss scores by cosine).
        pos_emb: ``(B, d)`` the positives' embeddings (likewise).
        items: every item scored, as passed to the model (what the L2 penalty regularises).
    """

    users: Tensor
    pos_items: Tensor
    negatives: Negatives
    pos: Tensor
    neg: Tensor
    mask: Tensor | None
    user_emb: Tensor
    pos_emb: Tensor
    items: Tensor

    @classmethod
    def of_scores(
        cls, pos: Tensor, neg: Tensor, mask: Tensor | None = None, log_q: Tensor | None = None
    ) -> ScoredBatch:
        """A batch holding scores only (ids zero, no embeddings): for a loss of scores, in tests and
        benchmarks. ``log_q`` ``(B, k)`` or ``(k,)``, the negatives' proposal log-probabilities."""
        b, k = neg.shape
        zeros = torch.zeros(b, dtype=torch.long, device=pos.device)
        negatives = Negatives(torch.zeros(b, k, dtype=torch.long, device=pos.device), mask, log_q=log_q)
        empty = pos.new_zeros(b, 0)
        return cls(zeros, zeros, negatives, pos, neg, mask, empty, empty, zeros)

    @property
    def num_easy(self) -> int:
        """Columns of ``neg`` that come from the sampler's ``items`` (the rest are hard negatives)."""
        return self.negatives.num_easy

    def easy_log_q(self) -> Tensor:
        """The proposal log-probabilities of the easy columns, ``(B, k)`` or ``(1, S)`` (broadcasts over rows).

        Raises ``ValueError`` when the sampler gave none: a loss that needs them cannot run on its draws.
        """
        log_q = self.negatives.log_q
        if log_q is None:
            raise ValueError(
                "this loss needs the sampler's proposal log-probabilities (Negatives.log_q) and the batch has none: "
                "use a sampler that provides them (sampler=uniform, popularity, shared or in_batch)"
            )
        return log_q[None, :] if log_q.dim() == 1 else log_q
