"""Weights & Biases for a run, :class:`WandbLogger`: offline unless configured online, never in training's way.

``conf/logger/wandb.yaml`` builds it (``_partial_``); :func:`recsys_pyg.records.open_recorder` completes it.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


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
        init_timeout: seconds W&B may take to start before the run goes on without it (default 60).
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
        init_timeout: float = 60.0,
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
                settings=wandb.Settings(silent=True, console="off", init_timeout=float(init_timeout)),
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

    def summary(self, summary: dict[str, Any]) -> None:
        self._guard("summary", lambda: self.run.summary.update(summary))

    def artifact(self, folder: Path, name: str, kind: str = "model") -> None:
        """``folder``'s files as a W&B artifact of the run (kept in the offline run until synced)."""

        def log() -> None:
            import wandb

            art = wandb.Artifact(name, type=kind)
            art.add_dir(str(folder))
            self.run.log_artifact(art)

        self._guard("artifact", log)

    def truncate(self, last_step: int) -> None:
        """Nothing: a resumed W&B run keeps its history and skips steps at or below its last (W&B's rule)."""

    def finish(self, status: str = "finished") -> None:
        """Close the run (W&B records how its process ended by itself; ``status`` is the recorder's word)."""
        self._guard("finish", lambda: self.run.finish())
        self.run = None

    @property
    def run_id(self) -> str | None:
        return None if self.run is None else str(self.run.id)
