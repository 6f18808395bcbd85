"""Train a recommender from a Hydra config: ``python -m recsys_pyg.train [overrides]``.

``train(cfg)`` is the testable core: it orchestrates, in order, loading (or resuming), building
the parts, the epoch loop with validation, keep-best and early stopping, and the test of the
best weights; each phase is a function below or in :mod:`recsys_pyg.training`. ``main`` is the
thin ``@hydra.main`` entry (console script ``recsys-train``) that returns the optimised metric
to a sweeper and prints a mistake in the command as one message (``Error: ...``, exit status 1)
rather than under a traceback. The contracts of the parts are in :mod:`recsys_pyg.contracts`.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from contextlib import closing, nullcontext, suppress
from pathlib import Path
from typing import Any

import hydra
import torch
from omegaconf import DictConfig, OmegaConf

from recsys_pyg.checkpoint import resolve_checkpoint, restore, save_file, save_resumable
from recsys_pyg.cold_start import cold_start_baselines, cold_start_metrics
from recsys_pyg.contracts import is_fit_only, popularity_weight, uses_cosine
from recsys_pyg.data.table import save_id_maps
from recsys_pyg.distributed import Dist, cleanup, init_distributed, peers_watched, process_rank
from recsys_pyg.evaluation import evaluate_model, mostpop, ranking_embeddings
from recsys_pyg.records import Recorder, RunFolder, RunFolderError, RunRecord, is_multirun
from recsys_pyg.records.folder import lock_held
from recsys_pyg.records.record import DiskFullError, RecordError, naming_a_full_disk, read_json, read_metrics_file
from recsys_pyg.serving.export import export_run
from recsys_pyg.training import LoopState, Parts, build_parts, check_config, fit_epoch, train_epoch
from recsys_pyg.training.epoch import EpochProgress
from recsys_pyg.training.schedules import step_schedule
from recsys_pyg.training.signals import RunInterrupted, StopOnSignal, ignore_further_signals, leave_within
from recsys_pyg.utils import flatten, resolve_device, seed_everything

log = logging.getLogger(__name__)


def train(cfg: DictConfig) -> dict[str, float]:
    """Train, validate, early-stop and test one model; returns val (best), test and MostPop metrics.

    With ``train.resume=<run dir or checkpoint>``, the run continues from its last checkpoint with
    its saved config, in its own folder, with every random generator restored: the final metrics
    equal those of an uninterrupted run (a finished run: nothing to do, its summary is returned). A
    fit-only model (``recsys_pyg.contracts.FitModel``) is fitted once in place of the epoch loop, then
    validated and tested the same way. SIGTERM/SIGINT stop after the current step with a resumable
    checkpoint (``RunInterrupted``); a non-finite loss or weight stops the run (``NonFiniteError``);
    either way, and for a failure while setting up, ``status.json`` says what happened.
    """
    given = cfg
    cfg, ckpt = load_or_resume(cfg)
    if ckpt is not None and (done := finished_summary(Path(cfg.paths.output_dir))) is not None:
        return done
    mode = "resume" if ckpt else "overwrite" if cfg.train.get("overwrite") else "fresh"
    # Rank 0 alone takes the folder and writes the record; nothing is written before the lock is ours.
    folder = RunFolder(cfg.paths.output_dir, mode) if process_rank() == 0 else None
    try:
        with closing(folder) if folder is not None else nullcontext():
            recorder = Recorder(RunRecord(folder.dir)) if folder is not None else Recorder.silent()
            with recorder.status_marked(None if ckpt else composed(cfg)):  # running, then finished / failed / ...
                if folder is not None:
                    save_hydra_files(given, folder.dir, resumed=ckpt is not None)
                return run(cfg, ckpt, recorder)
    except RunInterrupted as err:
        if torch.distributed.is_initialized():  # record and trackers closed: whatever leaving the group takes,
            leave_within(LEAVE_WITHIN_S, err.exit_code)  # this rank exits 128 + the signal before the agent kills it
        raise
    finally:
        cleanup()  # leave torchrun's process group however the run ends (no-op in one process)


def run(cfg: DictConfig, ckpt: dict[str, Any] | None, recorder: Recorder) -> dict[str, float]:
    """The run itself, inside its marked status: set up, build the parts, the epoch loop, the final test."""
    timeout = cfg.train.get("dist_timeout_s")
    where, device = init_distributed(setup_runtime(cfg), timeout)  # one process, or this rank under torchrun
    log.info("%s", where_it_runs(where, device))
    run_dir = str(cfg.paths.output_dir)
    with peers_watched(where, timeout), StopOnSignal() as stop:
        parts = build_parts(cfg, device, where)
        state = LoopState(best_state=clone_state(parts.model))
        progress = restore(parts, state, ckpt) if ckpt else None
        recorder.open(cfg, parts.data, state.epoch if ckpt else None, ckpt["wandb_id"] if ckpt else None)
        if recorder.writes:
            save_id_maps_of(parts, recorder.dir)
        if not ckpt:
            state.baseline = baseline(parts)
            recorder.log(state.baseline, step=0)
        run_epoch, epochs = (fit_epoch, 1) if is_fit_only(parts.model) else (train_epoch, int(cfg.train.epochs))
        for epoch in range(state.epoch + 1, epochs + 1):
            metrics = run_epoch(parts, epoch, cfg.train, progress, stop)
            progress = None
            if isinstance(metrics, EpochProgress):  # a signal arrived inside the epoch (on any rank)
                interrupt(parts, state, recorder, stop, metrics, run_dir)
            state.epoch, state.train_time = epoch, state.train_time + metrics["train/epoch_time"]
            metrics["train/time"] = state.train_time
            last = epoch == epochs or state.over_budget(cfg.train.get("time_budget_min"))
            due = state.crossed(cfg.train.get("eval_every_min"), metrics["train/epoch_time"])
            if epoch % int(cfg.train.eval_every) == 0 or last or due:
                metrics.update(validate(parts, state, cfg, recorder, metrics))
            recorder.log(metrics, step=epoch)
            # per epoch; a plateau schedule on the monitor at evaluations; warm-up + cosine by training time
            cut = step_schedule(parts.scheduler, metrics, str(cfg.train.monitor), state.train_time)
            if cut and cfg.train.get("reload_best_on_cut") and state.best_state is not None:
                # SimpleX's BARS trainer: at the cut, go on from the best weights (the optimiser's moments are kept)
                parts.model.load_state_dict(state.best_state)
                log.info("learning rate cut after epoch %d: best weights of epoch %d reloaded", epoch, state.best_epoch)
            every = int(cfg.train.get("checkpoint_every") or 0)
            if every and epoch % every == 0 and not is_fit_only(parts.model) and recorder.writes:
                save_resumable(last_checkpoint(recorder), parts, state, recorder.config, recorder.wandb_id)
            ending = last or state.should_stop(int(cfg.train.patience))
            # every rank asks, every epoch: a signal seen by one rank stops all at this same point
            if parts.dist.any(stop(), parts.graph.user.device) and not ending:
                interrupt(parts, state, recorder, stop, None, run_dir)
            if ending:
                log.info("stop after epoch %d (%.1f min of training; %d evaluations without %s gain)", epoch,
                         state.train_time / 60, state.stale, cfg.train.monitor)  # fmt: skip
                break
        with stop.finishing("the final test and export"):
            results = test(parts, state, recorder)
        if recorder.writes:
            warn_unless_beats_mostpop(results, str(cfg.train.monitor))
        return results


def composed(cfg: DictConfig) -> dict[str, Any] | None:
    """The composed config as ``config.json`` holds it before the data is loaded (``None`` if it does not resolve)."""
    try:
        return OmegaConf.to_container(cfg, resolve=True)  # type: ignore[return-value]
    except Exception:  # an interpolation that fails: the run's own error will say so
        return None


def save_hydra_files(given: DictConfig, run_dir: Path, resumed: bool) -> None:
    """Hydra's ``.hydra/`` (``config.yaml``, ``hydra.yaml``, ``overrides.yaml``), written by the run once it
    holds its folder (``hydra.output_subdir: null`` stops Hydra writing them before: a run refused because the
    folder is in use must not replace the holder's). A resumed run's go to its own Hydra folder."""
    try:
        from hydra.core.hydra_config import HydraConfig

        if not HydraConfig.initialized():
            return
        hc = HydraConfig.get()
        out = Path(hc.runtime.output_dir)
    except Exception:  # composed without a Hydra run (tests, notebooks): no Hydra folder
        return
    if not resumed and out.resolve() != run_dir.resolve():
        return
    target = out / ".hydra"
    target.mkdir(parents=True, exist_ok=True)
    OmegaConf.save(given, target / "config.yaml")
    OmegaConf.save(OmegaConf.create({"hydra": OmegaConf.to_container(hc)}), target / "hydra.yaml")
    OmegaConf.save(hc.overrides.task, target / "overrides.yaml")


# What may change when a run is resumed: how it runs and how long, never what it computes.
RESUME_OVERRIDABLE = ("train.resume", "train.num_threads", "train.progress", "train.epochs", "train.time_budget_min")


def given_overrides() -> list[str]:
    """The command line's config overrides (``key=value``, ``group=option``) of this Hydra run; ``[]`` outside one."""
    try:
        from hydra.core.hydra_config import HydraConfig

        return list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else []
    except Exception:
        return []


def override_key(override: str) -> str:
    """``train.epochs`` of ``train.epochs=5``, ``+train.x=1`` or ``~train.x``; ``model`` of ``model=mf``."""
    return override.lstrip("+~").split("=", 1)[0].split("@", 1)[0]


def load_or_resume(cfg: DictConfig, overrides: list[str] | None = None) -> tuple[DictConfig, dict[str, Any] | None]:
    """``cfg`` and no checkpoint for a fresh run; for ``train.resume``, the run's own saved config
    (pointed at its folder) and its resumable checkpoint, checked before anything on disk changes.

    Of the command line's ``overrides`` (default: this Hydra run's) only :data:`RESUME_OVERRIDABLE` may
    change a resumed run, and they are applied; any other is refused, naming it. A torn last line of the
    run's ``metrics.jsonl`` is dropped (with a warning); damage before it is refused, naming the file."""
    if not cfg.train.get("resume"):
        return cfg, None
    keys = [override_key(o) for o in (given_overrides() if overrides is None else overrides)]
    refused = [k for k in keys if k not in RESUME_OVERRIDABLE]
    if refused:
        raise ValueError(
            f"train.resume continues a run with its saved config; {', '.join(refused)} cannot change it (only "
            f"{', '.join(RESUME_OVERRIDABLE[1:])} may). Start a new run for other settings"
        )
    path, ckpt = resolve_checkpoint(cfg.train.resume)
    saved = OmegaConf.create({k: v for k, v in ckpt["config"].items() if k != "protocol"})
    saved.train.resume, saved.paths.output_dir = str(path), str(path.parent.parent)
    for key in (k for k in keys if k != "train.resume"):
        OmegaConf.update(saved, key, OmegaConf.select(cfg, key), force_add=True)
    run_dir = Path(saved.paths.output_dir)
    _, torn = read_metrics_file(run_dir / "metrics.jsonl")  # refuses damage before the last line
    if torn:
        log.warning("%s; the resumed run drops it", torn)
    warn_config_edits(run_dir / "config.json", ckpt["config"])
    if read_status(run_dir) == "running" and lock_held(run_dir) is False:
        log.warning("%s: its status says running but no process holds it: the run died without a word", run_dir)
    log.info("resuming %s from epoch %d", run_dir, ckpt["loop"]["epoch"])
    return saved, ckpt


def read_status(run_dir: Path) -> str | None:
    """The run's recorded status (``None`` when ``status.json`` is missing or unreadable)."""
    try:
        return str(read_json(run_dir / "status.json").get("status"))
    except (OSError, RecordError):
        return None


def warn_config_edits(path: Path, saved: dict[str, Any]) -> None:
    """Say so when ``config.json`` no longer matches the checkpoint's config: the checkpoint's is the one used."""
    try:
        recorded = read_json(path)
    except FileNotFoundError:
        return
    except (OSError, RecordError) as err:
        log.warning("%s; it is rewritten from the checkpoint's config", err)
        return
    ours, theirs = flatten(saved), flatten(recorded)
    edited = sorted(
        k for k in ours.keys() | theirs.keys() if not k.startswith("protocol") and ours.get(k) != theirs.get(k)
    )
    if edited:
        log.warning("%s differs from the checkpoint's config at %s: a resumed run uses the checkpoint's config "
                    "(config.json is rewritten to it)", path, ", ".join(edited[:10]))  # fmt: skip


def finished_summary(run_dir: Path) -> dict[str, float] | None:
    """A run whose status says ``finished``: its summary (nothing to do); ``None`` for any other run."""
    if read_status(run_dir) != "finished":
        return None
    log.info("%s already finished: nothing to resume (its results are in summary.json; start a new run to "
             "train again)", run_dir)  # fmt: skip
    try:
        return read_json(run_dir / "summary.json")
    except (OSError, RecordError) as err:
        raise RecordError(f"{run_dir} finished but its summary cannot be read ({err})") from None


def last_checkpoint(recorder: Recorder) -> Path:
    return recorder.dir / "checkpoints" / "last.pt"


def interrupt(
    parts: Parts, state: LoopState, recorder: Recorder, stop: StopOnSignal, progress: EpochProgress | None,
    run_dir: str,
) -> None:  # fmt: skip
    """Write a resumable checkpoint where the run stands (inside an epoch: with its progress) and stop.

    Every rank comes here at the same step and leaves the same way: they agree on the signal (the exit code
    is 128 + it on each), rank 0 alone writes, and the message names the run folder, not the recorder's."""
    signum = parts.dist.max(stop.signum or 0, parts.graph.user.device)
    if recorder.writes:
        save_resumable(last_checkpoint(recorder), parts, state, recorder.config, recorder.wandb_id, progress)
    where = f"inside epoch {progress.epoch}" if progress is not None else f"after epoch {state.epoch}"
    raise RunInterrupted(signum, f"stopped {where} on a signal; continue with train.resume={run_dir}")


LEAVE_WITHIN_S = 20.0  # below the 30 s torchrun's agent gives a rank after the first one left, before it kills it


def setup_runtime(cfg: DictConfig) -> torch.device:
    """Check the config, seed every generator, set the thread count; returns the run's device."""
    check_config(cfg)
    seed_everything(int(cfg.seed))
    if cfg.train.num_threads:
        torch.set_num_threads(int(cfg.train.num_threads))
    return resolve_device(str(cfg.device))


def where_it_runs(where: Dist, device: torch.device) -> str:
    """The log's word on where the run runs: device, torch's CPU threads and, under torchrun, this rank of the
    world and the collective backend (without it nothing in a log says that two processes ran)."""
    name = f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else ""
    text = f"running on {device}{name}, torch threads: {torch.get_num_threads()}"
    if where.active:
        text += f", rank {where.rank} of world size {where.world} ({torch.distributed.get_backend()} backend)"
    return text


def clone_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A detached copy of the model's weights (the initial "best" before any validation)."""
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def save_id_maps_of(parts: Parts, run_dir: Path) -> None:
    """The data's raw ids beside the record, so recommendations can be reported in them."""
    train_part = parts.data.split.train
    if train_part.user_ids is not None and train_part.item_ids is not None:
        with naming_a_full_disk(run_dir / "user_ids.json"):
            save_id_maps(train_part, run_dir)


def baseline(parts: Parts) -> dict[str, float]:
    """MostPop on validation and test, ranked by the run's own evaluator (logged at step 0). Without a validation
    part (the paper protocol) "val" is the test split: ranked once, recorded under both keys."""
    test = mostpop(parts.data, parts.evaluator, "test")
    val = test if parts.data.val_items.nnz == 0 else mostpop(parts.data, parts.evaluator, "val")
    cold = cold_start_baselines(parts.data, parts.evaluator)  # cold-start protocol: MostPop, content, random
    return {**prefixed(val, "mostpop/val"), **prefixed(test, "mostpop/test"), **cold}


def validate(
    parts: Parts, state: LoopState, cfg: DictConfig, recorder: Recorder, epoch_metrics: dict[str, float]
) -> dict[str, float]:
    """Validation metrics at ``state.epoch``; a new best is kept (and written to ``checkpoints/best.pt``).

    With ``train.test_curve``, the current weights are tested too (``curve/test/*``, for learning curves
    against training time; selection never sees them); ``eval/time`` is what the evaluations took.
    """
    started = time.time()
    val_metrics = evaluate_part(parts, "val")
    val, curve = prefixed(val_metrics, "val"), {}
    if cfg.train.get("test_curve"):  # without a validation part "val" already is the test split: not twice
        curve = prefixed(val_metrics if parts.data.val_items.nnz == 0 else evaluate_part(parts, "test"), "curve/test")
    monitor = str(cfg.train.monitor)
    if state.observe(val, monitor, parts.model) and cfg.train.save_checkpoint and recorder.writes:
        best = {"model": state.best_state, "epoch": state.epoch, monitor: state.best, "config": recorder.config}
        save_file(best, recorder.dir / "checkpoints" / "best.pt")
    log.info(
        "epoch %d  %s  %s %.4f (best %.4f @ %d)  %.1fs",
        state.epoch, epoch_word(epoch_metrics), monitor, val[monitor], state.best, state.best_epoch,
        epoch_metrics["train/epoch_time"],
    )  # fmt: skip
    return {**val, **curve, "eval/time": time.time() - started}


def epoch_word(metrics: dict[str, float]) -> str:
    """``loss 0.6903`` for a trained epoch; ``fit 1.23s`` for a fit-only model's, which has no loss."""
    if "train/loss" not in metrics and "train/fit_time" in metrics:
        return f"fit {metrics['train/fit_time']:.2f}s"
    return f"loss {metrics.get('train/loss', float('nan')):.4f}"


def warn_unless_beats_mostpop(results: dict[str, float], monitor: str) -> None:
    """A warning when the best validation ``monitor`` is no higher than MostPop's: the model ranks no better
    than item popularity (a run can finish, well recorded, and still be worth nothing)."""
    best, popular = results.get(monitor), results.get(f"mostpop/{monitor}")
    if best is not None and popular is not None and best <= popular:
        log.warning("best %s %.4f does not beat MostPop's %.4f: the model ranks no better than item popularity "
                    "(train longer, tune the learning rate, or try another loss)", monitor, best, popular)  # fmt: skip


def test(parts: Parts, state: LoopState, recorder: Recorder) -> dict[str, float]:
    """Test the best-by-validation weights; write the summary and close the record."""
    parts.model.load_state_dict(state.best_state)
    if parts.data.val_items.nnz == 0 and state.best_val:  # paper protocol: the best weights were ranked on test
        result = {"test/" + k.removeprefix("val/"): v for k, v in state.best_val.items() if k.startswith("val/")}
    else:
        result = prefixed(evaluate_part(parts, "test"), "test")
    recorder.log(result, step=state.epoch)
    results = {
        **state.best_val,
        **result,
        **state.baseline,
        "best_epoch": float(state.best_epoch),
        "epochs": float(state.epoch),
        "time": time.time() - parts.started,
        "train_time": state.train_time,
        "peak_rss_mib": peak_rss_mib(),
    }
    if parts.dist.active:  # every rank's peak: each process holds its own copy of the data and model
        peaks = torch.zeros(parts.dist.world, dtype=torch.float64, device=parts.graph.user.device)
        peaks[parts.dist.rank] = results["peak_rss_mib"] or 0.0
        results["peak_rss_mib_per_rank"] = parts.dist.sum(peaks).tolist()
    if recorder.writes:
        export(parts, state, recorder, result)
    recorder.summary(results)
    recorder.finish()
    if recorder.writes:
        log.info("results in %s\n%s", recorder.dir, results_table(results, parts.evaluator.ks))
    return results


def peak_rss_mib() -> float | None:
    """This process's peak resident memory in MiB (Linux ``VmHWM``; ``None`` elsewhere)."""
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return None
    line = next((x for x in status.splitlines() if x.startswith("VmHWM:")), None)
    return int(line.split()[1]) / 1024 if line else None


def export(parts: Parts, state: LoopState, recorder: Recorder, test_metrics: dict[str, float]) -> None:
    """The tested weights' embeddings, seen items and id maps in ``<run dir>/export/`` (safetensors +
    JSON), and as a W&B artifact when W&B is on; see :mod:`recsys_pyg.serving.export`."""
    config = recorder.config or {}
    info = {"dataset": parts.data.name, "protocol": config.get("protocol"), "best_epoch": state.best_epoch,
            **test_metrics}  # fmt: skip
    with naming_a_full_disk(recorder.dir / "export"):
        folder = export_run(
            parts.model,
            parts.graph,
            parts.data,
            recorder.dir,
            uses_cosine_of(parts),
            info,
            popularity=popularity_of(parts),
        )
    recorder.artifact(folder, f"{parts.data.name}-{type(parts.model).__name__}".lower())


def uses_cosine_of(parts: Parts) -> bool:
    return parts.criterion is not None and uses_cosine(parts.criterion)


def popularity_of(parts: Parts) -> float:
    return 0.0 if parts.criterion is None else popularity_weight(parts.criterion)


def evaluate_part(parts: Parts, part: str) -> dict[str, float]:
    """Full-ranking metrics on ``part``, scored as the run's loss trains (dot product or cosine); under the
    cold-start protocol also cold and warm items ranked apart (``cold/*``, ``warm/*``: :mod:`recsys_pyg.cold_start`)."""
    model, data, graph, evaluator = parts.model, parts.data, parts.graph, parts.evaluator
    # the embeddings the run ranks by, once: the cold-start protocol ranks them again (cold and warm items apart)
    cosine, popularity = uses_cosine_of(parts), popularity_of(parts)
    ranked = None if is_fit_only(model) else ranking_embeddings(model, graph, cosine, popularity)
    metrics = evaluate_model(model, data, graph, evaluator, part, embeddings=ranked)
    return {**metrics, **cold_start_metrics(model, data, graph, evaluator, part, embeddings=ranked)}


def prefixed(metrics: dict[str, float], prefix: str) -> dict[str, float]:
    return {f"{prefix}/{k}": v for k, v in metrics.items()}


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
    """Train; in a ``-m`` sweep, a failing job is recorded (``failed.json``) and the sweep goes on.

    A run stopped by SIGTERM/SIGINT exits with 128 + the signal number after writing its checkpoint (every
    rank of a torchrun run alike); one stopped by a user error (:func:`is_user_error`) prints that error's
    message alone and exits with 1.
    """
    try:
        metrics = train(cfg)
    except RunInterrupted as err:
        log.error("%s", err)
        ignore_further_signals()  # torchrun's agent stops the other ranks once one left: not a second death
        raise SystemExit(err.exit_code) from None
    except Exception as err:
        if not is_multirun():
            if is_user_error(err) and os.environ.get("HYDRA_FULL_ERROR") != "1":
                print(f"Error: {err}\n(set HYDRA_FULL_ERROR=1 for the traceback)", file=sys.stderr)
                raise SystemExit(1) from None  # past Hydra's report, which prints a traceback
            raise
        log.exception("job failed: %s", err)
        if not isinstance(err, RunFolderError):  # that folder is another run's: write nothing into it
            save_failure(Path(cfg.paths.output_dir), err)
            with suppress(OSError):
                save_hydra_files(cfg, Path(cfg.paths.output_dir), resumed=False)  # the sweep report finds the job
        return float("nan")  # a sweeper (Optuna) counts the trial as failed
    return float(metrics.get(str(cfg.optimized_metric), float("nan")))


# What the project raises on purpose, with a message naming the culprit (a config key, a file, a folder).
USER_ERRORS = (ValueError, TypeError, FileNotFoundError, IsADirectoryError, NotADirectoryError, RunFolderError,
               DiskFullError)  # fmt: skip
PACKAGE = Path(__file__).resolve().parent


def is_user_error(err: BaseException) -> bool:
    """Whether ``err`` is a mistake in the command (a bad config value or path), not a bug: one of
    :data:`USER_ERRORS` raised in recsys_pyg's own code. The same type raised inside a library
    (a ``ValueError`` from torch, say) is not: its traceback is what finds the bug."""
    if not isinstance(err, USER_ERRORS):
        return False
    tb = err.__traceback__
    while tb is not None and tb.tb_next is not None:  # the innermost frame: where it was raised
        tb = tb.tb_next
    return tb is not None and Path(tb.tb_frame.f_code.co_filename).resolve().is_relative_to(PACKAGE)


def save_failure(run_dir: Path, err: BaseException) -> None:
    import json
    import traceback

    run_dir.mkdir(parents=True, exist_ok=True)
    text = {"error": f"{type(err).__name__}: {err}", "traceback": traceback.format_exc()}
    (run_dir / "failed.json").write_text(json.dumps(text, indent=2))


if __name__ == "__main__":
    main()
