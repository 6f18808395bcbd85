"""SIGTERM and SIGINT stop a run cleanly: after the current step, with a resumable checkpoint."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from types import FrameType
from typing import Any

log = logging.getLogger(__name__)


class RunInterrupted(Exception):
    """The run stopped on a signal after writing a resumable checkpoint; ``exit_code`` is 128 + the signal."""

    def __init__(self, signum: int, message: str) -> None:
        super().__init__(message)
        self.signum, self.exit_code = signum, 128 + signum


def _already_stopping(signum: int, frame: FrameType | None) -> None:
    log.info("%s received: the run is already stopping with a resumable checkpoint", signal.Signals(signum).name)


def ignore_further_signals() -> None:
    """A run leaving on a signal ignores SIGTERM from here on: torchrun's agent sends it to the ranks still tearing
    down once one has left, and Python's finalisation restores the default action of any handler written in Python,
    so without this a rank that wrote its checkpoint would die by the signal (-15) instead of exiting 128 + it."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, signal.SIG_IGN)


def leave_within(seconds: float, exit_code: int) -> None:
    """A torchrun rank leaving on a signal: SIGTERM ignored from here on, and a watchdog that ends the process with
    ``exit_code`` should its teardown (leaving the process group, finalisation) not have ended it in ``seconds``.
    torchrun's agent kills a rank still alive 30 s after the first one left (exit -9); on a loaded machine a rank's
    teardown was seen to outlast that. The watchdog is a daemon thread: it runs while the main thread waits in C."""
    ignore_further_signals()

    def leave() -> None:
        for stream in (sys.stdout, sys.stderr):
            with suppress(Exception):
                stream.flush()
        os._exit(exit_code)

    watchdog = threading.Timer(seconds, leave)
    watchdog.daemon = True
    watchdog.start()


class StopOnSignal:
    """While active, SIGTERM and SIGINT set a flag the training loop reads after every step
    (``stop()`` is True), instead of killing the process mid-write; a second SIGINT interrupts
    at once. Handlers are installed only in the main thread and restored on exit.

    Inside :meth:`finishing` (the final test and export, which nothing stops halfway) a signal is noted and
    the run completes: the log says so, the status says ``finished`` and the exit code is 0, all three alike."""

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self) -> None:
        self.signum: int | None = None
        self.phase: str | None = None  # set while the run finishes: a signal no longer stops it
        self._previous: dict[int, Any] = {}

    def __call__(self) -> bool:
        return self.signum is not None

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.signum is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.signum = signum
        if self.phase is not None:
            log.warning("%s received during %s: finishing it first (a few seconds); the run then ends complete",
                        signal.Signals(signum).name, self.phase)  # fmt: skip
            return
        log.warning("%s received: stopping after the current step with a resumable checkpoint",
                    signal.Signals(signum).name)  # fmt: skip

    @contextmanager
    def finishing(self, phase: str) -> Iterator[None]:
        """The run's last ``phase`` (its final test and export): a signal that arrived in the last epoch, or
        arrives now, lets it complete, and the log says so."""
        if self.signum is not None:
            log.warning("%s came in the run's last epoch: the run finishes (%s) rather than stopping",
                        signal.Signals(self.signum).name, phase)  # fmt: skip
        self.phase = phase
        try:
            yield
        finally:
            self.phase = None
        if self.signum is not None:
            log.warning(
                "the run finished despite %s: it is complete, nothing to resume", signal.Signals(self.signum).name
            )

    def __enter__(self) -> StopOnSignal:
        if threading.current_thread() is threading.main_thread():
            for sig in self.SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        stopping = exc_type is not None and issubclass(exc_type, RunInterrupted)
        for sig, handler in self._previous.items():
            # A run already stopping on a signal leaves with its own exit code (128 + it): a second SIGTERM (torchrun's
            # agent stopping the other ranks once one has left) must not kill it on the way out.
            signal.signal(sig, _already_stopping if stopping and sig == signal.SIGTERM else handler)
