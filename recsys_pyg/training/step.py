"""One optimisation step: score the batch's positives and negatives, compute the objective, step."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from recsys_pyg.data import BipartiteGraph
from recsys_pyg.losses import Objective, ScoredBatch
from recsys_pyg.samplers import Negatives
from recsys_pyg.training.hardness import HardnessMeter

# Per-row negatives from which a batch is scored against every item by one GEMM, then gathered, rather than by one
# (B, k, d) product: with hundreds of negatives per row (BSL's MF: 800) the (B, k, d) gather and its backward are
# memory-bound, while (B, d) @ (d, I) is a compute-bound product no larger in memory when I <= k d.
GEMM_NEGATIVES = 32


def score_batch(
    model: torch.nn.Module, graph: BipartiteGraph, users: Tensor, pos: Tensor, neg: Negatives, cosine: bool = False
) -> ScoredBatch:
    """The batch scored: dot products, or cosines when ``cosine``, with its ids and draw.

    Every item embedding the batch needs is computed in one model call; shared negatives
    are scored with one ``(B, d) @ (d, S)`` product, negatives shared by blocks of rows (``Negatives.blocks``)
    with one such product per block. Many per-row negatives (``k >= GEMM_NEGATIVES`` and
    ``B k >= 2 I``: most items are in the batch anyway) are scored against every item by one ``(B, d) @ (d, I)``
    product when ``I <= k d``, then each row's columns are gathered: the same scores, a fraction of the
    memory traffic, and no data-dependent size (nothing waits on a GPU).
    """
    b = pos.numel()
    starts = neg.block_starts() if neg.blocks is not None else None
    easy = neg.items if starts is None else neg.items[starts[:-1]]  # a block's rows hold the same set: (G, S)
    parts = [pos, easy.flatten()] + ([neg.hard.flatten()] if neg.hard is not None else [])
    items = torch.cat(parts)  # (B + B*k [+ B*h],), (B + S [+ B*h],) or (B + G*S [+ B*h],)
    every = (
        not neg.shared and starts is None and neg.num_easy >= GEMM_NEGATIVES and b * neg.num_easy >= 2 * graph.num_items
    )
    if every:
        # the positives first, as the Model contract says (SimpleX and inductive PinSAGE leave row b's positive out
        # of its user's history), then every item
        every_item = torch.cat([pos, torch.arange(graph.num_items, device=items.device)])
        user_emb, all_emb = model(graph, users, every_item)  # (B, d), (B + I, d)
        all_emb = all_emb[b:]  # (I, d)
        if cosine:
            user_emb, all_emb = F.normalize(user_emb, dim=-1), F.normalize(all_emb, dim=-1)
        if graph.num_items <= neg.num_easy * all_emb.shape[1]:
            return _scored_against_every_item(users, pos, neg, items, user_emb, all_emb)
        item_emb = all_emb[items]  # (len(items), d): I > k d, the per-row product below takes less memory
    else:
        user_emb, item_emb = model(graph, users, items)  # (B, d), (len(items), d)
        if cosine:
            user_emb, item_emb = F.normalize(user_emb, dim=-1), F.normalize(item_emb, dim=-1)
    pos_emb = item_emb[:b]  # (B, d)
    easy_emb = item_emb[b : b + easy.numel()]
    pos_score = (user_emb * pos_emb).sum(-1)  # (B,)
    if neg.shared:
        scores = [user_emb @ easy_emb.T]  # (B, S)
    elif starts is not None:  # each block of rows against its own set: (B_g, d) @ (d, S) per block
        # split / unbind, not slices: their backwards are one op each, not a zero-filled full copy per block
        sets = easy_emb.view(*easy.shape, -1).unbind(0)  # G x (S, d)
        rows = user_emb.split([hi - lo for lo, hi in zip(starts, starts[1:])])  # G x (B_g, d)
        scores = [torch.cat([r @ e.T for r, e in zip(rows, sets, strict=True)])]
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


def _scored_against_every_item(
    users: Tensor, pos: Tensor, neg: Negatives, items: Tensor, user_emb: Tensor, all_emb: Tensor
) -> ScoredBatch:
    """:func:`score_batch` for many per-row negatives: every row against every item, then gathered."""
    b = pos.numel()
    pos_emb = all_emb[pos]  # (B, d)
    every = user_emb @ all_emb.T  # (B, I)
    columns = [neg.items] + ([neg.hard] if neg.hard is not None else [])  # (B, k) [, (B, h)]
    return ScoredBatch(
        users=users,
        pos_items=pos,
        negatives=neg,
        pos=(user_emb * pos_emb).sum(-1),  # (B,)
        neg=every.gather(1, torch.cat(columns, dim=1)),  # (B, k [+ h])
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
