"""A hard-negative curriculum: more PPR hard negatives per positive as training goes on.

Reference: Ying et al., "Graph Convolutional Neural Networks for Web-Scale Recommender
Systems" (PinSAGE), KDD 2018, https://arxiv.org/abs/1806.01973 (curriculum training: at
epoch n, n - 1 hard negatives per positive).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from recsys_pyg.data.graph import BipartiteGraph
from recsys_pyg.samplers.negatives import Negatives
from recsys_pyg.samplers.ppr import PPRHardSampler


class CurriculumSampler:
    r"""Easy negatives plus a growing number of PPR hard negatives per positive.

    At (1-based) epoch :math:`n`,

    .. math::
        h(n) = \min\left(\text{max\_hard}, \left\lfloor \frac{n - 1}{\text{pace}} \right\rfloor\right)

    hard negatives per row come on top of the easy ones; with ``pace=1`` that is PinSAGE's
    :math:`n - 1`. While :math:`h(n) = 0` (and for ``epoch < 1``), ``hard`` is ``None``.
    Easy and hard negatives come from a held :class:`PPRHardSampler` (same pool, same cache),
    built from the same ``graph``, ``generator`` and other arguments, ``num_hard`` aside.

    Args:
        graph, generator: as :class:`PPRHardSampler`.
        max_hard: cap on the hard negatives per positive (default 6).
        pace: epochs per extra hard negative (default 1).
        **ppr: the :class:`PPRHardSampler` arguments (``num_easy``, ``shared``, ``window``, ...,
            with its defaults) except ``num_hard``, which is ``max_hard``.

    Shapes:
        - **sample:** users ``(B,)`` -> ``Negatives(items=(B, k) or (S,), mask=None or (B, S), hard=(B, h(n)))``
    """

    def __init__(
        self,
        graph: BipartiteGraph,
        generator: torch.Generator | None = None,
        max_hard: int = 6,
        pace: int = 1,
        **ppr: Any,
    ) -> None:
        if int(max_hard) != max_hard or max_hard < 0:
            raise ValueError(f"max_hard must be a non-negative integer, got {max_hard!r}")
        if int(pace) != pace or pace < 1:
            raise ValueError(f"pace (epochs per extra hard negative) must be an integer >= 1, got {pace!r}")
        if "num_hard" in ppr:
            raise TypeError("CurriculumSampler sets num_hard itself (it grows to max_hard): pass max_hard instead")
        self.max_hard, self.pace = int(max_hard), int(pace)
        self.sampler = PPRHardSampler(graph, generator, num_hard=self.max_hard, **ppr)

    def __repr__(self) -> str:
        return f"CurriculumSampler(max_hard={self.max_hard}, pace={self.pace}, sampler={self.sampler!r})"

    @property
    def chunkable(self) -> bool:
        return self.sampler.chunkable

    def hard_count(self, epoch: int) -> int:
        """Hard negatives per positive at 1-based ``epoch``: ``min(max_hard, (epoch - 1) // pace)``."""
        return 0 if epoch < 1 else min(self.max_hard, (epoch - 1) // self.pace)

    def sample(self, users: Tensor, pos_items: Tensor | None = None, epoch: int = 0) -> Negatives:
        """Easy negatives in ``items``/``mask`` and ``hard`` ``(B, hard_count(epoch))``, ``None`` when 0."""
        neg = self.sampler.sample_easy(users)
        h = self.hard_count(epoch)
        neg.hard = self.sampler.sample_hard(users, h) if h else None
        return neg
