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


def ccl_loss(
    pos: Tensor, neg: Tensor, mask: Tensor | None = None, margin: float = 0.9, neg_weight: float | None = None
) -> Tensor:
    r"""SimpleX's cosine contrastive loss (Mao et al., CIKM 2021), on cosine scores:

    .. math::
        \max(0, 1 - \hat{y}_{ui}) + \frac{w}{|\mathcal{N}|} \sum_{j \in \mathcal{N}} \max(0, \hat{y}_{uj} - m)

    averaged over rows; masked negatives are left out of the sum and of :math:`|\mathcal{N}|`.
    ``neg_weight=None`` takes :math:`w = |\mathcal{N}|` (a plain sum), as the official code does.
    """
    mask = _check(pos, neg, mask)
    neg_sum = (torch.relu(neg - margin) * mask).sum(1)  # (B,)
    if neg_weight is not None:
        neg_sum = neg_weight * neg_sum / mask.sum(1).clamp_min(1)
    return (torch.relu(1 - pos) + neg_sum).mean()


def info_nce(z1: Tensor, z2: Tensor, temperature: float = 0.2, keep: Tensor | None = None) -> Tensor:
    r"""InfoNCE between two views of the same rows, on their cosines:

    .. math::
        -\frac{1}{n} \sum_i \log \frac{e^{\cos(z_i, z'_i)/\tau}}{\sum_j e^{\cos(z_i, z'_j)/\tau}}

    ``z1``, ``z2`` ``(n, d)``. ``keep`` ``(n,)`` bool: only kept rows count, as anchors and in every
    denominator, so a batch with repeated ids can count each once without a data-dependent ``unique``.
    """
    z1, z2 = F.normalize(z1, dim=-1), F.normalize(z2, dim=-1)
    logits = z1 @ z2.T / temperature  # (n, n)
    if keep is None:
        return (torch.logsumexp(logits, dim=1) - logits.diagonal()).mean()
    per_row = torch.logsumexp(logits.masked_fill(~keep[None, :], -torch.inf), dim=1) - logits.diagonal()
    return (per_row * keep).sum() / keep.sum().clamp_min(1)


def alignment(x: Tensor, y: Tensor) -> Tensor:
    r"""DirectAU's alignment, :math:`\mathbb{E}\,\|\tilde{x} - \tilde{y}\|^2` of the L2-normalised rows."""
    return (F.normalize(x, dim=-1) - F.normalize(y, dim=-1)).pow(2).sum(-1).mean()


def uniformity(x: Tensor, t: float = 2.0) -> Tensor:
    r"""DirectAU's uniformity, :math:`\log \mathbb{E}_{a < b}\, e^{-t \|\tilde{x}_a - \tilde{x}_b\|^2}` over distinct
    pairs of the L2-normalised rows (Wang & Isola, ICML 2020); 0 for fewer than two rows."""
    if x.shape[0] < 2:  # no pair (a last batch of one): nothing to spread
        return x.new_zeros(())
    return torch.pdist(F.normalize(x, dim=-1), p=2).pow(2).mul(-t).exp().mean().log()


class CCLLoss(BPRLoss):
    """:func:`ccl_loss` on cosine scores (``similarity = "cosine"``: training and evaluation rank by cosine),
    with the weight of the model's L2 regulariser."""

    similarity = "cosine"

    def __init__(self, margin: float = 0.9, neg_weight: float | None = 150.0, l2_weight: float = 1e-8) -> None:
        super().__init__(l2_weight)
        if not -1.0 <= margin <= 1.0:
            raise ValueError(f"margin is a cosine threshold in [-1, 1], got {margin}")
        if neg_weight is not None and neg_weight < 0:
            raise ValueError(f"neg_weight must be >= 0 (or null for a plain sum), got {neg_weight}")
        self.margin, self.neg_weight = margin, neg_weight

    def forward(self, pos: Tensor, neg: Tensor, mask: Tensor | None = None) -> Tensor:
        return ccl_loss(pos, neg, mask, self.margin, self.neg_weight)

    def extra_repr(self) -> str:
        return f"margin={self.margin}, neg_weight={self.neg_weight}, l2_weight={self.l2_weight}"


class DirectAULoss(BPRLoss):
    r"""DirectAU (Wang et al., KDD 2022): alignment of each positive pair plus uniformity of the batch's
    users and of its items, :math:`\ell_{align} + \gamma\,(\ell_{unif}(U) + \ell_{unif}(I)) / 2`.

    A loss of the embeddings, not of scores (:meth:`embedding_loss`): negatives are not used.
    """

    def __init__(self, gamma: float = 1.0, l2_weight: float = 0.0) -> None:
        super().__init__(l2_weight)
        if gamma < 0:
            raise ValueError(f"gamma must be >= 0, got {gamma}")
        self.gamma = gamma

    def embedding_loss(self, user_emb: Tensor, pos_emb: Tensor) -> Tensor:
        """The loss of the batch's user and positive-item embeddings, ``(B, d)`` each."""
        return alignment(user_emb, pos_emb) + self.gamma * (uniformity(user_emb) + uniformity(pos_emb)) / 2

    def forward(self, pos: Tensor, neg: Tensor, mask: Tensor | None = None) -> Tensor:
        raise TypeError(
            "DirectAULoss is a loss of embeddings, not of scores: call embedding_loss(user_emb, pos_emb) "
            "(the training step does so for any loss with an `embedding_loss`)"
        )

    def extra_repr(self) -> str:
        return f"gamma={self.gamma}, l2_weight={self.l2_weight}"
