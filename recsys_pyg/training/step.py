"""One optimisation step: score the batch's positives and negatives, add the losses, step."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from recsys_pyg.contracts import Loss, uses_cosine
from recsys_pyg.data import BipartiteGraph
from recsys_pyg.samplers import Negatives
from recsys_pyg.training.hardness import HardnessMeter


@dataclass
class BatchScores:
    """A batch scored by the model: what a loss is computed from.

    Args:
        pos: ``(B,)`` scores of the positives.
        neg: ``(B, k + h)`` or ``(B, S + h)`` scores of the negatives (easy, then hard).
        items: every item scored, as passed to the model: ``(B + B*k [+ B*h],)`` or ``(B + S [+ B*h],)``.
        user_emb: ``(B, d)`` the batch users' embeddings (normalised when the loss scores by cosine).
        pos_emb: ``(B, d)`` the positives' embeddings (likewise).
    """

    pos: Tensor
    neg: Tensor
    items: Tensor
    user_emb: Tensor
    pos_emb: Tensor


def batch_scores(
    model: torch.nn.Module, graph: BipartiteGraph, users: Tensor, pos: Tensor, neg: Negatives, cosine: bool = False
) -> BatchScores:
    """Scores of the batch's positives and negatives: dot products, or cosines when ``cosine``.

    Every item embedding the batch needs is computed in one model call; shared negatives
    are scored with one ``(B, d) @ (d, S)`` product.
    """
    b = pos.numel()
    parts = [pos, neg.items.flatten()] + ([neg.hard.flatten()] if neg.hard is not None else [])
    items = torch.cat(parts)  # (B + B*k [+ B*h],) or (B + S [+ B*h],)
    user_emb, item_emb = model(graph, users, items)  # (B, d), (len(items), d)
    if cosine:
        user_emb, item_emb = F.normalize(user_emb, dim=-1), F.normalize(item_emb, dim=-1)
    pos_emb = item_emb[:b]  # (B, d)
    easy_emb = item_emb[b : b + neg.items.numel()]
    pos_score = (user_emb * pos_emb).sum(-1)  # (B,)
    if neg.shared:
        scores = [user_emb @ easy_emb.T]  # (B, S)
    else:
        scores = [(user_emb[:, None, :] * easy_emb.view(*neg.items.shape, -1)).sum(-1)]  # (B, k)
    if neg.hard is not None:
        hard_emb = item_emb[b + neg.items.numel() :].view(*neg.hard.shape, -1)  # (B, h, d)
        scores.append((user_emb[:, None, :] * hard_emb).sum(-1))  # (B, h)
    return BatchScores(pos_score, torch.cat(scores, dim=1), items, user_emb, pos_emb)


def train_step(
    model: torch.nn.Module,
    graph: BipartiteGraph,
    users: Tensor,
    pos: Tensor,
    neg: Negatives,
    criterion: Loss,
    optimizer: torch.optim.Optimizer,
    hardness: HardnessMeter,
    grad_clip: float = 0.0,
    forward: torch.nn.Module | None = None,
) -> Tensor:
    """One optimisation step on a batch; returns its loss, detached and left on the device.

    loss = ranking loss (of the scores, or of the embeddings for a loss with ``embedding_loss``)
    + ``l2_weight`` * the model's L2 + the model's auxiliary loss, if it has one; gradients clipped
    to total norm ``grad_clip`` when it is positive.
    Nothing here reads a value back from the device (``tests/training/test_step.py`` checks it
    for full-graph models), so on a GPU batches queue without waiting. ``forward`` is what the batch
    runs through when it is not ``model`` itself (its DDP wrapper under torchrun).
    """
    scored = batch_scores(forward or model, graph, users, pos, neg, cosine=uses_cosine(criterion))
    mask = neg.full_mask(users.numel())
    if hasattr(criterion, "embedding_loss"):  # a loss of the embeddings themselves (e.g. DirectAU)
        loss = criterion.embedding_loss(scored.user_emb, scored.pos_emb)
    else:
        loss = criterion(scored.pos, scored.neg, mask)
    hardness.update(scored.pos, scored.neg, mask, neg.num_easy)
    if criterion.l2_weight:
        loss = loss + criterion.l2_weight * model.l2_penalty(users, scored.items)
    if hasattr(model, "auxiliary_loss"):  # e.g. a contrastive term between two views (SimGCL)
        loss = loss + model.auxiliary_loss(graph, users, pos)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if grad_clip > 0:  # the total norm stays on the device: no sync
        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    optimizer.step()
    return loss.detach()
