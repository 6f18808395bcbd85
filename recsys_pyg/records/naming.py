"""What a run is called and what it measures: its tracker name and group, and its evaluation protocol."""

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


def swept_keys(sweep_dir: Path) -> set[str]:
    """The keys a ``-m`` sweep varies (``model`` of ``model=mf,lightgcn``), read from its ``multirun.yaml``;
    empty when that cannot tell (a sweeper that picks the values itself, as Optuna's does)."""
    try:
        from hydra.core.override_parser.overrides_parser import OverridesParser

        task = OmegaConf.load(sweep_dir / "multirun.yaml").hydra.overrides.task
        return {o.key_or_group for o in OverridesParser.create().parse_overrides(list(task)) if o.is_sweep_override()}
    except Exception:
        return set()


def run_name(cfg: DictConfig) -> tuple[str | None, str | None]:
    """The job's tracker name and group (the sweep folder's name in a ``-m`` sweep); ``None`` outside Hydra.

    The name is the job's command-line overrides (``model=mf,train.epochs=5``); in a sweep only those the
    sweep varies (``model=mf,seed=0``): the rest are the same for every run and in its params."""
    try:
        from hydra.core.hydra_config import HydraConfig
        from hydra.core.override_parser.overrides_parser import OverridesParser

        hc = HydraConfig.get()
        if not is_multirun():
            return hc.job.override_dirname or None, None
        swept, task = swept_keys(Path(hc.sweep.dir)), list(hc.overrides.task)
        parsed = OverridesParser.create().parse_overrides(task)
        varied = [text for text, o in zip(task, parsed) if o.key_or_group in swept]
        return ",".join(varied) or hc.job.override_dirname or None, Path(hc.sweep.dir).name
    except Exception:
        return None, None
