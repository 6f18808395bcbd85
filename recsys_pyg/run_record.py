"""Where a run's results go: its own folder on disk, always, and W&B when enabled.

The local record (``config.json``, ``metrics.jsonl``, ``summary.json``; checkpoints beside it) is
written whatever happens to W&B; files that are replaced are written atomically
(:mod:`recsys_pyg.io`), so a crash never leaves a half-written summary or config.
:class:`Recorder` writes both with one call; :func:`open_recorder` sets it up for a run.
"""

from __future__ import annotations

import fcntl
import json
import logging
import math
import os
import secrets
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from recsys_pyg.data import RecDataset
from recsys_pyg.io import atomic_write_text
from recsys_pyg.utils import flatten

log = logging.getLogger(__name__)


def register_resolvers() -> None:
    """``${run_suffix:}``: six random hex digits, the same wherever one config uses it; ``${run_stamp:}``:
    a run folder's name (time to the microsecond + that suffix; under torchrun, one name for every rank);
    ``${rank_suffix:}``: ``""`` for one process or rank 0, ``".rank<r>"`` otherwise (each rank's log file)."""
    if not OmegaConf.has_resolver("run_suffix"):
        OmegaConf.register_new_resolver("run_suffix", lambda: secrets.token_hex(3), use_cache=True)
    if not OmegaConf.has_resolver("run_stamp"):
        OmegaConf.register_new_resolver("run_stamp", run_stamp, use_cache=True)
    if not OmegaConf.has_resolver("rank_suffix"):
        rank = int(os.environ.get("RANK", os.environ.get("SLURM_PROCID", "0")))
        OmegaConf.register_new_resolver("rank_suffix", lambda: f".rank{rank}" if rank else "")


def run_stamp() -> str:
    """``<date>_<time with microseconds>_<6 hex>``; under torchrun every rank must name the same folder, so
    it is ``torchrun_<run id>`` (torchrun's ``--rdzv-id``, random with ``--standalone``)."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        run_id = os.environ.get("TORCHELASTIC_RUN_ID", "none")
        if run_id == "none":
            raise ValueError(
                "under torchrun without --standalone or --rdzv-id every rank would name its own run folder: "
                "pass --standalone, --rdzv-id=<id>, or hydra.run.dir=<folder>"
            )
        return f"torchrun_{run_id}"
    return datetime.now().strftime("%Y-%m-%d_%H-%M-%S-%f") + "_" + secrets.token_hex(3)


register_resolvers()  # before Hydra composes the run folder's name

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


def strict(metrics: dict[str, Any]) -> dict[str, Any]:
    """``metrics`` with NaN and infinities as ``None``, so every record is strict JSON."""
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in metrics.items()}


class RunRecord:
    """A run's files in ``run_dir``: resolved config, one JSON line per log call, a summary, a status."""

    def __init__(self, run_dir: str | Path, config: dict[str, Any] | None = None) -> None:
        self.dir = Path(run_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.metrics_path = self.dir / "metrics.jsonl"
        self.config = config
        if config is not None:
            atomic_write_text(self.dir / "config.json", json.dumps(config, indent=2, allow_nan=False))

    def log(self, metrics: dict[str, float], step: int) -> None:
        line = json.dumps({"step": step, "time": time.time(), **strict(metrics)}, allow_nan=False)
        with open(self.metrics_path, "a") as f:
            f.write(line + "\n")
            f.flush()

    def truncate(self, last_step: int) -> None:
        """Keep only the metric lines up to ``last_step`` (a resumed run rewrites what came after)."""
        kept = [m for m in self.read_metrics() if m["step"] <= last_step]
        text = "".join(json.dumps(m) + "\n" for m in kept)
        atomic_write_text(self.metrics_path, text)

    def summary(self, summary: dict[str, Any]) -> None:
        atomic_write_text(self.dir / "summary.json", json.dumps(strict(summary), indent=2, allow_nan=False))

    def status(self, status: str, **info: Any) -> None:
        """``status.json``: ``running``, ``finished``, ``failed`` (with the error) or ``interrupted``."""
        text = json.dumps({"status": status, "time": time.time(), **strict(info)}, indent=2, allow_nan=False)
        atomic_write_text(self.dir / "status.json", text)

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

    def finish(self) -> None:
        self._guard("finish", lambda: self.run.finish())
        self.run = None

    @property
    def run_id(self) -> str | None:
        return None if self.run is None else str(self.run.id)


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
    def status_marked(self) -> Iterator[None]:
        """``status.json`` says ``running`` inside, then ``finished``, ``interrupted`` or ``failed`` (with the
        error); W&B is closed either way."""
        if self.record is None:
            yield
            return
        self.record.status("running")
        try:
            yield
        except BaseException as err:
            interrupted = type(err).__name__ in ("RunInterrupted", "KeyboardInterrupt")
            self.record.status("interrupted" if interrupted else "failed", error=f"{type(err).__name__}: {err}")
            self.finish()
            raise
        self.record.status("finished")

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


def protocol(cfg: DictConfig, data: RecDataset) -> dict[str, Any]:
    """The evaluation protocol in one place, for the run record and W&B (searchable as ``protocol.*``)."""
    split = cfg.dataset.get("split")
    return {
        "dataset": data.name,
        "split": "given" if split is None else str(split._target_).rsplit(".", 1)[-1],
        "filters": OmegaConf.to_container(cfg.dataset.filters) if cfg.dataset.get("filters") else {},
        "threshold": cfg.dataset.source.get("threshold"),
        "ranking": "full",  # every item ranked; training (and, at test time, validation) items excluded
        "selection": "val" if data.val_items.nnz else "test",
        **{k: int(v) for k, v in data.stats().items() if k.endswith(("users", "items", "interactions"))},
    }


def is_multirun() -> bool:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def run_name(cfg: DictConfig) -> tuple[str | None, str | None]:
    """The job's W&B name (its command-line overrides, e.g. ``model=mf,train.epochs=5``) and group
    (the sweep folder's name in a ``-m`` sweep); ``None`` outside Hydra."""
    try:
        from hydra.core.hydra_config import HydraConfig

        hc = HydraConfig.get()
        group = Path(hc.sweep.dir).name if is_multirun() else None
        return hc.job.override_dirname or None, group
    except Exception:
        return None, None


def open_recorder(
    cfg: DictConfig, data: RecDataset, resume_epoch: int | None = None, wandb_id: str | None = None
) -> Recorder:
    """The run's record in ``cfg.paths.output_dir`` (config with its protocol) and W&B as ``cfg.logger`` says.

    A resumed run (``resume_epoch`` set) drops what it logged after its checkpoint and continues
    its W&B run ``wandb_id``.
    """
    config = OmegaConf.to_container(cfg, resolve=True)
    config["protocol"] = protocol(cfg, data)  # type: ignore[index]
    run_dir = Path(cfg.paths.output_dir)
    record = RunRecord(run_dir, config=config)  # type: ignore[arg-type]
    if resume_epoch is not None:
        record.truncate(resume_epoch)  # drop what the interrupted run logged after its checkpoint
    wandb: WandbLogger | None = None
    if cfg.logger is not None and cfg.logger.get("_target_"):
        name, group = run_name(cfg)
        logger_fn = instantiate(cfg.logger)
        if group and not cfg.logger.get("group"):
            logger_fn = partial(logger_fn, group=group)
        if wandb_id:
            logger_fn = partial(logger_fn, id=wandb_id, resume="allow")
        wandb = logger_fn(config=flatten(config), dir=run_dir, name=name)  # type: ignore[arg-type]
    return Recorder(record, wandb)
