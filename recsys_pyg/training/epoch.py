"""One pass over the training edges (or, for a fit-only model, its one fit)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any

import torch
from omegaconf import DictConfig
from torch import Tensor
from tqdm import tqdm

from recsys_pyg.contracts import check_sampler
from recsys_pyg.samplers import Negatives
from recsys_pyg.training.hardness import HardnessMeter
from recsys_pyg.training.parts import Parts
from recsys_pyg.training.step import train_step


def check_chunk(sampler: object, neg: Negatives, rows: int) -> None:
    """A chunkable sampler's draw must be per row, one row per positive asked for (shapes only: no sync)."""
    if neg.shared or neg.items.shape[0] != rows:
        got = f"a shared set of {neg.items.shape[0]}" if neg.shared else f"{neg.items.shape[0]} rows"
        raise ValueError(
            f"{type(sampler).__name__} declares chunkable=True but returned {got} for {rows} positives: "
            f"negatives that depend on the batch must declare chunkable=False (see recsys_pyg.contracts.Sampler)"
        )


@dataclass
class EpochProgress:
    """Where an epoch stands: enough to finish it exactly after an interruption.

    Args:
        epoch: the epoch (1-based).
        perm: ``(E,)`` the epoch's order of the training edges.
        start: the first row of ``perm`` not yet trained on.
        loss_sum: the sum of batch losses times batch sizes so far (a 0-d tensor on the device).
        sample_time, elapsed: seconds spent sampling, and in the epoch, so far.
        hardness: the :class:`HardnessMeter` sums so far.
        drawn: the negatives drawn for the chunk ``start`` lies in, when it started earlier.
    """

    epoch: int
    perm: Tensor
    start: int = 0
    loss_sum: Tensor | float = 0.0
    sample_time: float = 0.0
    elapsed: float = 0.0
    hardness: dict[str, Tensor] = field(default_factory=dict)
    drawn: Negatives | None = None

    def state_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["drawn"] = None if self.drawn is None else self.drawn.state_dict()
        return out

    @classmethod
    def from_state_dict(cls, state: dict[str, Any]) -> EpochProgress:
        drawn = None if state["drawn"] is None else Negatives(**state["drawn"])
        return cls(**{**state, "drawn": drawn})


