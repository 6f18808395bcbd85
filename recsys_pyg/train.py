"""Train a recommender from a Hydra config: ``python -m recsys_pyg.train [overrides]``.

``train(cfg)`` is the testable core and returns the run's metrics; ``main`` is the thin
``@hydra.main`` entry (console script ``recsys-train``) that returns the optimised metric
to a sweeper.
"""

from __future__ import annotations

import copy
import inspect
import logging
import time
from functools import partial
from pathlib import Path
from typing import Any

import hydra
import torch
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from torch import Tensor
from tqdm import tqdm

from recsys_pyg.checkpoint import resolve_checkpoint, rng_state, set_rng_state
from recsys_pyg.data import CSR, BipartiteGraph, RecDataset
from recsys_pyg.data.table import save_id_maps
from recsys_pyg.evaluation import Evaluator, popularity_embeddings
from recsys_pyg.models.propagation import available_backends, choose_backend, set_backend
from recsys_pyg.run_record import RunRecord, WandbLogger, save_checkpoint
from recsys_pyg.samplers import Negatives
from recsys_pyg.samplers.hardness import HardnessMeter
from recsys_pyg.utils import flatten, resolve_device, seed_everything

log = logging.getLogger(__name__)


def check_config(cfg: DictConfig) -> None:
    """Fail early, naming the key, on values no run can use."""
    t = cfg.train
    for key in ("epochs", "batch_size", "eval_every", "sample_batches"):
        if int(t.get(key, 1)) <= 0:
            raise ValueError(f"train.{key} must be a positive integer, got {t[key]}")
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


def batch_scores(
    model: torch.nn.Module, graph: BipartiteGraph, users: Tensor, pos: Tensor, neg: Negatives
) -> tuple[Tensor, Tensor, Tensor]:
    """Scores of the batch's positives ``(B,)`` and negatives ``(B, k + h)`` or ``(B, S + h)``, and the items used.

    Every item embedding the batch needs is computed in one model call; shared negatives
    are scored with one ``(B, d) @ (d, S)`` product.
    """
    b = pos.numel()
    parts = [pos, neg.items.flatten()] + ([neg.hard.flatten()] if neg.hard is not None else [])
    items = torch.cat(parts)  # (B + B*k [+ B*h],) or (B + S [+ B*h],)
    user_emb, item_emb = model(graph, users, items)  # (B, d), (len(items), d)
    pos_emb = item_emb[:b]  # (B, d)
    easy_emb = item_emb[b : b + neg.items.numel()]
    pos_score = (user_emb * pos_emb).sum(-1)  # (B,)
    if neg.shared:
        scores = [user_emb @ easy_emb.T]  # (B, S)
    else:
        scores = [(user_emb[:, None, :] * easy_emb.view(*neg.items.shape, -1)).sum(-1)]  # (B, k)
    if neg.hard is not None:
        hard_emb = item_emb[b + neg.items.numel() :].view(*neg.hard.shape, -1)  # (B, h, d)
        scores.append((user_emb[:, None, :] * hard_emb).sum(-1))  # (B, h)
    return pos_score, torch.cat(scores, dim=1), items


def train_step(
    model: torch.nn.Module,
    graph: BipartiteGraph,
    users: Tensor,
    pos: Tensor,
    neg: Negatives,
    criterion: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    hardness: HardnessMeter,
) -> Tensor:
    """One optimisation step on a batch; returns its loss, detached and left on the device.

    Nothing here reads a value back from the device (``tests/test_no_sync.py`` checks it for
    full-graph models), so on a GPU batches queue without waiting.
    """
    pos_score, neg_score, items = batch_scores(model, graph, users, pos, neg)
    mask = neg.full_mask(users.numel())
    loss = criterion(pos_score, neg_score, mask)
    hardness.update(pos_score, neg_score, mask, neg.num_easy)
    if criterion.l2_weight:
        loss = loss + criterion.l2_weight * model.l2_penalty(users, items)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss.detach()


