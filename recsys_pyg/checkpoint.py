"""Training state for exact resume: every random generator, and where a run's checkpoints live."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import torch


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
