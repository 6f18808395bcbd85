"""Training state for exact resume: every random generator, and where a run's checkpoints live."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from recsys_pyg.io import atomic_save
from recsys_pyg.training.parts import Parts
from recsys_pyg.training.state import LoopState


def rng_state(generator: torch.Generator) -> dict[str, Any]:
    """The state of every random source a run draws from (Python, NumPy, torch CPU/CUDA, the sampler's)."""
    state = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
        "generator": generator.get_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any], generator: torch.Generator) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    generator.set_state(state["generator"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def resolve_checkpoint(path: str | Path) -> Path:
    """``train.resume`` accepts a run folder (its ``checkpoints/last.pt``) or a checkpoint file."""
    path = Path(path).expanduser()
    candidate = path / "checkpoints" / "last.pt" if path.is_dir() else path
    if not candidate.is_file():
        raise FileNotFoundError(
            f"train.resume={path}: no checkpoint at {candidate}; give a run folder that has "
            f"checkpoints/last.pt (written every train.checkpoint_every epochs) or a .pt file"
        )
    return candidate


def save_resumable(path: Path, parts: Parts, state: LoopState, config: dict[str, Any], wandb_id: str | None) -> None:
    """Everything an exact resume needs, written atomically: weights, optimiser, scheduler, the loop
    state, every random generator, the run's config and its W&B id."""
    atomic_save(
        {
            "model": parts.model.state_dict(),
            "optimizer": parts.optimizer.state_dict() if parts.optimizer is not None else None,
            "scheduler": parts.scheduler.state_dict() if parts.scheduler is not None else None,
            "loop": state.state_dict(),
            "rng": rng_state(parts.generator),
            "config": config,
            "wandb_id": wandb_id,
        },
        path,
    )


def restore(parts: Parts, state: LoopState, ckpt: dict[str, Any]) -> None:
    """Put a resumable checkpoint back into ``parts`` and ``state`` (after the parts are built, so
    the generators are restored last and the run draws what the interrupted one would have)."""
    parts.model.load_state_dict(ckpt["model"])
    if parts.optimizer is not None:
        parts.optimizer.load_state_dict(ckpt["optimizer"])
    if parts.scheduler is not None:
        parts.scheduler.load_state_dict(ckpt["scheduler"])
    state.load_state_dict(ckpt["loop"])
    set_rng_state(ckpt["rng"], parts.generator)
