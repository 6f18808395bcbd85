"""Popularity-biased negative sampling over each user's non-interacted items.

Reference: Mikolov et al., "Distributed Representations of Words and Phrases and their
Compositionality", NeurIPS 2013, https://arxiv.org/abs/1310.4546 (the unigram^0.75 noise law).
"""

from __future__ import annotations

from functools import cached_property

import torch
from torch import Tensor

from recsys_pyg.data.graph import BipartiteGraph
from recsys_pyg.samplers.negatives import Negatives
from recsys_pyg.samplers.pairs import edge_keys, host_path, is_positive
from recsys_pyg.samplers.uniform import UniformSampler
from recsys_pyg.utils import positive_int


def popularity_probs(item_degree: Tensor, beta: float) -> Tensor:
    r"""The popularity law of every popularity-biased sampler, one probability per item:

    .. math::
        q_i = \frac{(d_i + 1)^{\beta}}{\sum_j (d_j + 1)^{\beta}}

    with :math:`d_i` the item's training degree. The ``+ 1`` keeps an item of degree 0 drawable
    (under :math:`d_i^{\beta}` it never would be, so nothing would ever push its score down) and
    barely moves the law of popular items; ``beta=0`` is uniform.

    Args:
        item_degree: ``(I,)`` training degree of every item.
        beta: popularity exponent (word2vec's 0.75 is the samplers' default).

    Returns:
        ``(I,)`` float64 on the CPU, summing to 1.
    """
    weight = (item_degree.cpu().double() + 1).pow(beta)  # (I,)
    return weight / weight.sum()


