"""One optimisation step: score the batch's positives and negatives, add the losses, step."""

from __future__ import annotations

import torch
from torch import Tensor

from recsys_pyg.contracts import Loss
from recsys_pyg.data import BipartiteGraph
from recsys_pyg.samplers import Negatives
from recsys_pyg.training.hardness import HardnessMeter


def batch_scores(
    model: torch.nn.Module, graph: BipartiteGraph, users: Tensor, pos: Tensor, neg: Negatives
) -> tuple[Tensor, Tensor, Tensor]:
    """Scores of the batch's positives ``(B,)`` and negatives ``(B, k + h)`` or ``(B, S + h)``, and the items used.

    Every item embedding the batch needs is computed in one model call; shared negatives
    are scored with one ``(B, d) @ (d, S)`` product.
    """
    b = pos.numel()
    parts = [pos, neg.items.flatten()] + ([neg.hard.flatten()] if neg.hard is not None else [])
    items = torch.cat(parts)  # (B + B*k [+ B*h],) or (B + S [+ B*h],)
    user_emb, item_emb = model(graph, users, items)  # (B, d), (len(items), d)
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
    return pos_score, torch.cat(scores, dim=1), items


def train_step(
    model: torch.nn.Module,
    graph: BipartiteGraph,
    users: Tensor,
    pos: Tensor,
    neg: Negatives,
    criterion: Loss,
    optimizer: torch.optim.Optimizer,
    hardness: HardnessMeter,
) -> Tensor:
    """One optimisation step on a batch; returns its loss, detached and left on the device.

    loss = ranking loss + ``l2_weight`` * the model's L2 + the model's auxiliary loss, if it has one.
    Nothing here reads a value back from the device (``tests/training/test_no_sync.py`` checks it
    for full-graph models), so on a GPU batches queue without waiting.
    """
    pos_score, neg_score, items = batch_scores(model, graph, users, pos, neg)
    mask = neg.full_mask(users.numel())
    loss = criterion(pos_score, neg_score, mask)
    hardness.update(pos_score, neg_score, mask, neg.num_easy)
    if criterion.l2_weight:
        loss = loss + criterion.l2_weight * model.l2_penalty(users, items)
    if hasattr(model, "auxiliary_loss"):  # e.g. a contrastive term between two views (SimGCL)
        loss = loss + model.auxiliary_loss(graph, users, pos)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss.detach()
