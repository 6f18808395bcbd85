"""The parts of a run, built from the config: data, model, sampler, loss, optimiser, evaluator."""

from __future__ import annotations

import inspect
import logging
import math
import time
from dataclasses import dataclass, field
from typing import Any

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from recsys_pyg.cold_start import scores_cold_items
from recsys_pyg.contracts import Sampler, check_sampler, is_fit_only
from recsys_pyg.data import BipartiteGraph, RecDataset
from recsys_pyg.distributed import Dist, wrap
from recsys_pyg.evaluation import Evaluator
from recsys_pyg.instantiate import build
from recsys_pyg.losses import Objective, build_loss, check_sampler_for
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
    criterion: Objective | None = None  # the loss + its L2 weight (recsys_pyg.losses.build_loss)
    optimizer: torch.optim.Optimizer | None = None
    scheduler: Any = None
    started: float = field(default_factory=time.time)
    dist: Dist = field(default_factory=Dist)  # this process's rank under torchrun (one process: rank 0 of 1)
    forward: torch.nn.Module | None = None  # what training steps call: the model, or its DDP wrapper

    @property
    def trained(self) -> torch.nn.Module:
        """The module a training step runs forward through (DDP all-reduces its gradients)."""
        return self.forward if self.forward is not None else self.model


def _number(key: str, value: Any, kind: type, minimum: float | None = None, allow_none: bool = False) -> Any:
    """``value`` checked as an ``int``/``float``/``bool`` of the config key ``key`` (a clear error otherwise)."""
    if value is None and allow_none:
        return None
    ok = isinstance(value, bool) if kind is bool else isinstance(value, (int, float)) and not isinstance(value, bool)
    if ok and kind is int:
        ok = float(value).is_integer()
    if ok and kind is float:
        ok = math.isfinite(value)
    if not ok or (minimum is not None and value < minimum):
        what = {int: "an integer", float: "a finite number", bool: "true or false"}[kind]
        bound = f" >= {minimum}" if minimum is not None else ""
        raise ValueError(f"{key} must be {what}{bound}{' or null' if allow_none else ''}, got {value!r}")
    return value


def check_config(cfg: DictConfig) -> None:
    """Fail early, naming the key, on values no run can use (the config's schema: types and ranges).

    Misspelt keys are refused by Hydra itself (the composed config is in struct mode); values of a
    model, sampler or loss are checked by their constructors, and :func:`build` names the key.
    """
    t = cfg.train
    for key in ("epochs", "batch_size", "eval_every", "sample_batches"):
        positive_int(f"train.{key}", t.get(key, 1))
    _number("train.patience", t.patience, int, 0)
    _number("train.checkpoint_every", t.get("checkpoint_every", 0), int, 0, allow_none=True)
    positive_int("train.num_threads", t.get("num_threads"), allow_none=True)
    _number("train.grad_clip", t.get("grad_clip"), float, 0, allow_none=True)
    _number("train.time_budget_min", t.get("time_budget_min"), float, 0, allow_none=True)
    _number("train.eval_every_min", t.get("eval_every_min"), float, 0, allow_none=True)
    if t.get("eval_every_min") == 0:
        raise ValueError("train.eval_every_min must be > 0 (minutes of training between evaluations) or null")
    for key in ("progress", "save_checkpoint", "overwrite", "test_curve"):
        _number(f"train.{key}", t.get(key, False), bool)
    _number("seed", cfg.seed, int)
    ks = cfg.eval.get("ks")
    if not OmegaConf.is_list(ks) or not ks:
        raise ValueError(f"eval.ks must be a non-empty list of positive integers, e.g. [10,20], got {ks!r}")
    for k in ks:
        positive_int("eval.ks (every K)", k)
    positive_int("eval.chunk_size", cfg.eval.get("chunk_size", 1))
    split, _, metric = str(t.monitor).partition("/")
    valid = [
        f"val/{g}{m}@{k}"
        for g in ("", "cold/", "warm/")
        for m in ("recall", "ndcg", "precision", "hitrate")
        for k in cfg.eval.ks
    ]  # fmt: skip (cold/, warm/: the cold-start protocol, dataset/split=cold_items)
    if split != "val" or str(t.monitor) not in valid:
        raise ValueError(f"train.monitor={t.monitor} is not a validation metric of this run; choose one of {valid}")


