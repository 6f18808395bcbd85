"""The training loop's state: what keep-best, early stopping, checkpoints and resume share."""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field, fields
from typing import Any

from torch import Tensor, nn


@dataclass
class LoopState:
    """Where a run stands after ``epoch`` finished epochs.

    One ``state_dict()`` / ``load_state_dict()`` pair serves the resumable checkpoint and resume,
    so a field added here is saved and restored without another list to keep in step.

    Args:
        epoch: the last finished epoch (0 before training).
        best: the best value of the monitored validation metric so far.
        best_epoch: the epoch that reached it (0 = none yet).
        best_state: the model's weights at ``best_epoch`` (a detached copy).
        best_val: every validation metric at ``best_epoch`` (``val/...`` keys).
        stale: validations since the last improvement (early stopping counts these).
        baseline: MostPop's metrics on validation and test, logged at step 0.
        train_time: seconds spent in training epochs (evaluation excluded), for ``train.time_budget_min``.
    """

    epoch: int = 0
    best: float = -math.inf
    best_epoch: int = 0
    best_state: dict[str, Tensor] | None = None
    best_val: dict[str, float] = field(default_factory=dict)
    stale: int = 0
    baseline: dict[str, float] = field(default_factory=dict)
    train_time: float = 0.0

    def observe(self, val: dict[str, float], monitor: str, model: nn.Module) -> bool:
        """Record a validation of ``model`` at ``self.epoch``; True (and the weights kept) when it is a new best."""
        if val[monitor] > self.best:
            self.best, self.best_epoch, self.best_val, self.stale = val[monitor], self.epoch, dict(val), 0
            self.best_state = copy.deepcopy(model.state_dict())
            return True
        self.stale += 1
        return False

    def should_stop(self, patience: int) -> bool:
        """Early stopping: ``patience`` validations without gain (0 = never)."""
        return bool(patience) and self.stale >= patience

    def over_budget(self, minutes: float | None) -> bool:
        """Whether the training time has reached ``minutes`` (``None`` = no budget)."""
        return minutes is not None and self.train_time >= 60.0 * float(minutes)

    def crossed(self, minutes: float | None, epoch_time: float) -> bool:
        """Whether the last epoch (``epoch_time`` seconds) took the training time across a multiple of ``minutes``
        (``train.eval_every_min``: evaluations at fixed points of training time; ``None`` = never)."""
        if minutes is None:
            return False
        period = 60.0 * float(minutes)
        return math.floor(self.train_time / period) > math.floor((self.train_time - epoch_time) / period)

    def state_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        missing = [f.name for f in fields(self) if f.name not in state]
        if missing:
            raise KeyError(f"loop state lacks {missing}: not a checkpoint of this version of recsys_pyg")
        for f in fields(self):
            setattr(self, f.name, state[f.name])
