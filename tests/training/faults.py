"""Faults to inject into real runs (imported by ``loss._target_`` in subprocess tests)."""

from __future__ import annotations

import os
import signal

from torch import Tensor

from recsys_pyg.losses import BPRLoss, ScoredBatch


class NaNAfterLoss(BPRLoss):
    """BPR until ``after_calls`` steps have run, then NaN: a loss that diverges mid-training."""

    def __init__(self, after_calls: int = 10) -> None:
        super().__init__()
        self.after_calls, self.calls = after_calls, 0

    def forward(self, batch: ScoredBatch) -> Tensor:
        self.calls += 1
        loss = super().forward(batch)
        return loss * float("nan") if self.calls > self.after_calls else loss


class SignalAtLoss(BPRLoss):
    """BPR that sends its own process SIGTERM at step ``$RECSYS_TEST_SIGNAL_AT`` (when that is set):
    a signal that lands inside an epoch, exactly where the test wants it (under torchrun, in the rank
    ``$RECSYS_TEST_SIGNAL_RANK`` only, when set)."""

    def __init__(self) -> None:
        super().__init__()
        self.at, self.calls = int(os.environ.get("RECSYS_TEST_SIGNAL_AT", "0")), 0
        only = os.environ.get("RECSYS_TEST_SIGNAL_RANK")  # under torchrun: signal this rank alone
        if only is not None and os.environ.get("RANK", "0") != only:
            self.at = 0

    def forward(self, batch: ScoredBatch) -> Tensor:
        self.calls += 1
        if self.calls == self.at:
            os.kill(os.getpid(), signal.SIGTERM)
        return super().forward(batch)
