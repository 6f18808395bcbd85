"""One pass over the training edges (or, for a fit-only model, its one fit)."""

from __future__ import annotations

import time

import torch
from omegaconf import DictConfig
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


def train_epoch(parts: Parts, epoch: int, cfg: DictConfig) -> dict[str, float]:
    """Shuffle the training edges, step through them in batches of ``cfg.batch_size``; returns the
    epoch's ``train/*`` and ``neg/*`` metrics.

    A chunkable sampler draws negatives for ``cfg.sample_batches`` batches in one call: one
    vectorised call instead of many small ones (MF's sampling share of an epoch at Gowalla size
    fell about threefold; ``scripts/bench.py`` measures it). Others draw per batch.
    """
    model, graph, sampler, optimizer = parts.model, parts.graph, parts.sampler, parts.optimizer
    assert sampler is not None and optimizer is not None and parts.criterion is not None
    model.train()
    num_edges, batch_size = graph.num_edges, int(cfg.batch_size)
    chunk = batch_size * (int(cfg.get("sample_batches") or 1) if check_sampler(sampler) else 1)
    t_epoch, t_sample, loss_sum, hardness = time.time(), 0.0, 0.0, HardnessMeter()
    perm = torch.randperm(num_edges, generator=parts.generator, device=graph.user.device)
    bar = tqdm(range(0, num_edges, batch_size), desc=f"epoch {epoch}", leave=False, unit="batch",
               disable=None if cfg.progress else True)  # fmt: skip
    for step, start in enumerate(bar):
        idx = perm[start : start + batch_size]
        users, pos = graph.user[idx], graph.item[idx]  # (B,), (B,)
        if start % chunk == 0:  # negatives for the next `chunk` rows, in one call
            t_s = time.time()
            rows = perm[start : start + chunk]
            drawn = sampler.sample(graph.user[rows], graph.item[rows], epoch)
            t_sample += time.time() - t_s
            if chunk != batch_size:
                check_chunk(sampler, drawn, rows.numel())
        neg = drawn if chunk == batch_size else drawn.rows(start % chunk, start % chunk + idx.numel())
        loss = train_step(model, graph, users, pos, neg, parts.criterion, optimizer, hardness)
        loss_sum = loss_sum + loss * idx.numel()  # on the device: no sync per batch
        if step % 20 == 0 and cfg.progress:
            bar.set_postfix(loss=f"{loss.item():.4f}", refresh=False)
    return {
        "train/lr": optimizer.param_groups[0]["lr"],
        "train/loss": float(loss_sum) / num_edges,
        "train/epoch_time": time.time() - t_epoch,
        "train/sample_time": t_sample,
        "epoch": epoch,
        **hardness.compute(),
    }


def fit_epoch(parts: Parts, epoch: int, cfg: DictConfig) -> dict[str, float]:
    """A fit-only model's whole training: ``model.fit(graph)`` once, timed."""
    t0 = time.time()
    parts.model.fit(parts.graph)  # type: ignore[operator]
    return {"train/fit_time": time.time() - t0, "train/epoch_time": time.time() - t0, "epoch": epoch}