def targets(data: RecDataset, part: str) -> tuple[CSR, list[CSR]]:
    """Held-out items of ``part`` and the items to mask: training (and validation, at test time).

    A dataset without a validation part (the NGCF/LightGCN paper protocol) validates on test.
    """
    if part == "val" and data.val_items.nnz > 0:
        return data.val_items, [data.graph.user_items]
    return data.test_items, [data.graph.user_items, data.val_items]


@torch.no_grad()
def evaluate(
    model: torch.nn.Module, data: RecDataset, graph: BipartiteGraph, evaluator: Evaluator, part: str
) -> dict[str, float]:
    """Full-ranking metrics on ``part`` (val or test)."""
    model.eval()
    user_emb, item_emb = model(graph)
    return evaluator.evaluate(user_emb, item_emb, *targets(data, part))


def mostpop(data: RecDataset, evaluator: Evaluator, part: str) -> dict[str, float]:
    """The popularity baseline, ranked by the same evaluator."""
    user_emb, item_emb = popularity_embeddings(data.graph.item_degree, data.num_users)
    return evaluator.evaluate(user_emb, item_emb, *targets(data, part))


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


def prefixed(metrics: dict[str, float], prefix: str) -> dict[str, float]:
    return {f"{prefix}/{k}": v for k, v in metrics.items()}


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


