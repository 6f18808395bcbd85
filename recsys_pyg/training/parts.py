"""The parts of a run, built from the config: data, model, sampler, loss, optimiser, evaluator."""

from __future__ import annotations

import inspect
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import torch
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig
from torch import Tensor

from recsys_pyg.contracts import Loss, Sampler, check_sampler, is_fit_only
from recsys_pyg.data import BipartiteGraph, RecDataset
from recsys_pyg.evaluation import Evaluator
from recsys_pyg.models.propagation import available_backends, choose_backend, set_backend
from recsys_pyg.utils import positive_int

log = logging.getLogger(__name__)


@dataclass
class Parts:
    """Everything a run trains and evaluates with. A fit-only model has no sampler, loss or optimiser."""

    data: RecDataset
    graph: BipartiteGraph  # the training graph, on the run's device
    model: torch.nn.Module
    evaluator: Evaluator
    generator: torch.Generator  # the run's seeded generator, on its device: every sampler draw comes from it
    sampler: Sampler | None = None
    criterion: Loss | None = None
    optimizer: torch.optim.Optimizer | None = None
    scheduler: Any = None
    started: float = field(default_factory=time.time)


def check_config(cfg: DictConfig) -> None:
    """Fail early, naming the key, on values no run can use."""
    t = cfg.train
    for key in ("epochs", "batch_size", "eval_every", "sample_batches"):
        positive_int(f"train.{key}", t.get(key, 1))
    if int(t.patience) < 0:
        raise ValueError(f"train.patience must be >= 0 (0 disables early stopping), got {t.patience}")
    split, _, metric = str(t.monitor).partition("/")
    valid = [f"val/{m}@{k}" for m in ("recall", "ndcg", "precision", "hitrate") for k in cfg.eval.ks]
    if split != "val" or str(t.monitor) not in valid:
        raise ValueError(f"train.monitor={t.monitor} is not a validation metric of this run; choose one of {valid}")


def build(node: DictConfig, key: str) -> Any:
    """``instantiate(node)``, but a bad value surfaces as a ``ValueError`` naming the config key."""
    try:
        return instantiate(node)
    except InstantiationException as err:
        cause = err.__cause__
        if isinstance(cause, (ValueError, TypeError)):
            raise type(cause)(f"{key}: {cause}") from cause
        raise


def feature_inputs(model_fn: Any, data: RecDataset) -> dict[str, Tensor]:
    """The dataset's node feature matrices, for models whose constructor takes them (e.g. PinSAGE)."""
    params = inspect.signature(getattr(model_fn, "func", model_fn)).parameters
    found = {"user_features": data.user_features, "item_features": data.item_features}
    return {k: v for k, v in found.items() if k in params and v is not None}


def spmm_backend(name: str, graph: BipartiteGraph, dim: int) -> Any:
    """The sparse-dense product for propagation: ``auto`` times the installed ones on this graph."""
    backends = available_backends()
    if name == "auto":
        if len(backends) == 1:
            return backends["torch"]
        name, timings = choose_backend(graph.adj, dim, backends)
        log.info("spmm backend %s (seconds per product on this graph: %s)", name, timings)
        return backends[name]
    if name not in backends:
        hint = " (pip install recsys_pyg[sparse])" if name == "torch_sparse" else ""
        raise ValueError(f"spmm_backend={name} is not available{hint}; choose one of {['auto', *backends]}")
    return backends[name]


def build_parts(cfg: DictConfig, device: torch.device) -> Parts:
    """Instantiate every part from ``cfg`` (each error names its config group), in a fixed order so a
    seeded run draws the same random numbers."""
    started = time.time()
    data: RecDataset = build(cfg.dataset, "dataset")
    graph = data.graph.to(device)
    log.info("dataset %s: %s (%.1fs)", data.name, data.stats(), time.time() - started)
    if data.val_items.nnz == 0:
        log.warning("dataset %s has no validation part: model selection uses the test split (paper protocol)",
                    data.name)
    model_fn = build(cfg.model, "model")
    model = model_fn(num_users=data.num_users, num_items=data.num_items, **feature_inputs(model_fn, data)).to(device)
    set_backend(spmm_backend(str(cfg.get("spmm_backend", "auto")), graph, int(cfg.model.get("embedding_dim", 64))))
    # On the run's device, so sampling draws no host-device copies per batch.
    generator = torch.Generator(device=device).manual_seed(int(cfg.seed))
    parts = Parts(data, graph, model, build(cfg.eval, "eval"), generator, started=started)
    if not is_fit_only(model):
        parts.sampler = build(cfg.sampler, "sampler")(graph=graph, generator=generator)
        check_sampler(parts.sampler)
        parts.criterion = build(cfg.loss, "loss")
        parts.optimizer = build(cfg.optimizer, "optimizer")(params=model.parameters())
        if cfg.get("scheduler"):
            parts.scheduler = build(cfg.scheduler, "scheduler")(optimizer=parts.optimizer)
    log.info("model: %s (%d parameters)", model, sum(p.numel() for p in model.parameters()))
    return parts
