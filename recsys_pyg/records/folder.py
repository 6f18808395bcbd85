"""Exclusive use of a run's folder: :class:`RunFolder`, an OS lock held for the life of the run."""

from __future__ import annotations

import fcntl
import os
import shutil
from pathlib import Path

RECORD_FILES = ("config.json", "metrics.jsonl", "summary.json", "status.json", "failed.json", "checkpoints")
# What ``overwrite`` removes besides the record: all a replaced run left that a reader could take for the new run's
# (its export would be served, its W&B run synced, its id maps read, its MLflow run continued).
REPLACED_FILES = (*RECORD_FILES, "export", "wandb", "mlflow_run.json", "user_ids.json", "item_ids.json",
                  ".status.reserve")  # fmt: skip


class RunFolderError(RuntimeError):
    """A run folder that another run holds or has written; the message says what to do."""


class RunFolder:
    """Exclusive use of a run's folder for as long as the run writes it.

    An OS lock (``flock`` on ``.run.lock``) is taken for the life of the run and released when
    the process ends, however it ends, so a killed run can be resumed at once. A fresh run refuses
    a folder that holds another run's record unless ``overwrite``: then that record, its export,
    checkpoints and W&B files are removed before the new run writes anything.

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
            for name in REPLACED_FILES:
                target = self.dir / name
                if target.is_dir() and not target.is_symlink():
                    shutil.rmtree(target)
                elif target.exists() or target.is_symlink():
                    target.unlink()

    def close(self) -> None:
        """Release the folder (also done by the OS when the process ends)."""
        if not self._lock.closed:
            fcntl.flock(self._lock, fcntl.LOCK_UN)
            self._lock.close()


def lock_held(folder: str | Path) -> bool | None:
    """Whether a live process holds ``folder``'s run lock (``None``: the folder has no lock file).

    A run's status says ``running`` until it ends; a process killed outright cannot change it, but the OS
    releases its lock: a ``running`` status with no lock held is a dead run. A shared lock, taken for a
    moment only, never blocks another reader.
    """
    try:
        f = open(Path(folder) / ".run.lock", "rb")  # noqa: SIM115 - closed below
    except (FileNotFoundError, NotADirectoryError):
        return None
    with f:
        try:
            fcntl.flock(f, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(f, fcntl.LOCK_UN)
        return False
