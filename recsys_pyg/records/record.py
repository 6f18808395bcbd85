"""A run's local record, :class:`RunRecord`: ``config.json``, ``metrics.jsonl``, ``summary.json``, ``status.json``.

Files that are replaced are written atomically (:mod:`recsys_pyg.io`), so a crash never leaves a
half-written summary or config; every file is strict JSON (NaN and infinities as ``null``). A metric
line is appended whole or not at all, so even a full disk leaves ``metrics.jsonl`` parseable, and the
final status is written even then (:meth:`RunRecord.status` frees the space the run reserved for it).
"""

from __future__ import annotations

import errno
import json
import logging
import math
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from recsys_pyg.io import atomic_write_text, clean_stale_temporaries

log = logging.getLogger(__name__)

RESERVE = ".status.reserve"  # space held back so the last status can be written on a full disk
RESERVE_BYTES = 64 * 1024
MAX_ERROR_CHARS = 2000  # a status stays small: it may have to be written into its own old blocks


class DiskFullError(OSError):
    """A write found no space left on its device; the message names the file (``no space left on device (<path>)``)."""

    def __init__(self, path: str | Path) -> None:
        super().__init__(errno.ENOSPC, "no space left on device", str(path))
        self.path = str(path)

    def __str__(self) -> str:
        return f"no space left on device ({self.path})"


class RecordError(ValueError):
    """A record file that cannot be read as a record; the message names the file and what is wrong."""


def is_disk_full(err: BaseException | None) -> bool:
    """Whether ``err`` or an error it was raised from is ENOSPC/EDQUOT (torch's writer reports a full disk as
    ``unexpected pos``, with the ``OSError`` as its context)."""
    seen: set[int] = set()
    while err is not None and id(err) not in seen:
        if isinstance(err, OSError) and err.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        seen.add(id(err))
        err = err.__cause__ or err.__context__
    return False


@contextmanager
def naming_a_full_disk(path: str | Path) -> Iterator[None]:
    """Re-raise a full disk met inside as :class:`DiskFullError` naming ``path``; any other error unchanged."""
    try:
        yield
    except DiskFullError:
        raise
    except Exception as err:
        if is_disk_full(err):
            raise DiskFullError(path) from err
        raise


def append_whole(path: Path, data: bytes) -> None:
    """Append ``data`` with one ``os.write``; if that fails or writes less, cut the file back to its length
    before, so a reader never sees part of it."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        size = os.fstat(fd).st_size
        try:
            if os.write(fd, data) != len(data):  # a short write to a file: the device filled up
                raise OSError(errno.ENOSPC, "no space left on device (short write)", str(path))
        except BaseException:
            try:
                os.ftruncate(fd, size)
            except OSError:
                log.error("could not cut %s back to %d bytes after a failed write", path, size)
            raise
    finally:
        os.close(fd)


def strict(metrics: dict[str, Any]) -> dict[str, Any]:
    """``metrics`` with NaN and infinities as ``None``, so every record is strict JSON."""
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in metrics.items()}


def read_json(path: Path, kind: type = dict) -> Any:
    """A record's JSON file, which must hold a ``kind``; :class:`RecordError` naming the file otherwise."""
    try:
        text = path.read_text()
    except UnicodeDecodeError as err:
        raise RecordError(f"{path}: not text ({err.reason})") from None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        what = "empty" if not text.strip() else "truncated or not JSON"
        raise RecordError(f"{path}: {what} ({err.msg} at line {err.lineno} column {err.colno})") from None
    if not isinstance(value, kind):
        raise RecordError(f"{path}: holds a JSON {type(value).__name__}, not an object")
    return value


