"""The façade a run writes through, :class:`Recorder` (local record + W&B), and :func:`open_recorder`."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

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
    """The run's local record and, when enabled, W&B: one call writes both."""

    def __init__(self, record: RunRecord | None, wandb: WandbLogger | None = None) -> None:
        self.record, self.wandb = record, wandb

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
        return self.wandb.run_id if self.wandb is not None else None

    @contextmanager
    def status_marked(self, config: dict[str, Any] | None = None) -> Iterator[None]:
        """``status.json`` says ``running`` inside, then ``finished``, ``interrupted`` (:data:`INTERRUPTIONS`)
        or ``failed`` (with the error); W&B is closed either way. ``config`` (the composed config, before
        the data gives its protocol) is written first, so a run that fails in its setup still has it."""
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
            self.finish()
            raise
        finally:
            self.record.release()
        self.record.status("finished")

    def open(self, cfg: DictConfig, data: RecDataset, resume_epoch: int | None = None,
             wandb_id: str | None = None) -> Recorder:  # fmt: skip
        """Complete the record once the data is loaded: ``config.json`` with its protocol (a resumed run,
        ``resume_epoch`` set, first drops what it logged after its checkpoint) and W&B as ``cfg.logger``
        says (continuing the run ``wandb_id``). A silent recorder stays silent."""
        if self.record is None:
            return self
        config = OmegaConf.to_container(cfg, resolve=True)
        config["protocol"] = protocol(cfg, data)  # type: ignore[index]
        if resume_epoch is not None:
            self.record.truncate(resume_epoch)  # drop what the interrupted run logged after its checkpoint
        self.record.write_config(config)  # type: ignore[arg-type]
        if cfg.logger is not None and cfg.logger.get("_target_"):
            name, group = run_name(cfg)
            logger_fn = instantiate(cfg.logger)
            if group and not cfg.logger.get("group"):
                logger_fn = partial(logger_fn, group=group)
            if wandb_id:
                logger_fn = partial(logger_fn, id=wandb_id, resume="allow")
            self.wandb = logger_fn(config=flatten(config), dir=self.record.dir, name=name)  # type: ignore[arg-type]
        return self

    def log(self, metrics: dict[str, float], step: int) -> None:
        if self.record is not None:
            self.record.log(metrics, step)
        if self.wandb is not None:
            self.wandb.log(metrics, step)

    def summary(self, results: dict[str, Any]) -> None:
        if self.record is not None:
            self.record.summary(results)
        if self.wandb is not None:
            self.wandb.summary(results)

    def artifact(self, folder: Path, name: str) -> None:
        """A folder of the record (the export) as a W&B artifact too; locally it is already in place."""
        if self.wandb is not None:
            self.wandb.artifact(folder, name)

    def finish(self) -> None:
        if self.wandb is not None:
            self.wandb.finish()


def open_recorder(
    cfg: DictConfig, data: RecDataset, resume_epoch: int | None = None, wandb_id: str | None = None
) -> Recorder:
    """The run's record in ``cfg.paths.output_dir`` (config with its protocol) and W&B as ``cfg.logger`` says
    (:meth:`Recorder.open`)."""
    return Recorder(RunRecord(Path(cfg.paths.output_dir))).open(cfg, data, resume_epoch, wandb_id)
