"""The losses as functions of scores (and of embeddings, for the contrastive ones).

Every ranking loss takes ``pos`` ``(B,)`` and ``neg`` ``(B, k)`` — ``k`` negatives per positive, or
the ``S`` negatives shared by the batch — with an optional ``mask`` ``(B, k)`` that is True where a
negative counts (a shared negative that is the row user's own positive does not). The modules in
:mod:`recsys_pyg.losses.ranking` and :mod:`~recsys_pyg.losses.contrastive` apply them to a
:class:`~recsys_pyg.losses.batch.ScoredBatch`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


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


def bsl_loss(
    pos: Tensor, neg: Tensor, mask: Tensor | None = None, temperature: float = 0.12, temperature2: float = 1.0
) -> Tensor:
    r"""BSL, the bilateral softmax loss (Wu et al., ICDE 2024; the authors' ``losses.BSL``, ``mode="reweight"``):

    .. math::
        -\frac{s^+}{\tau_1} + \tau_2 \log \sum_j e^{s^-_j/\tau_1}

    averaged over rows: a softmax whose negatives' log-sum is scaled by :math:`\tau_2` (the positive is
    not in the denominator, as in the authors' code). :math:`\tau_2 = 1` is their "SL" arm. Rows without
    a valid negative contribute their positive term only.
    """
    mask = _check(pos, neg, mask)
    lse = torch.logsumexp(neg.masked_fill(~mask, -torch.inf) / temperature, dim=1)  # (B,)
    lse = torch.where(mask.any(1), lse, torch.zeros_like(lse))
    return (-pos / temperature + temperature2 * lse).mean()


def margin_loss(pos: Tensor, neg: Tensor, mask: Tensor | None = None, margin: float = 0.1) -> Tensor:
    r"""PinSAGE's max-margin ranking loss, :math:`\max(0, s^- - s^+ + \Delta)`, averaged over each row's
    valid negatives, then over rows."""
    mask = _check(pos, neg, mask)
    return _row_mean(torch.relu(neg - pos[:, None] + margin) * mask, mask)


def logq_softmax_loss(
    pos: Tensor, neg: Tensor, log_q: Tensor, mask: Tensor | None = None, temperature: float = 0.1
) -> Tensor:
    r"""Sampled softmax with the sampling-bias (log-Q) correction (Bengio & Senécal 2008; Yi et al., RecSys 2019):

    .. math::
        -\log \frac{e^{s^+/\tau}}{e^{s^+/\tau} + \sum_{j=1}^{k} e^{s^-_j/\tau - \log(k\, q_j)}}

    ``log_q`` ``(B, k)`` (or ``(1, k)``, broadcast) holds each negative's log-probability under the
    sampler's proposal :math:`q`; :math:`k` is the row's count of valid negatives. The corrected sum is
    an importance-sampling estimate of the full softmax's sum over every other item, so the loss no
    longer depends on which law drew the negatives: popular negatives drawn often weigh less each.
    With a uniform :math:`q` the correction is one constant :math:`\log(I/k)` per row.
    """
    mask = _check(pos, neg, mask)
    if log_q.dim() != 2 or log_q.shape[1] != neg.shape[1] or log_q.shape[0] not in (1, neg.shape[0]):
        raise ValueError(f"log_q must be (B, k) or (1, k) for neg {tuple(neg.shape)}, got {tuple(log_q.shape)}")
    count = mask.sum(1, keepdim=True).clamp_min(1).to(neg.dtype)  # (B, 1)
    corrected = (neg / temperature - log_q - count.log()).masked_fill(~mask, -torch.inf)  # (B, k)
    logits = torch.cat([pos[:, None] / temperature, corrected], dim=1)  # (B, 1 + k)
    return (torch.logsumexp(logits, dim=1) - logits[:, 0]).mean()


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
