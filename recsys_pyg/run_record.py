"""Where a run's results go: its own folder on disk, always, and W&B when enabled.

The local record (``config.yaml``, ``metrics.jsonl``, ``summary.json``, checkpoints) is
written whatever happens to W&B; files that are replaced are written atomically
(temporary file + rename), so a crash never leaves a half-written summary or checkpoint.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

log = logging.getLogger(__name__)


def atomic_write(path: Path, write: Any) -> None:
    """Call ``write(file_object)`` on a temporary file next to ``path``, then rename it over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_checkpoint(obj: Any, path: Path) -> None:
    """``torch.save`` atomically."""
    atomic_write(path, lambda f: torch.save(obj, f))


class RunRecord:
    """A run's files in ``run_dir``: resolved config, one JSON line per log call, a summary."""

    def __init__(self, run_dir: str | Path, config: dict[str, Any] | None = None) -> None:
        self.dir = Path(run_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.metrics_path = self.dir / "metrics.jsonl"
        if config is not None:
            atomic_write(self.dir / "config.json", lambda f: f.write(json.dumps(config, indent=2).encode()))

    def log(self, metrics: dict[str, float], step: int) -> None:
        line = json.dumps({"step": step, "time": time.time(), **metrics})
        with open(self.metrics_path, "a") as f:
            f.write(line + "\n")
            f.flush()

    def truncate(self, last_step: int) -> None:
        """Keep only the metric lines up to ``last_step`` (a resumed run rewrites what came after)."""
        kept = [m for m in self.read_metrics() if m["step"] <= last_step]
        text = "".join(json.dumps(m) + "\n" for m in kept)
        atomic_write(self.metrics_path, lambda f: f.write(text.encode()))

    def summary(self, summary: dict[str, Any]) -> None:
        atomic_write(self.dir / "summary.json", lambda f: f.write(json.dumps(summary, indent=2).encode()))

    def read_metrics(self) -> list[dict[str, Any]]:
        if not self.metrics_path.exists():
            return []
        return [json.loads(line) for line in self.metrics_path.read_text().splitlines() if line.strip()]


class WandbLogger:
    """Weights & Biases, offline unless configured online; never stops training.

    Any failure to import, start or log is reported once as a warning and W&B is then
    skipped for the rest of the run. Offline runs land in ``<dir>/wandb/`` and can be
    uploaded later with ``wandb sync <dir>/wandb/offline-run-*``.

    Args:
        project, entity, group, name, tags, job_type: as in ``wandb.init``.
        mode: ``offline`` (default), ``online`` or ``disabled``.
        config: the run's resolved configuration (flattened ``a/b`` keys are searchable).
        dir: folder for W&B's files (the run folder).
        id, resume: continue an earlier W&B run (set by ``train.resume``).
    """

    def __init__(
        self,
        project: str = "recsys_pyg",
        mode: str = "offline",
        entity: str | None = None,
        group: str | None = None,
        name: str | None = None,
        tags: list[str] | None = None,
        job_type: str | None = None,
        config: dict[str, Any] | None = None,
        dir: str | Path | None = None,
        id: str | None = None,
        resume: str | None = None,
    ) -> None:
        self.run: Any = None
        try:
            import wandb

            self.run = wandb.init(
                project=project,
                entity=entity,
                group=group,
                name=name,
                tags=list(tags or []),
                job_type=job_type,
                mode=mode,
                config=config,
                dir=str(dir) if dir is not None else None,
                id=id,
                resume=resume,
                reinit="finish_previous",
                settings=wandb.Settings(silent=True, console="off"),
            )
        except Exception as err:  # W&B must never stop training
            log.warning("W&B disabled for this run: could not start (%s: %s)", type(err).__name__, err)
            self.run = None

    def _guard(self, what: str, fn: Any) -> None:
        if self.run is None:
            return
        try:
            fn()
        except Exception as err:
            log.warning("W&B disabled for the rest of this run: %s failed (%s: %s)", what, type(err).__name__, err)
            self.run = None

    def log(self, metrics: dict[str, float], step: int) -> None:
        self._guard("log", lambda: self.run.log(metrics, step=step))

    def truncate(self, last_step: int) -> None:
        """Keep only the metric lines up to ``last_step`` (a resumed run rewrites what came after)."""
        kept = [m for m in self.read_metrics() if m["step"] <= last_step]
        text = "".join(json.dumps(m) + "\n" for m in kept)
        atomic_write(self.metrics_path, lambda f: f.write(text.encode()))

    def summary(self, summary: dict[str, Any]) -> None:
        self._guard("summary", lambda: self.run.summary.update(summary))

    def finish(self) -> None:
        self._guard("finish", lambda: self.run.finish())
        self.run = None

    @property
    def run_id(self) -> str | None:
        return None if self.run is None else str(self.run.id)
