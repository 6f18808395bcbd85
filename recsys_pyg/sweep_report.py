"""A Hydra callback that reports, at the end of a ``-m`` sweep, which jobs finished and which failed."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

log = logging.getLogger(__name__)


def job_status(sweep_dir: Path) -> list[dict[str, Any]]:
    """One entry per job folder of a sweep: its name and ``ok`` / ``failed`` (with the error) / ``unfinished``."""
    rows = []
    for job in sorted(p for p in sweep_dir.iterdir() if p.is_dir() and (p / ".hydra").exists()):
        if (job / "failed.json").exists():
            rows.append({"job": job.name, "status": "failed", **json.loads((job / "failed.json").read_text())})
        elif (job / "summary.json").exists():
            rows.append({"job": job.name, "status": "ok"})
        else:
            rows.append({"job": job.name, "status": "unfinished"})
    return rows


class SweepReport(Callback):
    """Logs every job's status when a multirun ends and writes ``<sweep dir>/sweep_report.json``."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        if not sweep_dir.exists():
            return
        rows = job_status(sweep_dir)
        (sweep_dir / "sweep_report.json").write_text(json.dumps(rows, indent=2))
        failed = [r for r in rows if r["status"] != "ok"]
        log.info(
            "sweep %s: %d jobs, %d ok, %d failed or unfinished",
            sweep_dir,
            len(rows),
            len(rows) - len(failed),
            len(failed),
        )
        for r in failed:
            log.error("  job %s %s: %s", r["job"], r["status"], r.get("error", ""))