def train(cfg: DictConfig) -> dict[str, float]:
    """Train, validate, early-stop and test one model; returns val (best), test and MostPop metrics.

    With ``train.resume=<run dir or checkpoint>``, the run continues from its last checkpoint with
    its saved config, in its own folder, with every random generator restored: the final metrics
    equal those of an uninterrupted run.
    """
    state: dict[str, Any] | None = None
    if cfg.train.get("resume"):
        ckpt = resolve_checkpoint(cfg.train.resume)
        state = torch.load(ckpt, weights_only=False)
        saved = {k: v for k, v in state["config"].items() if k != "protocol"}
        cfg = OmegaConf.create(saved)
        cfg.train.resume, cfg.paths.output_dir = str(ckpt), str(ckpt.parent.parent)
        log.info("resuming %s from epoch %d", cfg.paths.output_dir, state["epoch"])
    check_config(cfg)
    seed_everything(int(cfg.seed))
    if cfg.train.num_threads:
        torch.set_num_threads(int(cfg.train.num_threads))
    device = resolve_device(str(cfg.device))
    run_dir = Path(cfg.paths.output_dir)

    # --- setup -----------------------------------------------------------------------------
    t0 = time.time()
    data: RecDataset = build(cfg.dataset, "dataset")
    graph = data.graph.to(device)
    log.info("dataset %s: %s (%.1fs)", data.name, data.stats(), time.time() - t0)
    if data.val_items.nnz == 0:
        log.warning(
            "dataset %s has no validation part: model selection uses the test split (paper protocol)", data.name
        )
    if data.split.train.user_ids is not None and data.split.train.item_ids is not None:
        save_id_maps(data.split.train, run_dir)  # report recommendations in the data's own ids
    model_fn = build(cfg.model, "model")
    model = model_fn(num_users=data.num_users, num_items=data.num_items, **feature_inputs(model_fn, data)).to(device)
    set_backend(spmm_backend(str(cfg.get("spmm_backend", "auto")), graph, int(cfg.model.get("embedding_dim", 64))))
    # On the run's device, so sampling draws no host-device copies per batch.
    generator = torch.Generator(device=device).manual_seed(int(cfg.seed))
    sampler = build(cfg.sampler, "sampler")(graph=graph, generator=generator)
    criterion = build(cfg.loss, "loss")
    optimizer = build(cfg.optimizer, "optimizer")(params=model.parameters())
    scheduler = build(cfg.scheduler, "scheduler")(optimizer=optimizer) if cfg.get("scheduler") else None
    evaluator: Evaluator = build(cfg.eval, "eval")
    log.info("model: %s (%d parameters)", model, sum(p.numel() for p in model.parameters()))

    config = OmegaConf.to_container(cfg, resolve=True)
    config["protocol"] = protocol(cfg, data)  # type: ignore[index]
    record = RunRecord(run_dir, config=config)  # type: ignore[arg-type]
    if state is not None:
        record.truncate(state["epoch"])  # drop what the interrupted run logged after its checkpoint
    wandb: WandbLogger | None = None
    if cfg.logger is not None and cfg.logger.get("_target_"):
        name, group = run_name(cfg)
        logger_fn = instantiate(cfg.logger)
        if group and not cfg.logger.get("group"):
            logger_fn = partial(logger_fn, group=group)
        if state is not None and state.get("wandb_id"):
            logger_fn = partial(logger_fn, id=state["wandb_id"], resume="allow")
        wandb = logger_fn(config=flatten(config), dir=run_dir, name=name)  # type: ignore[arg-type]

    def log_metrics(metrics: dict[str, float], step: int) -> None:
        record.log(metrics, step)
        if wandb is not None:
            wandb.log(metrics, step)

    # --- loop state, fresh or restored -------------------------------------------------------
    monitor = str(cfg.train.monitor)
    best, best_epoch, best_state, stale = -float("inf"), 0, copy.deepcopy(model.state_dict()), 0
    best_val: dict[str, float] = {}
    start_epoch = 1
    if state is None:
        baseline = {
            **prefixed(mostpop(data, evaluator, "val"), "mostpop/val"),
            **prefixed(mostpop(data, evaluator, "test"), "mostpop/test"),
        }
        log_metrics(baseline, step=0)
    else:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        if scheduler is not None:
            scheduler.load_state_dict(state["scheduler"])
        best, best_epoch, best_state, stale = state["best"], state["best_epoch"], state["best_state"], state["stale"]
        best_val, baseline, start_epoch = state["best_val"], state["baseline"], state["epoch"] + 1
        set_rng_state(state["rng"], generator)

    def save_last(epoch: int) -> None:
        save_checkpoint(
            {
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict() if scheduler is not None else None,
                "epoch": epoch,
                "best": best,
                "best_epoch": best_epoch,
                "best_state": best_state,
                "best_val": best_val,
                "stale": stale,
                "baseline": baseline,
                "rng": rng_state(generator),
                "config": config,
                "wandb_id": wandb.run_id if wandb is not None else None,
            },
            run_dir / "checkpoints" / "last.pt",
        )

    # --- loop --------------------------------------------------------------------------------
    num_edges, batch_size = graph.num_edges, int(cfg.train.batch_size)
    # Per-row samplers draw `sample_batches` batches per call: one vectorised call instead of many
    # small ones, with a warm cache (on Gowalla-sized data, MF's sampling share of the epoch fell
    # from 0.11 to ~0.03, scripts/bench.py). Shared negatives are drawn per batch.
    per_row = bool(getattr(sampler, "per_row", False))
    chunk = batch_size * (int(cfg.train.get("sample_batches") or 1) if per_row else 1)
    epoch = start_epoch - 1
    for epoch in range(start_epoch, int(cfg.train.epochs) + 1):
        model.train()
        t_epoch, t_sample, loss_sum, hardness = time.time(), 0.0, 0.0, HardnessMeter()
        perm = torch.randperm(num_edges, generator=generator, device=device)
        batches = range(0, num_edges, batch_size)
        bar = tqdm(
            batches, desc=f"epoch {epoch}", leave=False, disable=None if cfg.train.progress else True, unit="batch"
        )
        for step, start in enumerate(bar):
            idx = perm[start : start + batch_size]
            users, pos = graph.user[idx], graph.item[idx]  # (B,), (B,)
            if start % chunk == 0:  # per-row negatives for the next `chunk` rows, in one call
                t_s = time.time()
                rows = perm[start : start + chunk]
                drawn = sampler.sample(graph.user[rows], graph.item[rows], epoch)
                t_sample += time.time() - t_s
            neg = drawn if chunk == batch_size else drawn.rows(start % chunk, start % chunk + idx.numel())
            loss = train_step(model, graph, users, pos, neg, criterion, optimizer, hardness)
            loss_sum = loss_sum + loss * idx.numel()  # on the device: no sync per batch
            if step % 20 == 0 and cfg.train.progress:
                bar.set_postfix(loss=f"{loss.item():.4f}", refresh=False)
        epoch_metrics = {
            "train/lr": optimizer.param_groups[0]["lr"],
            "train/loss": float(loss_sum) / num_edges,
            "train/epoch_time": time.time() - t_epoch,
            "train/sample_time": t_sample,
            "epoch": epoch,
            **hardness.compute(),
        }
        if epoch % int(cfg.train.eval_every) == 0 or epoch == int(cfg.train.epochs):
            val = prefixed(evaluate(model, data, graph, evaluator, "val"), "val")
            epoch_metrics.update(val)
            if val[monitor] > best:
                best, best_epoch, best_val, stale = val[monitor], epoch, val, 0
                best_state = copy.deepcopy(model.state_dict())
                if cfg.train.save_checkpoint:
                    save_checkpoint(
                        {"model": best_state, "epoch": epoch, monitor: best, "config": config},
                        run_dir / "checkpoints" / "best.pt",
                    )
            else:
                stale += 1
            log.info(
                "epoch %d  loss %.4f  %s %.4f (best %.4f @ %d)  %.1fs",
                epoch,
                epoch_metrics["train/loss"],
                monitor,
                val[monitor],
                best,
                best_epoch,
                epoch_metrics["train/epoch_time"],
            )
        log_metrics(epoch_metrics, step=epoch)
        if scheduler is not None:
            scheduler.step()
        every = int(cfg.train.get("checkpoint_every") or 0)
        if every and epoch % every == 0:
            save_last(epoch)
        if int(cfg.train.patience) and stale >= int(cfg.train.patience):
            log.info("early stop at epoch %d: no %s gain in %d evaluations", epoch, monitor, stale)
            break

    # --- test with the best-by-validation weights ----------------------------------------------
    model.load_state_dict(best_state)
    test = prefixed(evaluate(model, data, graph, evaluator, "test"), "test")
    log_metrics(test, step=epoch)
    results = {
        **best_val,
        **test,
        **baseline,
        "best_epoch": float(best_epoch),
        "epochs": float(epoch),
        "time": time.time() - t0,
    }
    record.summary(results)
    if wandb is not None:
        wandb.summary(results)
        wandb.finish()
    log.info("results in %s\n%s", run_dir, results_table(results, evaluator.ks))
    return results


