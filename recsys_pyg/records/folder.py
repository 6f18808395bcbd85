"""Exclusive use of a run's folder: :class:`RunFolder`, an OS lock held for the life of the run."""

from __future__ import annotations

import fcntl
import os
import shutil
from pathlib import Path

RECORD_FILES = ("config.json", "metrics.jsonl", "summary.json", "status.json", "failed.json", "checkpoints")


class RunFolderError(RuntimeError):
    """A run folder that another run holds or has written; the message says what to do."""


class RunFolder:
    """Exclusive use of a run's folder for as long as the run writes it.

    An OS lock (``flock`` on ``.run.lock``) is taken for the life of the run and released when
    the process ends, however it ends, so a killed run can be resumed at once. A fresh run refuses
    a folder that holds another run's record unless ``overwrite`` (then that record is removed).

    Args:
        path: the folder.
        mode: ``"fresh"`` (a new run), ``"resume"`` (continue the run recorded there) or
            ``"overwrite"`` (replace the record there).
    """

    def __init__(self, path: str | Path, mode: str = "fresh") -> None:
        if mode not in ("fresh", "resume", "overwrite"):
            raise ValueError(f"mode must be fresh, resume or overwrite, got {mode!r}")
        self.dir = Path(path)
        self.dir.mkdir(parents=True, exist_ok=True)
        self._lock = open(self.dir / ".run.lock", "a+")  # noqa: SIM115 - held open for the run's life
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock.seek(0)
            holder = self._lock.read().strip() or "another process"
            self._lock.close()
            raise RunFolderError(
                f"run folder {self.dir} is in use by another run ({holder}); give this run its own folder "
                f"(hydra.run.dir=... or paths.output_dir=...)"
            ) from None
        self._lock.seek(0)
        self._lock.truncate()
        self._lock.write(f"pid {os.getpid()}")
        self._lock.flush()
        found = [name for name in RECORD_FILES if (self.dir / name).exists()]
        if found and mode == "fresh":
            self.close()
            raise RunFolderError(
                f"run folder {self.dir} already holds a run's record ({', '.join(found)}); start in a new folder, "
                f"continue that run with train.resume={self.dir}, or replace it with train.overwrite=true"
            )
        if found and mode == "overwrite":
            for name in found:
                target = self.dir / name
                shutil.rmtree(target) if target.is_dir() else target.unlink()

    def close(self) -> None:
        """Release the folder (also done by the OS when the process ends)."""
        if not self._lock.closed:
            fcntl.flock(self._lock, fcntl.LOCK_UN)
            self._lock.close()
