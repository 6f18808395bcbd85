"""A run's local record, :class:`RunRecord`: ``config.json``, ``metrics.jsonl``, ``summary.json``, ``status.json``.

Files that are replaced are written atomically (:mod:`recsys_pyg.io`), so a crash never leaves a
half-written summary or config; every file is strict JSON (NaN and infinities as ``null``).
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

from recsys_pyg.io import atomic_write_text


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
