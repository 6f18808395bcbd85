"""SIGTERM and SIGINT stop a run cleanly: after the current step, with a resumable checkpoint."""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType
from typing import Any

log = logging.getLogger(__name__)


class RunInterrupted(Exception):
    """The run stopped on a signal after writing a resumable checkpoint; ``exit_code`` is 128 + the signal."""

    def __init__(self, signum: int, message: str) -> None:
        super().__init__(message)
        self.signum, self.exit_code = signum, 128 + signum


class StopOnSignal:
    """While active, SIGTERM and SIGINT set a flag the training loop reads after every step
    (``stop()`` is True), instead of killing the process mid-write; a second SIGINT interrupts
    at once. Handlers are installed only in the main thread and restored on exit."""

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self) -> None:
        self.signum: int | None = None
        self._previous: dict[int, Any] = {}

    def __call__(self) -> bool:
        return self.signum is not None

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.signum is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.signum = signum
        log.warning("%s received: stopping after the current step with a resumable checkpoint",
                    signal.Signals(signum).name)  # fmt: skip

    def __enter__(self) -> StopOnSignal:
        if threading.current_thread() is threading.main_thread():
            for sig in self.SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
