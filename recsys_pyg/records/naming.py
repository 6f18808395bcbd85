"""What a run is called and what it measures: its W&B name and group, and its evaluation protocol."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from omegaconf import DictConfig, OmegaConf

if TYPE_CHECKING:
    from recsys_pyg.data import RecDataset


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
    """Whether this process runs a job of a Hydra ``-m`` sweep."""
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
