"""Ranking losses over a positive score per row and its negatives' scores.

Every loss takes ``pos`` ``(B,)`` and ``neg`` ``(B, k)`` — ``k`` negatives per positive, or
the ``S`` negatives shared by the batch — with an optional ``mask`` ``(B, k)`` that is
True where a negative counts (a shared negative that is the row user's own positive does
not). ``l2_weight`` scales the model's own regulariser, added by the training loop.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def _check(pos: Tensor, neg: Tensor, mask: Tensor | None) -> Tensor:
    if pos.dim() != 1 or neg.dim() != 2 or neg.shape[0] != pos.shape[0]:
        raise ValueError(f"expected pos (B,) and neg (B, k), got {tuple(pos.shape)} and {tuple(neg.shape)}")
    if mask is None:
        return torch.ones_like(neg, dtype=torch.bool)
    if mask.shape != neg.shape:
        raise ValueError(f"mask shape {tuple(mask.shape)} differs from neg shape {tuple(neg.shape)}")
    return mask


def _row_mean(pair: Tensor, mask: Tensor) -> Tensor:
    """Mean over each row's valid entries, then over the rows that have any (0 when none has).

    Written without a data-dependent branch or boolean indexing, so it never waits on the device.
    """
    count = mask.sum(1)  # (B,)
    has = count > 0
    per_row = pair.sum(1) / count.clamp_min(1)
    return (per_row * has).sum() / has.sum().clamp_min(1)


def bpr_loss(pos: Tensor, neg: Tensor, mask: Tensor | None = None) -> Tensor:
    r"""Bayesian personalised ranking, :math:`-\log \sigma(s_{ui} - s_{uj})`, averaged over each
    row's valid negatives, then over rows (Rendle et al., UAI 2009)."""
    mask = _check(pos, neg, mask)
    return _row_mean(-F.logsigmoid(pos[:, None] - neg) * mask, mask)  # (B, k) -> ()


def binary_loss(pos: Tensor, neg: Tensor, mask: Tensor | None = None) -> Tensor:
    r"""Binary cross-entropy with positives labelled 1 and negatives 0, averaged over all labelled
    pairs: :math:`\frac{1}{B + N}\left(\sum \log(1 + e^{-s^+}) + \sum \log(1 + e^{s^-})\right)`."""
    mask = _check(pos, neg, mask)
    total = F.softplus(-pos).sum() + (F.softplus(neg) * mask).sum()
    return total / (pos.numel() + mask.sum())


def softmax_loss(pos: Tensor, neg: Tensor, mask: Tensor | None = None, temperature: float = 0.1) -> Tensor:
    r"""Sampled softmax (InfoNCE): :math:`-\log \frac{e^{s^+/\tau}}{e^{s^+/\tau} + \sum_j e^{s^-_j/\tau}}`,
    averaged over rows; masked negatives are left out of the denominator."""
    mask = _check(pos, neg, mask)
    logits = torch.cat([pos[:, None], neg.masked_fill(~mask, -torch.inf)], dim=1) / temperature  # (B, 1 + k)
    return (torch.logsumexp(logits, dim=1) - logits[:, 0]).mean()


def margin_loss(pos: Tensor, neg: Tensor, mask: Tensor | None = None, margin: float = 0.1) -> Tensor:
    r"""PinSAGE's max-margin ranking loss, :math:`\max(0, s^- - s^+ + \Delta)`, averaged over each row's
    valid negatives, then over rows."""
    mask = _check(pos, neg, mask)
    return _row_mean(torch.relu(neg - pos[:, None] + margin) * mask, mask)


class BPRLoss(nn.Module):
    """:func:`bpr_loss` with the weight of the model's L2 regulariser (LightGCN's ``reg``)."""

    def __init__(self, l2_weight: float = 1e-4) -> None:
        super().__init__()
        if l2_weight < 0:
            raise ValueError(f"l2_weight must be >= 0, got {l2_weight}")
        self.l2_weight = l2_weight

    def forward(self, pos: Tensor, neg: Tensor, mask: Tensor | None = None) -> Tensor:
        return bpr_loss(pos, neg, mask)

    def extra_repr(self) -> str:
        return f"l2_weight={self.l2_weight}"


class BinaryLoss(BPRLoss):
    """:func:`binary_loss` with the weight of the model's L2 regulariser."""

    def forward(self, pos: Tensor, neg: Tensor, mask: Tensor | None = None) -> Tensor:
        return binary_loss(pos, neg, mask)


class SoftmaxLoss(BPRLoss):
    """:func:`softmax_loss` with a temperature, and the weight of the model's L2 regulariser."""

    def __init__(self, temperature: float = 0.1, l2_weight: float = 1e-4) -> None:
        super().__init__(l2_weight)
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        self.temperature = temperature

    def forward(self, pos: Tensor, neg: Tensor, mask: Tensor | None = None) -> Tensor:
        return softmax_loss(pos, neg, mask, self.temperature)

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}, l2_weight={self.l2_weight}"


class MarginLoss(BPRLoss):
    """:func:`margin_loss` with margin ``Δ``, and the weight of the model's L2 regulariser."""

    def __init__(self, margin: float = 0.1, l2_weight: float = 0.0) -> None:
        super().__init__(l2_weight)
        if margin < 0:
            raise ValueError(f"margin must be >= 0, got {margin}")
        self.margin = margin

    def forward(self, pos: Tensor, neg: Tensor, mask: Tensor | None = None) -> Tensor:
        return margin_loss(pos, neg, mask, self.margin)

    def extra_repr(self) -> str:
        return f"margin={self.margin}, l2_weight={self.l2_weight}"
