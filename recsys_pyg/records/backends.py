"""The trackers a run logs to besides its local record: the :class:`RunLogger` protocol and :func:`start_loggers`.

``cfg.logger`` names them: each backend's config sits under its own key (``logger=[wandb,mlflow]`` composes
``logger.wandb`` and ``logger.mlflow``; ``logger=all`` is both). A checkpoint saved before backends were
nested holds one backend at the top (``logger._target_``): it is read as that one backend, so it resumes.
"""

from __future__ import annotations

import logging
from functools import partial
from pathlib import Path
from typing import Any, Protocol

from hydra.utils import instantiate
from omegaconf import DictConfig

from recsys_pyg.records.wandb_logger import WandbLogger

log = logging.getLogger(__name__)


class RunLogger(Protocol):
    """What the recorder calls on a tracker; an implementation never raises (it warns once and stops logging)."""

    def log(self, metrics: dict[str, float], step: int) -> None: ...

    def summary(self, summary: dict[str, Any]) -> None: ...

    def artifact(self, folder: Path, name: str) -> None: ...

    def truncate(self, last_step: int) -> None:
        """Forget what was logged after ``last_step`` (a resumed run logs those steps again)."""

    def finish(self, status: str = "finished") -> None:
        """Close the run as ``finished``, ``failed`` or ``interrupted``."""


def backend_specs(logger: DictConfig | None) -> dict[str, DictConfig]:
    """``{name: config}`` of every backend ``cfg.logger`` enables (``logger=none``: none)."""
    if logger is None:
        return {}
    if logger.get("_target_"):  # one backend at the top: a checkpoint's config from before nesting
        return {"logger": logger}
    return {k: v for k, v in logger.items() if isinstance(v, DictConfig) and v.get("_target_")}


def start_loggers(
    logger: DictConfig | None,
    config: dict[str, Any],
    dir: Path,
    name: str | None,
    group: str | None,
    wandb_id: str | None = None,
) -> list[RunLogger]:
    """Start every backend of ``logger`` for the run (flattened ``config``, run folder ``dir``, W&B-style
    ``name`` and sweep ``group``); one that cannot even be built is skipped with a warning, the others start."""
    started: list[RunLogger] = []
    for key, spec in backend_specs(logger).items():
        try:
            start = instantiate(spec)
            if group and not spec.get("group"):
                start = partial(start, group=group)
            if wandb_id and getattr(start, "func", None) is WandbLogger:  # W&B continues the run its checkpoint names
                start = partial(start, id=wandb_id, resume="allow")
            started.append(start(config=config, dir=dir, name=name))
        except Exception as err:  # a tracker must never stop training
            log.warning("logger %s disabled for this run: could not build it (%s: %s)", key, type(err).__name__, err)
    return started
