"""The training objective: a ranking loss plus the model's L2 penalty, built by one function."""

from __future__ import annotations

import math
from typing import Any

from omegaconf import DictConfig, OmegaConf, open_dict
from torch import Tensor, nn

from recsys_pyg.instantiate import build
from recsys_pyg.losses.batch import ScoredBatch


class Objective(nn.Module):
    """``loss(batch) + l2_weight * model.l2_penalty(batch.users, batch.items)``: the one place the
    regulariser is applied, whatever the loss.

    Args:
        loss: a module scoring a :class:`ScoredBatch` (see :class:`recsys_pyg.contracts.Loss`).
        l2_weight: weight of the model's L2 penalty on the batch's layer-0 embeddings (LightGCN's ``reg``).
    """

    def __init__(self, loss: nn.Module, l2_weight: float = 0.0) -> None:
        super().__init__()
        if isinstance(l2_weight, bool) or not isinstance(l2_weight, (int, float)) or not math.isfinite(l2_weight):
            raise TypeError(f"l2_weight must be a finite number >= 0, got {l2_weight!r}")
        if l2_weight < 0:
            raise ValueError(f"l2_weight must be >= 0, got {l2_weight}")
        self.loss, self.l2_weight = loss, float(l2_weight)

    @property
    def train_similarity(self) -> str:
        """``"dot"`` or ``"cosine"``: what the loss's scores are in training."""
        return getattr(self.loss, "similarity", "dot")

    @property
    def similarity(self) -> str:
        """``"dot"`` or ``"cosine"``: how the run's evaluation, export and serving rank (the loss's
        ``eval_similarity`` where it has one, else its training similarity)."""
        return getattr(self.loss, "eval_similarity", self.train_similarity)

    @property
    def eval_popularity(self) -> float:
        """The weight of ``log(1 + d_i)`` added to every item's score at ranking (the loss's ``eval_popularity``;
        0 for a loss without one)."""
        return float(getattr(self.loss, "eval_popularity", 0.0))

    @property
    def needs_log_q(self) -> bool:
        """Whether the loss reads the sampler's proposal log-probabilities (``Negatives.log_q``)."""
        return bool(getattr(self.loss, "needs_log_q", False))

    def forward(self, batch: ScoredBatch, model: nn.Module) -> Tensor:
        loss = self.loss(batch)
        if self.l2_weight:
            loss = loss + self.l2_weight * model.l2_penalty(batch.users, batch.items)
        return loss

    def extra_repr(self) -> str:
        return f"l2_weight={self.l2_weight}"


def build_loss(node: DictConfig | dict[str, Any], key: str = "loss") -> Objective:
    """The :class:`Objective` of a loss config (``conf/loss/*.yaml``): ``l2_weight`` (default 0) goes to the
    objective, the rest to the loss's ``_target_``. Every caller (the run, the benchmark, tests) builds
    losses here; a bad value's error names its key (``loss.temperature``, ``loss.l2_weight``)."""
    node = OmegaConf.create(node) if isinstance(node, dict) else node.copy()
    with open_dict(node):
        l2_weight = node.pop("l2_weight", 0.0)
    try:
        return Objective(build(node, key), l2_weight)
    except (ValueError, TypeError) as err:
        if str(err).startswith("l2_weight"):
            raise type(err)(f"{key}.{err}") from None
        raise


def check_sampler_for(objective: Objective, sampler: object, sampler_name: str = "") -> None:
    """Refuse a loss whose assumptions the sampler cannot meet, before training starts: a loss that reads
    the proposal's log-probabilities needs a sampler declaring ``provides_log_q = True``."""
    if objective.needs_log_q and not getattr(sampler, "provides_log_q", False):
        what = f"sampler={sampler_name} ({type(sampler).__name__})" if sampler_name else type(sampler).__name__
        raise ValueError(
            f"loss: {type(objective.loss).__name__} corrects for the sampler's proposal law, but {what} does not "
            "give its proposal log-probabilities (Negatives.log_q); use sampler=uniform, popularity, shared or "
            "in_batch, or loss=softmax"
        )
