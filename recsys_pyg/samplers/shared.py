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
from recsys_pyg.samplers.negatives import Negatives, block_starts
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

    With ``groups = G > 1`` the batch's rows are cut into ``G`` contiguous blocks (batches are shuffled) and
    each block draws its own ``S`` items: ``G S`` distinct negatives a step for the cost of ``S`` per row, between
    one set for the whole batch and an independent draw per row (which the BSL and SimpleX authors use).
    Returned as per-row items ``(B, S)`` with ``Negatives.blocks = G``, scored one block at a time.

    Args:
        graph: the training graph.
        num_negatives: shared negatives per batch ``S`` (default 256).
        generator: random generator (seeded by the caller for reproducibility).
        distribution: ``"uniform"`` over all items or ``"popularity"`` (:math:`\propto (d_i + 1)^\beta`).
        beta: popularity exponent (default 0.75, word2vec's); unused when uniform.
        groups: blocks of the batch with a set each (default 1: one set for the batch).

    Shapes:
        - **sample:** users ``(B,)`` -> ``Negatives(items=(S,), mask=(B, S), log_q=(S,))``; with ``groups``
          ``G > 1``: ``Negatives(items=(B, S), mask=(B, S), log_q=(B, S), blocks=min(G, B))``
    """

    def __init__(
        self,
        graph: BipartiteGraph,
        num_negatives: int = 256,
        generator: torch.Generator | None = None,
        distribution: str = "uniform",
        beta: float = 0.75,
        groups: int = 1,
    ) -> None:
        positive_int("num_negatives", num_negatives)
        self.groups = positive_int("groups", groups)
        if distribution not in ("uniform", "popularity"):
            raise ValueError(f"distribution must be 'uniform' or 'popularity', got {distribution!r}")
        self.graph, self.num_negatives = graph, int(num_negatives)
        self.distribution, self.beta = distribution, float(beta)
        self.generator = generator if generator is not None else torch.Generator().manual_seed(0)

    def __repr__(self) -> str:
        beta = f", beta={self.beta}" if self.distribution == "popularity" else ""
        groups = f", groups={self.groups}" if self.groups > 1 else ""
        return f"SharedSampler(num_negatives={self.num_negatives}, distribution={self.distribution!r}{beta}{groups})"

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
        """Shared negatives ``(S,)`` and the ``(B, S)`` mask of which count for each row (per block of rows
        with ``groups``)."""
        if self.groups > 1:
            return self._sample_blocks(users)
        items = self.sample_shared().to(users.device)  # (S,)
        if host_path(users.device):  # the batch users' CSR rows
            mask = negative_mask(self.graph, users, items, distinct_items=True)  # (B, S), its draws are distinct
        else:  # one binary search per pair: no data-dependent shape, nothing waits on the device
            mask = ~is_positive(self._keys, self.graph.num_items, users[:, None], items[None, :])
        return Negatives(items=items, mask=mask, log_q=self._log_q[items])

    def _sample_blocks(self, users: Tensor) -> Negatives:
        """A set per block of rows, as per-row items ``(B, S)`` with ``blocks`` (see the class)."""
        blocks = min(self.groups, users.numel())
        sets = self.sample_sets(blocks).to(users.device)  # (G, S)
        starts = block_starts(users.numel(), blocks)
        sizes = torch.tensor([hi - lo for lo, hi in zip(starts, starts[1:])])
        block_of = torch.repeat_interleave(torch.arange(blocks), sizes).to(users.device)  # (B,)
        items = sets.index_select(0, block_of)  # (B, S): row b holds its block's set
        if host_path(users.device):  # the rows' positives looked up in their block's set
            mask = self._block_mask(users, sets, block_of)
        else:
            mask = ~is_positive(self._keys, self.graph.num_items, users[:, None], items)
        return Negatives(items=items, mask=mask, log_q=self._log_q[sets].index_select(0, block_of), blocks=blocks)

    def _block_mask(self, users: Tensor, sets: Tensor, block_of: Tensor) -> Tensor:
        """``(B, S)``: False where a row's item is its user's positive. Every batch row's positives are looked up
        in a ``(G, I)`` table of their block's set positions: one pass over the rows' histories, not a mask
        per block."""
        (blocks, s), num_items = sets.shape, self.graph.num_items
        b, device = users.numel(), users.device
        table = torch.full((blocks, num_items), -1, dtype=torch.int32, device=device)  # flat lookups below
        table.scatter_(1, sets, torch.arange(s, dtype=torch.int32, device=device).expand(blocks, -1))
        row, item = self.graph.user_items.gather_rows(users)  # every batch row's training items
        at = table.view(-1).index_select(0, block_of[row] * num_items + item)  # (n,): position in the set, or -1
        # a miss writes to a spare last slot: no boolean selection (two nonzero passes) over the histories
        flat = torch.where(at >= 0, row * s + at, b * s)
        mask = torch.ones(b * s + 1, dtype=torch.bool, device=device).index_fill_(0, flat, False)
        return mask[:-1].view(b, s)

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

    def sample_sets(self, count: int) -> Tensor:
        """``count`` independent draws of :meth:`sample_shared`, ``(count, S)`` on the CPU. Uniform over a large
        catalogue, all at once: each row's first ``S`` distinct values of a few more iid draws than ``S`` (a
        uniform ``S``-subset by symmetry, as :meth:`_uniform_subset`), found by each value's earliest position in
        a ``(count, I)`` table rather than by sorting the draws (Gowalla, 16 sets of 800: ~1 ms instead of 3); a
        row short of ``S`` distinct values (rare) is drawn again alone."""
        num_items, s, gen = self.graph.num_items, self.num_negatives, self.generator
        if self.distribution == "popularity":
            return torch.multinomial(self.probs.expand(count, -1), min(s, num_items), generator=gen)
        if 8 * s > num_items:
            return torch.stack([self._uniform_subset(num_items) for _ in range(count)])
        n = s + s // 4 + 16
        draws = torch.randint(num_items, (count, n), generator=gen, device=gen.device)
        position = torch.arange(n, dtype=torch.int32, device=gen.device).expand(count, -1)
        earliest = torch.full((count, num_items), n, dtype=torch.int32, device=gen.device)
        earliest.scatter_reduce_(1, draws, position, reduce="amin")
        first = earliest.gather(1, draws) == position  # (count, n): a value's first appearance in its row
        keep = first & (first.cumsum(1) <= s)
        full = keep.sum(1) == s
        if bool(full.all()):
            return draws[keep].view(count, s)  # row-major: each row's kept values in draw order
        sets = torch.empty(count, s, dtype=draws.dtype, device=draws.device)
        sets[full] = draws[full][keep[full]].view(-1, s)
        for row in (~full).nonzero().flatten().tolist():
            sets[row] = self._uniform_subset(num_items)
        return sets

    def sample_shared(self) -> Tensor:
        """One draw of the shared items, ``(S,)`` on the CPU."""
        num_items = self.graph.num_items
        if self.distribution == "uniform":
            return self._uniform_subset(num_items)
        # every item has weight > 0 under (d + 1)^beta: at most all of them, without replacement
        return torch.multinomial(self.probs, min(self.num_negatives, num_items), generator=self.generator)