def train_epoch(
    parts: Parts,
    epoch: int,
    cfg: DictConfig,
    progress: EpochProgress | None = None,
    stop: Callable[[], bool] = lambda: False,
) -> dict[str, float] | EpochProgress:
    """Shuffle the training edges, step through them in batches of ``cfg.batch_size``; returns the
    epoch's ``train/*`` and ``neg/*`` metrics.

    A chunkable sampler draws negatives for ``cfg.sample_batches`` batches in one call: one
    vectorised call instead of many small ones (MF's sampling share of an epoch at Gowalla size
    fell about threefold; ``scripts/bench.py`` measures it). Others draw per batch.

    ``stop()`` is asked after every step: when it says so (a SIGTERM, say) the epoch returns its
    :class:`EpochProgress` instead, and ``progress`` given back continues it exactly.
    """
    model, graph, sampler, optimizer, where = parts.model, parts.graph, parts.sampler, parts.optimizer, parts.dist
    assert sampler is not None and optimizer is not None and parts.criterion is not None
    model.train()
    num_edges, batch_size = graph.num_edges, int(cfg.batch_size)
    chunk = batch_size * (int(cfg.get("sample_batches") or 1) if check_sampler(sampler) else 1)
    clip = float(cfg.get("grad_clip") or 0.0)
    if progress is None:
        perm = torch.randperm(num_edges, generator=parts.generator, device=graph.user.device)
        progress = EpochProgress(epoch, perm)
    t_epoch, hardness = time.time() - progress.elapsed, HardnessMeter(progress.hardness)
    loss_sum, drawn = progress.loss_sum, progress.drawn
    if not where.main:  # a resumed epoch's saved sum is every rank's so far: rank 0 carries it
        loss_sum = 0.0
    perm = progress.perm
    starts = range(progress.start, num_edges, batch_size)
    bar = tqdm(starts, desc=f"epoch {epoch}", leave=False, unit="batch", disable=None if cfg.progress else True)
    for step, start in enumerate(bar):
        idx = perm[start : start + batch_size]
        users, pos = graph.user[idx], graph.item[idx]  # (B,), (B,)
        if start % chunk == 0:  # negatives for the next `chunk` rows, in one call
            t_s = time.time()
            rows = perm[start : start + chunk]
            drawn = sampler.sample(graph.user[rows], graph.item[rows], epoch)
            progress.sample_time += time.time() - t_s
            if chunk != batch_size:
                check_chunk(sampler, drawn, rows.numel())
        assert drawn is not None
        neg = drawn if chunk == batch_size else drawn.rows(start % chunk, start % chunk + idx.numel())
        if where.active:  # this rank's contiguous share of the global batch (every rank drew all of it)
            lo, hi = where.rows(idx.numel())
            users, pos, neg = users[lo:hi], pos[lo:hi], neg.batch_rows(lo, hi)
        loss = train_step(model, graph, users, pos, neg, parts.criterion, optimizer, hardness, clip, parts.forward)
        loss_sum = loss_sum + loss * users.numel()  # on the device: no sync per batch
        if step % 20 == 0 and cfg.progress:
            bar.set_postfix(loss=f"{loss.item():.4f}", refresh=False)
        halt = where.any(stop(), graph.user.device) if where.active else stop()  # every rank stops at one step
        if halt and start + batch_size < num_edges:  # interrupted inside the epoch: hand back where it stands
            if where.active:  # the sum over every rank's rows so far
                loss_sum = where.sum(torch.as_tensor(loss_sum, dtype=torch.float64, device=graph.user.device).clone())
            progress.start, progress.loss_sum, progress.hardness = start + batch_size, loss_sum, hardness.sums
            progress.elapsed, progress.drawn = time.time() - t_epoch, drawn
            return progress
    epoch_loss = float(where.sum(torch.as_tensor(loss_sum, dtype=torch.float64, device=graph.user.device))) / num_edges
    check_finite(model, epoch, epoch_loss)
    return {
        "train/lr": optimizer.param_groups[0]["lr"],
        "train/loss": epoch_loss,
        "train/epoch_time": time.time() - t_epoch,
        "train/sample_time": progress.sample_time,
        "epoch": epoch,
        **hardness.compute(),
    }


class NonFiniteError(FloatingPointError):
    """Training produced a NaN or infinite loss or weight; the run stops before it can become "best"."""


def check_finite(model: torch.nn.Module, epoch: int, loss: float) -> None:
    """Stop the run when the epoch's loss or any weight is not finite (one device read per epoch)."""
    tensors = [t for t in list(model.parameters()) + list(model.buffers()) if t.is_floating_point()]
    finite = bool(torch.stack([torch.isfinite(t).all() for t in tensors]).all()) if tensors else True
    if not math.isfinite(loss) or not finite:
        what = f"the training loss is {loss}" if not math.isfinite(loss) else "some weights are not finite"
        raise NonFiniteError(
            f"epoch {epoch}: {what}. The run stops here: its best weights and last checkpoint are from "
            f"earlier epochs. Lower optimizer.lr, set train.grad_clip, or check the data"
        )


def fit_epoch(
    parts: Parts,
    epoch: int,
    cfg: DictConfig,
    progress: EpochProgress | None = None,
    stop: Callable[[], bool] = lambda: False,
) -> dict[str, float]:
    """A fit-only model's whole training: ``model.fit(graph)`` once, timed."""
    t0 = time.time()
    parts.model.fit(parts.graph)  # type: ignore[operator]
    check_finite(parts.model, epoch, 0.0)
    return {"train/fit_time": time.time() - t0, "train/epoch_time": time.time() - t0, "epoch": epoch}
