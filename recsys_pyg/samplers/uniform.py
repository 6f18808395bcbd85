"""Exact uniform negative sampling over each user's non-interacted items."""

from __future__ import annotations

from functools import cached_property

import torch
from torch import Tensor

from recsys_pyg.data.graph import BipartiteGraph
from recsys_pyg.samplers.negatives import Negatives
from recsys_pyg.samplers.pairs import search
from recsys_pyg.utils import positive_int


class UniformSampler:
    r"""``k`` negatives per positive, uniform over the items the user has *not* interacted with.

    Exact and rejection-free: draw :math:`r \sim U\{0, \dots, I - d_u - 1\}` and map it
    to the :math:`r`-th non-positive item. With the user's sorted positives
    :math:`p_0 < p_1 < \dots`, the number of non-positives before :math:`p_j` is
    :math:`s_j = p_j - j`, so the answer is :math:`r + |\{j : s_j \le r\}|`, one binary
    search in a global sorted key array (all users at once, no Python loop over users).
    Works unchanged on adversarially dense graphs where rejection sampling stalls.

    With ``only_seen_items``, the draw is over the items with training interactions only (the same
    algorithm in their own index space): items that do not exist at training time, such as the
    held-out items of the cold-start split, are never shown to the model, not even as negatives.

    Args:
        graph: the training graph (its positives are never returned).
        num_negatives: negatives per positive ``k`` (default 1).
        generator: random generator (seeded by the caller for reproducibility).
        only_seen_items: draw only items with at least one training interaction (default ``False``).
    """

    def __init__(self, graph: BipartiteGraph, num_negatives: int = 1, generator: torch.Generator | None = None,
                 only_seen_items: bool = False) -> None:  # fmt: skip
        positive_int("num_negatives", num_negatives)
        self.graph, self.num_negatives = graph, num_negatives
        # the drawable items (I_d,) and each item's rank among them; every item unless only_seen_items
        self._drawable: Tensor | None = None
        self._num_drawable = graph.num_items
        if only_seen_items:
            seen = graph.item_degree > 0
            self._drawable = torch.nonzero(seen).flatten()
            self._rank = torch.cumsum(seen.long(), 0) - 1  # a training positive's index among the drawable
            self._num_drawable = int(self._drawable.numel())
        full = graph.user_degree >= self._num_drawable  # checked once here, not per batch (no device sync)
        if bool(full.any()):
            bad = torch.nonzero(full).flatten()[:5].tolist()
            raise ValueError(f"users {bad} interacted with every item: no negative item exists for them")
        self.generator = generator if generator is not None else torch.Generator().manual_seed(0)

    @cached_property
    def _keys(self) -> Tensor:
        """Sorted ``u * (I_d + 1) + s_j`` over all training edges, ``(E,)`` (items in the drawable index space)."""
        csr = self.graph.user_items
        user = self.graph.user
        rank = torch.arange(csr.nnz, device=user.device) - csr.indptr[user]
        items = csr.indices if self._drawable is None else self._rank[csr.indices]  # monotone: still sorted
        return user * (self._num_drawable + 1) + (items - rank)

    chunkable = True  # each row's negatives depend on that row alone: one call may serve many batches
    provides_log_q = True  # q = 1 / (I - d_u) for every non-positive item of user u

    def sample(self, users: Tensor, pos_items: Tensor | None = None, epoch: int = 0) -> Negatives:
        """Negatives ``(B, k)`` for the batch's ``users`` ``(B,)``, with ``log_q = -log(I - d_u)``."""
        items = self.sample_items(users, self.num_negatives)
        room = (self._num_drawable - self.graph.user_degree[users]).to(torch.float)  # (B,)
        return Negatives(items, log_q=(-room.log())[:, None].expand(-1, self.num_negatives))

    def sample_items(self, users: Tensor, k: int) -> Tensor:
        """``k`` uniform non-positive items for each user, ``(B, k)``."""
        graph, n = self.graph, self._num_drawable
        room = n - graph.user_degree[users]  # (B,), > 0 for every user (checked at construction)
        draw = torch.rand(users.numel(), k, generator=self.generator, device=self.generator.device)
        r = (draw * room[:, None]).long().clamp_max_(room[:, None] - 1)  # (B, k) rank among non-positives
        query = users[:, None] * (n + 1) + r  # (B, k)
        below = search(self._keys, query, right=True) - graph.user_items.indptr[users][:, None]
        return r + below if self._drawable is None else self._drawable[r + below]