def results_table(results: dict[str, float], ks: list[int]) -> str:
    """Test metrics of the model beside MostPop, as a Markdown table."""
    rows = ["| metric | model | MostPop |", "|---|---:|---:|"]
    for m in ("recall", "ndcg", "precision", "hitrate"):
        for k in ks:
            key = f"{m}@{k}"
            rows.append(f"| {key} | {results[f'test/{key}']:.4f} | {results[f'mostpop/test/{key}']:.4f} |")
    return "\n".join(rows)


@hydra.main(version_base="1.3", config_path="../conf", config_name="config")
def main(cfg: DictConfig) -> float:
    """Train; in a ``-m`` sweep, a failing job is recorded (``failed.json``) and the sweep goes on."""
    try:
        metrics = train(cfg)
    except Exception as err:
        if not is_multirun():
            raise
        log.exception("job failed: %s", err)
        save_failure(Path(cfg.paths.output_dir), err)
        return float("nan")  # a sweeper (Optuna) counts the trial as failed
    return metrics[str(cfg.optimized_metric)]


def is_multirun() -> bool:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def save_failure(run_dir: Path, err: BaseException) -> None:
    import json
    import traceback

    run_dir.mkdir(parents=True, exist_ok=True)
    text = {"error": f"{type(err).__name__}: {err}", "traceback": traceback.format_exc()}
    (run_dir / "failed.json").write_text(json.dumps(text, indent=2))


if __name__ == "__main__":
    main()
