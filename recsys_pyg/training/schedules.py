"""Learning-rate schedules beyond torch's per-epoch ones: warm-up + cosine over the epochs or the time
budget, and how the loop steps any schedule (per epoch, per evaluation on the monitored metric, or by
training minutes)."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch.optim.lr_scheduler import LRScheduler, ReduceLROnPlateau


class WarmupCosine(LRScheduler):
    r"""Linear warm-up, then cosine decay, over the run's progress :math:`p \in [0, 1]`:

    .. math::
        \eta(p) = \eta_0 \cdot \begin{cases} s + (1 - s)\, p / w & p < w \\
        m + (1 - m)\, \tfrac{1}{2}\big(1 + \cos \pi \tfrac{p - w}{1 - w}\big) & p \ge w \end{cases}

    with :math:`w` = ``warmup``, :math:`s` = ``warmup_start``, :math:`m` = ``min_factor``. Progress is
    epochs done over ``total_epochs``, or, when ``budget_min`` is set, training minutes over it (the loop
    calls :meth:`step_time`), so a time-budgeted run decays to its minimum as its budget ends.

    Args:
        optimizer: the optimiser.
        total_epochs: the run's ``train.epochs``.
        budget_min: the run's ``train.time_budget_min`` (``None``: progress by epochs).
        warmup: the fraction of progress spent warming up (default 0.05).
        warmup_start: the learning-rate factor at the start of the warm-up (default 0.1).
        min_factor: the factor at the end (default 0.0).
    """

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        total_epochs: int,
        budget_min: float | None = None,
        warmup: float = 0.05,
        warmup_start: float = 0.1,
        min_factor: float = 0.0,
        last_epoch: int = -1,
    ) -> None:
        if int(total_epochs) != total_epochs or total_epochs < 1:
            raise ValueError(f"total_epochs must be a positive integer, got {total_epochs!r}")
        if budget_min is not None and not budget_min > 0:
            raise ValueError(f"budget_min must be > 0 minutes or null, got {budget_min!r}")
        for name, value in (("warmup", warmup), ("warmup_start", warmup_start), ("min_factor", min_factor)):
            if not 0.0 <= value <= 1.0 or (name == "warmup" and value >= 1.0):
                raise ValueError(f"{name} must be in [0, 1{')' if name == 'warmup' else ']'}, got {value!r}")
        self.total_epochs, self.budget_min = int(total_epochs), budget_min
        self.warmup, self.warmup_start, self.min_factor = float(warmup), float(warmup_start), float(min_factor)
        self.progress = 0.0
        super().__init__(optimizer, last_epoch)

    def factor(self, p: float) -> float:
        """The learning-rate factor at progress ``p`` (clamped to [0, 1])."""
        p = min(max(p, 0.0), 1.0)
        if p < self.warmup:
            return self.warmup_start + (1.0 - self.warmup_start) * p / self.warmup
        t = (p - self.warmup) / (1.0 - self.warmup)
        return self.min_factor + (1.0 - self.min_factor) * 0.5 * (1.0 + math.cos(math.pi * t))

    def get_lr(self) -> list[float]:  # type: ignore[override]
        if self.budget_min is None:
            self.progress = self.last_epoch / self.total_epochs
        return [base * self.factor(self.progress) for base in self.base_lrs]

    def step_time(self, train_min: float) -> None:
        """Step by training time: progress = ``train_min / budget_min`` (by epochs when no budget is set)."""
        if self.budget_min is not None:
            self.progress = train_min / self.budget_min
        self.step()


def step_schedule(scheduler: Any, metrics: dict[str, float], monitor: str, train_s: float) -> bool:
    """Step the run's schedule after an epoch: a plateau schedule on the monitored metric, at evaluations only
    (its ``patience`` counts evaluations); :class:`WarmupCosine` by the training time; any other per epoch.
    Returns whether a plateau schedule cut the learning rate at this step (the loop may then reload the best
    weights, ``train.reload_best_on_cut``)."""
    if scheduler is None:
        return False
    if isinstance(scheduler, ReduceLROnPlateau):
        if monitor not in metrics:
            return False
        before = [group["lr"] for group in scheduler.optimizer.param_groups]
        scheduler.step(metrics[monitor])
        return any(g["lr"] < lr for g, lr in zip(scheduler.optimizer.param_groups, before))
    if isinstance(scheduler, WarmupCosine):
        scheduler.step_time(train_s / 60.0)
    else:
        scheduler.step()
    return False
