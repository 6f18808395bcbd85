"""One set of negatives shared by every positive of a mini-batch (PinSAGE's trick).

Reference: Ying et al., "Graph Convolutional Neural Networks for Web-Scale Recommender
Systems" (PinSAGE), KDD 2018, https://arxiv.org/abs/1806.01973
(model training: negatives shared by the mini-batch).
"""

from __future__ import annotations

from functools import cached_property

import torch
from torch import Tensor

from recsys_pyg.data.graph import BipartiteGraph
from recsys_pyg.samplers.negatives import Negatives
from recsys_pyg.samplers.pairs import edge_keys, host_path, is_positive, negative_mask
from recsys_pyg.samplers.popularity import popularity_probs
from recsys_pyg.utils import positive_int


class SharedSampler:
    r"""``S`` negative items per mini-batch, shared by all its positives.

    Scoring ``S`` shared items costs one ``(B, D) x (D, S)`` product instead of ``B * k``
    gathers, so ``S`` can be in the hundreds. Items are drawn without replacement, either
    uniformly over all items or with probability

    .. math::
        q_i \propto (d_i + 1)^{\beta}

    (:math:`d_i` = training degree; the popularity sampler's law, :func:`popularity_probs`, so
    items of degree 0 stay drawable). A shared item can be a row user's own training positive; the
    returned ``mask`` is False exactly there, so the loss leaves that pair out.
    When ``num_negatives`` exceeds the items that can be drawn, all of them are returned.

    Args:
        graph: the training graph.
        num_negatives: shared negatives per batch ``S`` (default 256).
        generator: random generator (seeded by the caller for reproducibility).
        distribution: ``"uniform"`` over all items or ``"popularity"`` (:math:`\propto (d_i + 1)^\beta`).
        beta: popularity exponent (default 0.75, word2vec's); unused when uniform.

    Shapes:
        - **sample:** users ``(B,)`` -> ``Negatives(items=(S,), mask=(B, S), log_q=(S,))``
    """

    def __init__(
        self,
        graph: BipartiteGraph,
        num_negatives: int = 256,
        generator: torch.Generator | None = None,
        distribution: str = "uniform",
        beta: float = 0.75,
    ) -> None:
        positive_int("num_negatives", num_negatives)
        if distribution not in ("uniform", "popularity"):
            raise ValueError(f"distribution must be 'uniform' or 'popularity', got {distribution!r}")
        self.graph, self.num_negatives = graph, int(num_negatives)
        self.distribution, self.beta = distribution, float(beta)
        self.generator = generator if generator is not None else torch.Generator().manual_seed(0)

    def __repr__(self) -> str:
        beta = f", beta={self.beta}" if self.distribution == "popularity" else ""
        return f"SharedSampler(num_negatives={self.num_negatives}, distribution={self.distribution!r}{beta})"

    @cached_property
    def probs(self) -> Tensor:
        """Sampling probability of each item, ``(I,)`` float64 on the CPU (for a log-q correction)."""
        if self.distribution == "uniform":
            return torch.full((self.graph.num_items,), 1.0 / self.graph.num_items, dtype=torch.float64)
        return popularity_probs(self.graph.item_degree, self.beta)

    chunkable = False  # one set per batch, masked for its rows: never drawn for many batches at once
    # log q_i of each draw's law: exact inclusion odds when uniform; without replacement from a popularity
    # law, the per-draw probability (the usual log-Q approximation, Yi et al. 2019)
    provides_log_q = True

    @cached_property
    def _log_q(self) -> Tensor:
        return self.probs.log().to(torch.float32).to(self.graph.item.device)  # (I,)

    @cached_property
    def _keys(self) -> Tensor:
        return edge_keys(self.graph)  # (E,), for the accelerator path

    def sample(self, users: Tensor, pos_items: Tensor | None = None, epoch: int = 0) -> Negatives:
        """Shared negatives ``(S,)`` and the ``(B, S)`` mask of which count for each row."""
        items = self.sample_shared().to(users.device)  # (S,)
        if host_path(users.device):  # the batch users' CSR rows
            mask = negative_mask(self.graph, users, items, distinct_items=True)  # (B, S), its draws are distinct
        else:  # one binary search per pair: no data-dependent shape, nothing waits on the device
            mask = ~is_positive(self._keys, self.graph.num_items, users[:, None], items[None, :])
        return Negatives(items=items, mask=mask, log_q=self._log_q[items])

    def _uniform_subset(self, num_items: int) -> Tensor:
        """``S`` distinct items, every ``S``-subset equally likely, ``(S,)``: from a few more iid draws than ``S``,
        ``S`` of their distinct values chosen at random (by symmetry a uniform subset), rather than a permutation
        of all ``I`` items (at Gowalla size 0.27 of the 1.3 ms a batch's draw took). A catalogue too small for the
        draws to leave ``S`` distinct values (or a rare short draw) takes the permutation."""
        device, s = self.generator.device, self.num_negatives
        if 8 * s <= num_items:
            distinct = torch.randint(num_items, (s + s // 4 + 16,), generator=self.generator, device=device).unique()
            if distinct.numel() >= s:
                return distinct[torch.randperm(distinct.numel(), generator=self.generator, device=device)[:s]]
        return torch.randperm(num_items, generator=self.generator, device=device)[:s]

    def sample_shared(self) -> Tensor:
        """One draw of the shared items, ``(S,)`` on the CPU."""
        num_items = self.graph.num_items
        if self.distribution == "uniform":
            return self._uniform_subset(num_items)
        # every item has weight > 0 under (d + 1)^beta: at most all of them, without replacement
        return torch.multinomial(self.probs, min(self.num_negatives, num_items), generator=self.generator)
