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
from recsys_pyg.distributed import Dist
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

    ``stop()`` is asked after every step: when it says so (a SIGTERM, say) the epoch returns its
    :class:`EpochProgress` instead, and ``progress`` given back continues it exactly.
    """
    assert parts.sampler is not None and parts.optimizer is not None and parts.criterion is not None
    graph, where, batch_size = parts.graph, parts.dist, int(cfg.batch_size)
    parts.model.train()
    chunk, clip = rows_per_draw(parts.sampler, cfg), float(cfg.get("grad_clip") or 0.0)
    if progress is None:
        perm = torch.randperm(graph.num_edges, generator=parts.generator, device=graph.user.device)
        progress = EpochProgress(epoch, perm)
    sums = RunningSums.resume(progress, where)
    bar = tqdm(range(progress.start, graph.num_edges, batch_size), desc=f"epoch {epoch}", leave=False, unit="batch",
               disable=None if cfg.progress else True)  # fmt: skip
    for step, start in enumerate(bar):
        idx = progress.perm[start : start + batch_size]
        users, pos = graph.user[idx], graph.item[idx]  # (B,), (B,)
        neg = negatives_for(parts, progress, start, idx.numel(), chunk, batch_size)
        if where.active:  # this rank's contiguous share of the global batch (every rank drew all of it)
            lo, hi = where.rows(idx.numel())
            users, pos, neg = users[lo:hi], pos[lo:hi], neg.batch_rows(lo, hi)
        loss = train_step(parts.model, graph, users, pos, neg, parts.criterion, parts.optimizer, sums.hardness,
                          clip, parts.forward)  # fmt: skip
        sums.add(loss, users.numel())
        if step % 20 == 0 and not bar.disable:  # the only host read of a step, and only when the bar shows
            bar.set_postfix(loss=f"{loss.item():.4f}", refresh=False)
        halt = where.any(stop(), graph.user.device) if where.active else stop()  # every rank stops at one step
        if halt and start + batch_size < graph.num_edges:  # interrupted inside the epoch: hand back where it stands
            return sums.pause(progress, start + batch_size, where, graph.user.device)
    metrics = sums.finish(where, graph.num_edges, graph.user.device)
    check_finite(parts.model, epoch, metrics["train/loss"])
    return {"train/lr": parts.optimizer.param_groups[0]["lr"], **metrics, "train/sample_time": progress.sample_time,
            "epoch": epoch}  # fmt: skip


def rows_per_draw(sampler: object, cfg: DictConfig) -> int:
    """Positives per sampler call: ``cfg.sample_batches`` batches for a chunkable sampler, one batch otherwise.

    One vectorised call instead of many small ones (MF's sampling share of an epoch at Gowalla size
    fell about threefold; ``scripts/bench.py`` measures it).
    """
    return int(cfg.batch_size) * (int(cfg.get("sample_batches") or 1) if check_sampler(sampler) else 1)


def negatives_for(
    parts: Parts, progress: EpochProgress, start: int, rows: int, chunk: int, batch_size: int
) -> Negatives:
    """The negatives of the batch at ``start`` (``rows`` positives): a new draw for the next ``chunk`` rows
    when the batch opens a chunk, else its rows of the draw kept in ``progress`` (checkpointed with it)."""
    assert parts.sampler is not None
    graph = parts.graph
    if start % chunk == 0:
        t = time.time()
        seeds = progress.perm[start : start + chunk]
        progress.drawn = parts.sampler.sample(graph.user[seeds], graph.item[seeds], progress.epoch)
        progress.sample_time += time.time() - t
        if chunk != batch_size:
            check_chunk(parts.sampler, progress.drawn, seeds.numel())
    assert progress.drawn is not None
    if chunk == batch_size:
        return progress.drawn
    return progress.drawn.rows(start % chunk, start % chunk + rows)


class RunningSums:
    """The epoch's sums so far (loss x batch size, hardness), kept on the device: no sync per batch."""

    def __init__(self, loss_sum: Tensor | float, hardness: HardnessMeter, started: float) -> None:
        self.loss_sum, self.hardness, self.started = loss_sum, hardness, started

    @classmethod
    def resume(cls, progress: EpochProgress, where: Dist) -> RunningSums:
        # a resumed epoch's saved sum is every rank's so far: rank 0 alone carries it
        loss_sum = progress.loss_sum if where.main else 0.0
        return cls(loss_sum, HardnessMeter(progress.hardness), time.time() - progress.elapsed)

    def add(self, loss: Tensor, rows: int) -> None:
        self.loss_sum = self.loss_sum + loss * rows

    def _total(self, where: Dist, device: torch.device) -> Tensor:
        """The sum over every rank's rows (an all-reduce under torchrun)."""
        return where.sum(torch.as_tensor(self.loss_sum, dtype=torch.float64, device=device).clone())

    def pause(self, progress: EpochProgress, next_start: int, where: Dist, device: torch.device) -> EpochProgress:
        """``progress`` updated to resume at ``next_start``: an interrupted epoch hands back where it stands.
        One process keeps its sum as accumulated (same dtype), so the resumed epoch adds up exactly alike."""
        progress.loss_sum = self._total(where, device) if where.active else self.loss_sum
        progress.start, progress.hardness = next_start, self.hardness.sums
        progress.elapsed = time.time() - self.started
        return progress

    def finish(self, where: Dist, num_edges: int, device: torch.device) -> dict[str, float]:
        """The epoch's ``train/loss``, ``train/epoch_time`` and ``neg/*`` (one device read)."""
        return {
            "train/loss": float(self._total(where, device)) / num_edges,
            "train/epoch_time": time.time() - self.started,
            **self.hardness.compute(),
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