class PopularitySampler:
    r"""``k`` negatives per positive, drawn with probability

    .. math::
        q_u(i) \propto (d_i + 1)^{\beta} \quad \text{for } i \notin \mathcal{N}(u)

    where :math:`d_i` is the item's training degree (:func:`popularity_probs`: the ``+ 1`` keeps
    items of degree 0 drawable).

    Never returns a training positive. Draws come from the unrestricted law by inverse-CDF
    (one binary search each); draws that hit a positive of their row are redrawn, vectorised over the
    batch, for ``max_rounds`` rounds. Rejection
    is exact: the accepted draws follow :math:`q_u` above. An entry still rejected after
    ``max_rounds`` rounds (probability :math:`m_u^{\text{max\_rounds}}`, with :math:`m_u` the
    share of the weight held by the user's positives, so only for users whose positives hold
    most of the popularity mass) falls back to an exact *uniform* non-positive from
    :meth:`UniformSampler.sample_items`: for those few entries the law is uniform, not
    popularity-biased, but still never a positive.

    Args:
        graph: the training graph.
        num_negatives: negatives per positive ``k`` (default 1).
        beta: popularity exponent (default 0.75; 0 = uniform).
        generator: random generator (seeded by the caller for reproducibility).
        max_rounds: redraw rounds before the uniform fallback (default 10).

    Shapes:
        - **sample:** users ``(B,)`` -> ``Negatives(items=(B, k))``
    """

    def __init__(
        self,
        graph: BipartiteGraph,
        num_negatives: int = 1,
        beta: float = 0.75,
        generator: torch.Generator | None = None,
        max_rounds: int = 10,
    ) -> None:
        positive_int("num_negatives", num_negatives)
        if int(max_rounds) != max_rounds or max_rounds < 0:
            raise ValueError(f"max_rounds must be a non-negative integer, got {max_rounds!r}")
        self.graph, self.num_negatives, self.beta, self.max_rounds = graph, int(num_negatives), beta, int(max_rounds)
        self.generator = generator if generator is not None else torch.Generator().manual_seed(0)
        self.uniform = UniformSampler(graph, generator=self.generator)

    def __repr__(self) -> str:
        return f"PopularitySampler(num_negatives={self.num_negatives}, beta={self.beta})"

    @cached_property
    def _keys(self) -> Tensor:
        return edge_keys(self.graph)  # (E,)

    @cached_property
    def probs(self) -> Tensor:
        """Unrestricted probability of each item, ``(I,)`` float64 on the CPU (:func:`popularity_probs`)."""
        return popularity_probs(self.graph.item_degree, self.beta)

    @cached_property
    def _cdf(self) -> Tensor:
        return torch.cumsum(self.probs, 0).to(self.graph.item.device)  # (I,)

    def _draw(self, n: int, device: torch.device) -> Tensor:
        """``n`` items from the unrestricted law, ``(n,)``."""
        u = (
            torch.rand(n, generator=self.generator, dtype=torch.float64, device=self.generator.device).to(device)
            * self._cdf[-1]
        )
        return torch.searchsorted(self._cdf, u, right=True).clamp_max_(self.graph.num_items - 1)

    chunkable = True  # each row's negatives depend on that row alone: one call may serve many batches
    provides_log_q = True  # q_u(i) = p_i / (1 - m_u), m_u the law's mass on u's positives (rejected draws)

    @cached_property
    def _log_p(self) -> Tensor:
        """``log p_i`` of the unrestricted law, ``(I,)`` float32 on the graph's device."""
        return self.probs.log().to(torch.float32).to(self.graph.item.device)

    @cached_property
    def _log_rest(self) -> Tensor:
        """``log(1 - m_u)`` per user, ``(U,)``: what the law leaves once ``u``'s positives are rejected."""
        probs = self.probs.to(self.graph.item.device)
        mass = torch.zeros(self.graph.num_users, dtype=torch.float64, device=probs.device)
        mass.index_add_(0, self.graph.user, probs[self.graph.item])
        return torch.log1p(-mass.clamp_max(1 - 1e-12)).to(torch.float32)

    def sample(self, users: Tensor, pos_items: Tensor | None = None, epoch: int = 0) -> Negatives:
        """Negatives ``(B, k)`` for the batch's ``users`` ``(B,)``, with ``log_q = log p_i - log(1 - m_u)``
        (the law given the rejection of ``u``'s positives; the rare uniform fallback is not counted)."""
        items = self.sample_items(users, self.num_negatives)
        return Negatives(items, log_q=self._log_p[items] - self._log_rest[users][:, None])

    def sample_items(self, users: Tensor, k: int) -> Tensor:
        """``k`` popularity-biased non-positive items for each user, ``(B, k)``."""
        num_items = self.graph.num_items
        items = self._draw(users.numel() * k, users.device).view(users.numel(), k)  # (B, k)
        bad = is_positive(self._keys, num_items, users[:, None], items)  # (B, k)
        redraw = self._redraw_rejected if host_path(items.device) else self._redraw_block
        return redraw(users, items, bad)

    def _redraw_block(self, users: Tensor, items: Tensor, bad: Tensor) -> Tensor:
        """On an accelerator: every round redraws the whole ``(B, k)`` block and keeps the redraws only where
        rejected: the same law as redrawing the rejected entries alone, with no data-dependent size or early
        exit, so nothing waits on the device (``B * k`` draws per round are cheap next to a step)."""
        for _ in range(self.max_rounds):
            redraw = self._draw(items.numel(), users.device).view_as(items)
            items = torch.where(bad, redraw, items)
            bad = bad & is_positive(self._keys, self.graph.num_items, users[:, None], items)
        # rejected max_rounds times (probability m_u ** max_rounds): exact uniform fallback
        return torch.where(bad, self.uniform.sample_items(users, items.shape[1]), items)

    def _redraw_rejected(self, users: Tensor, items: Tensor, bad: Tensor) -> Tensor:
        """On the CPU, where a data-dependent size costs no wait: redraw the rejected entries alone, and stop
        as soon as none is left (a round costs its rejects, not ``B * k``: 10x less at Gowalla size)."""
        row, col = torch.nonzero(bad, as_tuple=True)
        for _ in range(self.max_rounds):
            if row.numel() == 0:
                return items
            redraw = self._draw(row.numel(), items.device)
            items[row, col] = redraw
            still = is_positive(self._keys, self.graph.num_items, users[row], redraw)
            row, col = row[still], col[still]
        # rejected max_rounds times (probability m_u ** max_rounds): exact uniform fallback
        if row.numel():
            items[row, col] = self.uniform.sample_items(users[row], 1)[:, 0]
        return items
