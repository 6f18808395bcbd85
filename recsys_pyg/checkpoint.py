"""Resumable checkpoints: every random generator, the loop state, an epoch in progress; loaded safely.

A checkpoint holds tensors and plain containers only, so it loads with
``torch.load(weights_only=True)``: a crafted file cannot run code. ``last.pt`` is written
atomically and the one before it is kept as ``last.prev.pt``, so a damaged latest checkpoint
falls back to the previous one with a warning. A write that fails (a full disk: ``DiskFullError``
naming the file) leaves ``last.pt`` as it was.
"""

from __future__ import annotations

import logging
import os
import pickle
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from recsys_pyg.io import atomic_save
from recsys_pyg.records.record import naming_a_full_disk
from recsys_pyg.training.epoch import EpochProgress
from recsys_pyg.training.parts import Parts
from recsys_pyg.training.state import LoopState

log = logging.getLogger(__name__)

RESUMABLE_KEYS = ("model", "optimizer", "scheduler", "loop", "rng", "config")


class CheckpointError(ValueError):
    """A file that is not a checkpoint this run can use; the message names it and what to do."""


def rng_state(generator: torch.Generator) -> dict[str, Any]:
    """The state of every random source a run draws from (Python, NumPy, torch CPU/CUDA, the sampler's),
    as tensors and plain lists (nothing that needs a pickle to load)."""
    version, internal, gauss = random.getstate()
    name, keys, pos, has_gauss, cached = np.random.get_state()
    state = {
        "python": [version, list(internal), gauss],
        "numpy": [name, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(cached)],
        "torch": torch.get_rng_state(),
        "generator": generator.get_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any], generator: torch.Generator) -> None:
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    generator.set_state(state["generator"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_resumable(
    path: Path,
    parts: Parts,
    state: LoopState,
    config: dict[str, Any],
    wandb_id: str | None,
    progress: EpochProgress | None = None,
) -> None:
    """Everything an exact resume needs, written atomically: weights, optimiser, scheduler, the loop
    state, every random generator, the run's config, its W&B id and, when the run stopped inside an
    epoch, that epoch's progress. The previous checkpoint is kept as ``last.prev.pt``.

    The new file is written in full before ``last.pt`` is touched (the oldest copy is dropped first, so
    the disk holds two at most): if the write fails, ``last.pt`` is still the last good checkpoint."""
    prev, new = path.with_suffix(".prev.pt"), path.with_suffix(".new.pt")
    if path.exists():
        prev.unlink(missing_ok=True)
    save_file(
        {
            "model": parts.model.state_dict(),
            "optimizer": parts.optimizer.state_dict() if parts.optimizer is not None else None,
            "scheduler": parts.scheduler.state_dict() if parts.scheduler is not None else None,
            "loop": state.state_dict(),
            "rng": rng_state(parts.generator),
            "config": config,
            "wandb_id": wandb_id,
            "progress": progress.state_dict() if progress is not None else None,
        },
        new,
        named=path,
    )
    if path.exists():
        os.replace(path, prev)
    os.replace(new, path)


def save_file(obj: Any, path: Path, named: Path | None = None) -> None:
    """``torch.save`` atomically; a full disk is a ``DiskFullError`` naming ``named`` (default ``path``),
    not torch's ``unexpected pos``."""
    with naming_a_full_disk(named or path):
        atomic_save(obj, path)


def restore(parts: Parts, state: LoopState, ckpt: dict[str, Any]) -> EpochProgress | None:
    """Put a resumable checkpoint back into ``parts`` and ``state`` (after the parts are built, so
    the generators are restored last and the run draws what the interrupted one would have);
    returns the progress of the epoch it stopped in, if any."""
    parts.model.load_state_dict(ckpt["model"])
    if parts.optimizer is not None:
        parts.optimizer.load_state_dict(ckpt["optimizer"])
    if parts.scheduler is not None:
        parts.scheduler.load_state_dict(ckpt["scheduler"])
    state.load_state_dict(ckpt["loop"])
    set_rng_state(ckpt["rng"], parts.generator)
    return EpochProgress.from_state_dict(ckpt["progress"]) if ckpt.get("progress") else None


def load_checkpoint(path: Path) -> dict[str, Any]:
    """A resumable checkpoint, loaded with ``weights_only=True`` and checked; a clear error otherwise."""
    try:
        ckpt = torch.load(path, weights_only=True, map_location="cpu")
    except pickle.UnpicklingError as err:
        if "Unsupported global" not in str(err):  # no class reference: garbage, not a pickle of objects
            raise CheckpointError(f"{path} is damaged or not a torch checkpoint (it does not unpickle)") from err
        raise CheckpointError(
            f"{path} holds objects other than tensors and plain containers, which could run code when loaded; "
            f"it was not loaded. Resume only from checkpoints written by recsys_pyg ({err.__class__.__name__})"
        ) from err
    except Exception as err:  # truncated, not a zip, not a torch file at all
        raise CheckpointError(f"{path} is damaged or not a torch checkpoint ({type(err).__name__}: {err})") from err
    if not isinstance(ckpt, dict):
        raise CheckpointError(f"{path} is not a recsys_pyg checkpoint (a {type(ckpt).__name__}, not a dict)")
    missing = [k for k in RESUMABLE_KEYS if k not in ckpt]
    if missing:
        hint = (
            "it is a best-weights file (checkpoints/best.pt): it holds the model only. Resume from the run folder "
            "or its checkpoints/last.pt"
            if "model" in ckpt and "loop" not in ckpt
            else "resume from a run folder or a checkpoints/last.pt written by recsys_pyg"
        )
        raise CheckpointError(f"{path} is not a resumable checkpoint (it lacks {missing}): {hint}")
    return ckpt


def resolve_checkpoint(path: str | Path) -> tuple[Path, dict[str, Any]]:
    """``train.resume``: a run folder (its ``checkpoints/last.pt``, or ``last.prev.pt`` when the latest is
    damaged) or a checkpoint file; returns the file used and its checked contents. Nothing on disk changes."""
    path = Path(path).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"train.resume={path}: no such run folder or checkpoint file")
    if path.is_file():
        return path, load_checkpoint(path)
    last = path / "checkpoints" / "last.pt"
    prev = last.with_suffix(".prev.pt")
    if not last.is_file() and not prev.is_file():
        raise FileNotFoundError(
            f"train.resume={path}: no checkpoint at {last}; give a run folder that has "
            f"checkpoints/last.pt (written every train.checkpoint_every epochs) or a .pt file"
        )
    try:
        return last, load_checkpoint(last)
    except (CheckpointError, FileNotFoundError) as err:
        if not prev.is_file():
            raise
        log.warning("%s; resuming from the previous checkpoint %s instead", err, prev)
        return prev, load_checkpoint(prev)
