"""One optimisation step: score the batch's positives and negatives, compute the objective, step."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from recsys_pyg.data import BipartiteGraph
from recsys_pyg.losses import Objective, ScoredBatch
from recsys_pyg.samplers import Negatives
from recsys_pyg.training.hardness import HardnessMeter


def score_batch(
    model: torch.nn.Module, graph: BipartiteGraph, users: Tensor, pos: Tensor, neg: Negatives, cosine: bool = False
) -> ScoredBatch:
    """The batch scored: dot products, or cosines when ``cosine``, with its ids and draw.

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
    return ScoredBatch(
        users=users,
        pos_items=pos,
        negatives=neg,
        pos=pos_score,
        neg=torch.cat(scores, dim=1),
        mask=neg.full_mask(b),
        user_emb=user_emb,
        pos_emb=pos_emb,
        items=items,
    )


def train_step(
    model: torch.nn.Module,
    graph: BipartiteGraph,
    users: Tensor,
    pos: Tensor,
    neg: Negatives,
    objective: Objective,
    optimizer: torch.optim.Optimizer,
    hardness: HardnessMeter,
    grad_clip: float = 0.0,
    forward: torch.nn.Module | None = None,
) -> Tensor:
    """One optimisation step on a batch; returns its loss, detached and left on the device.

    loss = the objective (ranking loss + ``l2_weight`` x the model's L2) + the model's auxiliary loss,
    if it has one; gradients clipped to total norm ``grad_clip`` when it is positive.
    Nothing here reads a value back from the device (``tests/training/test_step.py`` checks it
    for full-graph models), so on a GPU batches queue without waiting. ``forward`` is what the batch
    runs through when it is not ``model`` itself (its DDP wrapper under torchrun).
    """
    batch = score_batch(forward or model, graph, users, pos, neg, cosine=objective.train_similarity == "cosine")
    loss = objective(batch, model)
    hardness.update(batch.pos, batch.neg, batch.mask, neg.num_easy)
    if hasattr(model, "auxiliary_loss"):  # e.g. a contrastive term between two views (SimGCL)
        loss = loss + model.auxiliary_loss(graph, users, pos)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if grad_clip > 0:  # the total norm stays on the device: no sync
        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    optimizer.step()
    return loss.detach()