def run_inputs(model_fn: Any, data: RecDataset, generator: torch.Generator) -> dict[str, Any]:
    """What the run hands a model whose constructor names it: the dataset's node feature matrices
    (``user_features``, ``item_features``, and categorical columns as ``user_categories`` /
    ``item_categories``, e.g. PinSAGE) and the run's seeded ``generator`` (for a
    model that samples, e.g. LightGCN's neighbourhoods: saved with the run, so resume is exact)."""
    params = inspect.signature(getattr(model_fn, "func", model_fn)).parameters
    found = {"user_features": data.user_features, "item_features": data.item_features, "generator": generator,
             "user_categories": data.user_categories, "item_categories": data.item_categories}  # fmt: skip
    return {k: v for k, v in found.items() if k in params and v is not None}


def choice(group: str) -> str:
    """The option chosen for a config group in this Hydra run (``sampler=shared`` gives ``shared``), or ``""``."""
    try:
        from hydra.core.hydra_config import HydraConfig

        return str(HydraConfig.get().runtime.choices.get(group) or "")
    except (ValueError, ImportError):  # composed outside a Hydra run (tests, notebooks)
        return ""


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


def build_parts(cfg: DictConfig, device: torch.device, where: Dist | None = None) -> Parts:
    """Instantiate every part from ``cfg`` (each error names its config group), in a fixed order so a
    seeded run draws the same random numbers; under torchrun (``where``), every rank builds the same
    parts, the model is wrapped in DDP and evaluation is sharded (:mod:`recsys_pyg.distributed`)."""
    where = where or Dist()
    started = time.time()
    data: RecDataset = build(cfg.dataset, "dataset")
    graph = data.graph.to(device)
    log.info("dataset %s: %s (%.1fs)", data.name, data.stats(), time.time() - started)
    if data.val_items.nnz == 0:
        log.warning(
            "dataset %s has no validation part: model selection uses the test split (paper protocol)", data.name
        )
    # On the run's device, so sampling draws no host-device copies per batch.
    generator = torch.Generator(device=device).manual_seed(int(cfg.seed))
    inputs = run_inputs(instantiate(cfg.model), data, generator)
    model = build(cfg.model, "model", num_users=data.num_users, num_items=data.num_items, **inputs).to(device)
    set_backend(spmm_backend(str(cfg.get("spmm_backend", "auto")), graph, int(cfg.model.get("embedding_dim", 64))))
    parts = Parts(data, graph, model, build(cfg.eval, "eval"), generator, started=started, dist=where)
    parts.evaluator.distribute(where)
    if is_fit_only(model) and where.active:
        raise ValueError(
            f"{type(model).__name__} is fit-only: it is fitted once, in one process; run it without torchrun"
        )
    if not is_fit_only(model):
        parts.forward = wrap(model, where, device)
        parts.sampler = build(cfg.sampler, "sampler", graph=graph, generator=generator)
        check_sampler(parts.sampler)
        parts.criterion = build_loss(cfg.loss)
        check_sampler_for(parts.criterion, parts.sampler, choice("sampler"))
        parts.optimizer = build(cfg.optimizer, "optimizer", params=model.parameters())
        if cfg.get("scheduler"):
            parts.scheduler = build(cfg.scheduler, "scheduler", optimizer=parts.optimizer)
    check_cold_monitor(str(cfg.train.monitor), data, model)
    log.info("model: %s (%d parameters)", model, sum(p.numel() for p in model.parameters()))
    return parts


def check_cold_monitor(monitor: str, data: RecDataset, model: torch.nn.Module) -> None:
    """A ``val/cold/*`` or ``val/warm/*`` monitor needs the cold-start split; ``cold/`` a model scoring cold items."""
    if not monitor.startswith(("val/cold/", "val/warm/")):
        return
    if data.split.cold is None:
        raise ValueError(f"train.monitor={monitor} needs the cold-start split (dataset/split=cold_items)")
    if monitor.startswith("val/cold/") and not scores_cold_items(model):
        raise ValueError(f"train.monitor={monitor}: {type(model).__name__} cannot score cold items (nothing places "
                         "an item without training edges); monitor val/warm/... or val/...")  # fmt: skip
