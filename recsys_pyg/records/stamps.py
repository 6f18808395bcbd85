"""Hydra resolvers that name a run's folder and log file: ``${run_stamp:}``, ``${run_suffix:}``, ``${rank_suffix:}``.

They are registered when :mod:`recsys_pyg.records` is imported, before Hydra composes the run folder's name.
"""

from __future__ import annotations

import os
import secrets
from datetime import datetime

from omegaconf import OmegaConf


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
