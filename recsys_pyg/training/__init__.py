"""The pieces ``train.py`` orchestrates: the parts of a run, its loop state, an epoch, a step."""

from recsys_pyg.training.epoch import fit_epoch, train_epoch
from recsys_pyg.training.hardness import HardnessMeter
from recsys_pyg.training.parts import Parts, build_parts, check_config
from recsys_pyg.training.state import LoopState
from recsys_pyg.training.step import score_batch, train_step

__all__ = [
    "HardnessMeter",
    "LoopState",
    "Parts",
    "score_batch",
    "build_parts",
    "check_config",
    "fit_epoch",
    "train_epoch",
    "train_step",
]
