"""The façade a run writes through, :class:`Recorder` (local record + trackers), and :func:`open_recorder`."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from omegaconf import DictConfig, OmegaConf

from recsys_pyg.records.backends import RunLogger, start_loggers
from recsys_pyg.records.naming import protocol, run_name
from recsys_pyg.records.record import DiskFullError, RunRecord
from recsys_pyg.records.wandb_logger import WandbLogger
from recsys_pyg.training.signals import RunInterrupted
from recsys_pyg.utils import flatten

if TYPE_CHECKING:
    from recsys_pyg.data import RecDataset

log = logging.getLogger(__name__)

INTERRUPTIONS = (RunInterrupted, KeyboardInterrupt)  # a stop asked for (a signal, Ctrl-C), not a failure


def outcome(err: BaseException) -> str:
    """The status a run that raised ``err`` ends with: ``interrupted`` or ``failed``."""
    return "interrupted" if isinstance(err, INTERRUPTIONS) else "failed"


def error_text(err: BaseException) -> str:
    """``err`` as a status records it: ``<type>: <message>``; a full disk as ``no space left on device (<path>)``."""
    return str(err) if isinstance(err, DiskFullError) else f"{type(err).__name__}: {err}"


class Recorder:
    """The run's local record and the trackers ``cfg.logger`` enables (W&B, MLflow): one call writes all.
    Each tracker fails alone (it warns once and stops logging); the local record goes on."""

    def __init__(self, record: RunRecord | None, loggers: list[RunLogger] | None = None) -> None:
        self.record, self.loggers = record, list(loggers or [])

    @classmethod
    def silent(cls) -> Recorder:
        """A recorder that writes nothing: every rank but 0 of a torchrun run (rank 0 keeps the record)."""
        return cls(None)

    @property
    def writes(self) -> bool:
        """Whether this process writes the run's files (the record, checkpoints, the export)."""
        return self.record is not None

    @property
    def dir(self) -> Path:
        if self.record is None:
            raise RuntimeError("a silent recorder (rank > 0) has no run folder: check Recorder.writes first")
        return self.record.dir

    @property
    def config(self) -> dict[str, Any] | None:
        """The resolved config with its protocol, as written to ``config.json``."""
        return None if self.record is None else self.record.config

    @property
    def wandb_id(self) -> str | None:
        """The W&B run's id, kept in the checkpoint so a resume continues it (MLflow keeps its own in the folder)."""
        return next((lg.run_id for lg in self.loggers if isinstance(lg, WandbLogger)), None)

    @contextmanager
    def status_marked(self, config: dict[str, Any] | None = None) -> Iterator[None]:
        """``status.json`` says ``running`` inside, then ``finished``, ``interrupted`` (:data:`INTERRUPTIONS`)
        or ``failed`` (with the error); the trackers are closed either way, with that status. ``config`` (the
        composed config, before the data gives its protocol) is written first, so a run that fails in its setup
        still has it."""
        if self.record is None:
            try:
                yield
            finally:
                self.finish()
            return
        self.record.reserve()  # room for the last status, should the disk fill up
        try:
            if config is not None:
                self.record.write_config(config)
            self.record.status("running")
            yield
        except BaseException as err:
            try:
                self.record.status(outcome(err), error=error_text(err))
            except Exception as status_err:  # the run's own error is the one to raise
                log.error("could not write %s: %s", self.record.dir / "status.json", status_err)
            self.finish(outcome(err))
            raise
        finally:
            self.record.release()
        self.record.status("finished")

    def open(self, cfg: DictConfig, data: RecDataset, resume_epoch: int | None = None,
             wandb_id: str | None = None) -> Recorder:  # fmt: skip
        """Complete the record once the data is loaded: ``config.json`` with its protocol (a resumed run,
        ``resume_epoch`` set, first drops what it logged after its checkpoint, in the trackers too) and the
        trackers ``cfg.logger`` names (W&B continuing the run ``wandb_id``). A silent recorder stays silent."""
        if self.record is None:
            return self
        config = OmegaConf.to_container(cfg, resolve=True)
        config["protocol"] = protocol(cfg, data)  # type: ignore[index]
        if resume_epoch is not None:
            self.record.truncate(resume_epoch)  # drop what the interrupted run logged after its checkpoint
        self.record.write_config(config)  # type: ignore[arg-type]
        name, group = run_name(cfg)
        flat = flatten(config)  # type: ignore[arg-type]
        self.loggers = start_loggers(cfg.get("logger"), flat, self.record.dir, name, group, wandb_id)
        if resume_epoch is not None:
            for logger in self.loggers:
                logger.truncate(resume_epoch)  # as the record: those steps are logged again
        return self

    def log(self, metrics: dict[str, float], step: int) -> None:
        if self.record is not None:
            self.record.log(metrics, step)
        for logger in self.loggers:
            logger.log(metrics, step)

    def summary(self, results: dict[str, Any]) -> None:
        if self.record is not None:
            self.record.summary(results)
        for logger in self.loggers:
            logger.summary(results)

    def artifact(self, folder: Path, name: str) -> None:
        """A folder of the record (the export) as the trackers' artifact too; locally it is already in place."""
        for logger in self.loggers:
            logger.artifact(folder, name)

    def finish(self, status: str = "finished") -> None:
        """Close every tracker as ``finished``, ``failed`` or ``interrupted`` (the run's status)."""
        for logger in self.loggers:
            logger.finish(status)
        self.loggers = []


def open_recorder(
    cfg: DictConfig, data: RecDataset, resume_epoch: int | None = None, wandb_id: str | None = None
) -> Recorder:
    """The run's record in ``cfg.paths.output_dir`` (config with its protocol) and the trackers ``cfg.logger`` names
    (:meth:`Recorder.open`)."""
    return Recorder(RunRecord(Path(cfg.paths.output_dir))).open(cfg, data, resume_epoch, wandb_id)