def read_metrics_file(path: Path) -> tuple[list[dict[str, Any]], str | None]:
    """The lines of ``metrics.jsonl`` and, when its last line is torn (a write cut short by a crash or a full
    disk), a note saying it was skipped; a damaged line before the last is a :class:`RecordError` naming
    the file and the line."""
    if not path.exists():
        return [], None
    try:
        lines = path.read_text().split("\n")
    except UnicodeDecodeError as err:
        raise RecordError(f"{path}: not text ({err.reason})") from None
    numbered = [(n, line) for n, line in enumerate(lines, 1) if line.strip()]
    rows: list[dict[str, Any]] = []
    for i, (n, line) in enumerate(numbered):
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            if i == len(numbered) - 1:
                return rows, f"{path}: line {n}, the last, is incomplete ({err.msg}); skipped"
            raise RecordError(f"{path}: line {n} is not JSON ({err.msg}); only the last line can be torn") from None
        if not isinstance(row, dict) or not isinstance(row.get("step"), int):
            raise RecordError(f"{path}: line {n} is not a metrics line (an object with an integer step)")
        rows.append(row)
    return rows, None


class RunRecord:
    """A run's files in ``run_dir``: resolved config, one JSON line per log call, a summary, a status."""

    def __init__(self, run_dir: str | Path, config: dict[str, Any] | None = None) -> None:
        self.dir = Path(run_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.metrics_path = self.dir / "metrics.jsonl"
        self.config = config
        if config is not None:
            self.write_config(config)

    def write_config(self, config: dict[str, Any]) -> None:
        """``config.json`` (atomically): the resolved config, with its protocol once the data is loaded."""
        self.config = config
        path = self.dir / "config.json"
        with naming_a_full_disk(path):
            atomic_write_text(path, json.dumps(config, indent=2, allow_nan=False))

    def log(self, metrics: dict[str, float], step: int) -> None:
        line = json.dumps({"step": step, "time": time.time(), **strict(metrics)}, allow_nan=False)
        with naming_a_full_disk(self.metrics_path):
            append_whole(self.metrics_path, (line + "\n").encode())

    def truncate(self, last_step: int) -> None:
        """Keep only the metric lines up to ``last_step`` (a resumed run rewrites what came after; a torn
        last line is dropped)."""
        kept = [m for m in self.read_metrics() if m["step"] <= last_step]
        text = "".join(json.dumps(m) + "\n" for m in kept)
        with naming_a_full_disk(self.metrics_path):
            atomic_write_text(self.metrics_path, text)

    def summary(self, summary: dict[str, Any]) -> None:
        path = self.dir / "summary.json"
        with naming_a_full_disk(path):
            atomic_write_text(path, json.dumps(strict(summary), indent=2, allow_nan=False))

    def reserve(self) -> None:
        """Hold back a little space for the last status (released when it is written); best effort."""
        try:
            with open(self.dir / RESERVE, "wb") as f:
                f.write(b"\0" * RESERVE_BYTES)
                f.flush()
                os.fsync(f.fileno())
        except OSError:
            (self.dir / RESERVE).unlink(missing_ok=True)

    def release(self) -> None:
        """Give back the reserved space and any temporary file a dead writer left in the run folder."""
        (self.dir / RESERVE).unlink(missing_ok=True)
        for name in ("status.json", "summary.json", "config.json", "metrics.jsonl"):
            clean_stale_temporaries(self.dir / name)

    def status(self, status: str, **info: Any) -> None:
        """``status.json``: ``running``, ``finished``, ``failed`` (with the error) or ``interrupted``.

        On a full disk it is retried after releasing the reserved space, and as a last resort written over
        the old status in place (a file's own blocks need no new space)."""
        if isinstance(info.get("error"), str):
            info["error"] = info["error"][:MAX_ERROR_CHARS]
        text = json.dumps({"status": status, "time": time.time(), **strict(info)}, indent=2, allow_nan=False)
        path = self.dir / "status.json"
        try:
            atomic_write_text(path, text)
            return
        except OSError as err:
            if not is_disk_full(err):
                raise
        self.release()
        try:
            atomic_write_text(path, text)
        except OSError as err:
            if not is_disk_full(err) or not path.exists():
                raise DiskFullError(path) from err
            with open(path, "r+b") as f:  # not atomic, but the only write left that needs no new block
                f.write(text.encode())
                f.truncate()
                f.flush()
                os.fsync(f.fileno())

    def read_metrics(self) -> list[dict[str, Any]]:
        rows, torn = read_metrics_file(self.metrics_path)
        if torn:
            log.warning("%s", torn)
        return rows
