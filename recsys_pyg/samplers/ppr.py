"""Hard negatives from personalised PageRank: items near a user in the graph that they did not pick.

References:
    - Jeh & Widom, "Scaling Personalized Web Search", WWW 2003 (personalised PageRank).
    - Ying et al., "Graph Convolutional Neural Networks for Web-Scale Recommender Systems"
      (PinSAGE), KDD 2018, https://arxiv.org/abs/1806.01973, "hard" negatives: items ranked
      around 2000-5000 by PPR for the query, related to it but not too related.

The per-user candidate pools are computed once for all users, in chunks of users with
bounded memory, and cached on disk keyed by the graph's edges and every parameter.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from recsys_pyg.data.graph import CSR, BipartiteGraph, sparse_csr
from recsys_pyg.io import atomic_save
from recsys_pyg.samplers.negatives import Negatives
from recsys_pyg.samplers.pairs import host_path
from recsys_pyg.samplers.shared import SharedSampler
from recsys_pyg.samplers.uniform import UniformSampler
from recsys_pyg.utils import positive_int

log = logging.getLogger(__name__)

_CACHE_VERSION = 1  # bump when the pool computation changes, so old cache files are ignored


def _walk_matrices(graph: BipartiteGraph, alpha: float) -> tuple[Tensor, Tensor]:
    r"""The two off-diagonal blocks of :math:`(1 - \alpha) P^\top = (1 - \alpha) A D^{-1}`, sparse CSR.

    Returns ``to_items`` ``(I, U)`` and ``to_users`` ``(U, I)``: one walk step moves the
    users' mass to the items and the items' mass to the users.
    """
    num_users, num_items = graph.num_users, graph.num_items
    inv_user = 1.0 / graph.user_degree.clamp_min(1).float()  # (U,)
    inv_item = 1.0 / graph.item_degree.clamp_min(1).float()  # (I,)
    csr = graph.user_items  # rows = users, sorted
    to_users = sparse_csr(csr.indptr, csr.indices, (1 - alpha) * inv_item[csr.indices], (num_users, num_items))
    by_item = CSR.from_pairs(graph.item.cpu(), graph.user.cpu(), num_items, num_users).to(graph.user.device)
    to_items = sparse_csr(
        by_item.indptr, by_item.indices, (1 - alpha) * inv_user[by_item.indices], (num_items, num_users)
    )
    return to_items, to_users


def _ppr_block(
    to_items: Tensor, to_users: Tensor, users: Tensor, num_users: int, alpha: float, num_iterations: int
) -> Tensor:
    """Items' PPR mass for a block of users as columns, ``(I, C)``; see :func:`personalized_pagerank`."""
    cols = torch.arange(users.numel(), device=users.device)
    u = torch.zeros(num_users, users.numel(), device=users.device)  # (U, C)
    u[users, cols] = alpha
    i = torch.zeros(to_items.shape[0], users.numel(), device=users.device)  # (I, C)
    # Bipartite: the users' mass only feeds the items and vice versa, so the iteration splits
    # into two chains that alternate sides. With p_0 = alpha e_u, the chain starting from the
    # items' zero mass repeats the other one step late, so the item part of p_T is that of the
    # first chain at step T (odd T) or T - 1 (even T): that many half-steps of E entries each,
    # instead of T steps of 2E. Both blocks are written in place: (U + I) * C floats in all.
    for step in range(1, num_iterations + 1 - (num_iterations + 1) % 2):
        if step % 2:
            torch.mm(to_items, u, out=i)  # (I, C)
        else:
            torch.mm(to_users, i, out=u)  # (U, C)
            u[users, cols] += alpha
    return i


def _check_walk(alpha: float, num_iterations: int) -> None:
    if not 0 < alpha <= 1:
        raise ValueError(f"alpha is a restart probability in (0, 1], got {alpha!r}")
    positive_int("num_iterations", num_iterations)


def personalized_pagerank(
    graph: BipartiteGraph, users: Tensor, alpha: float = 0.15, num_iterations: int = 20
) -> Tensor:
    r"""Personalised PageRank of every item for each of ``users``, by power iteration.

    Over the ``U + I`` nodes of the bipartite graph, with :math:`P = D^{-1} A` the
    random-walk transition matrix and :math:`e_u` the user's indicator,

    .. math::
        p^{(0)} = \alpha e_u, \qquad p^{(t+1)} = \alpha e_u + (1 - \alpha) P^\top p^{(t)},

    which converges (error :math:`\le (1 - \alpha)^t`) to
    :math:`\alpha (I - (1 - \alpha) P^\top)^{-1} e_u`. The users are the columns of a dense
    block and each step is one sparse-dense product (pure torch); on the bipartite graph the
    block splits into a ``(U, C)`` and an ``(I, C)`` part that are updated in turn, which gives
    the same item scores at half the cost. A node of degree 0 has no out-going mass.

    Args:
        graph: the training graph (on any device; the result is on the same one).
        users: ``(C,)`` users to personalise for.
        alpha: restart probability (default 0.15).
        num_iterations: power iterations ``t`` (default 20).

    Returns:
        ``(C, I)`` float32 item scores, the item part of :math:`p^{(t)}`.
    """
    _check_walk(alpha, num_iterations)
    to_items, to_users = _walk_matrices(graph, alpha)
    return _ppr_block(to_items, to_users, users.to(graph.user.device), graph.num_users, alpha, num_iterations).T


def resolve_window(window: Sequence[int | float], num_items: int) -> tuple[int, int]:
    """The rank window ``[lo, hi)`` in absolute 0-based ranks among a user's non-positives.

    An ``int`` is an absolute rank (0 = the user's top non-positive item); a ``float`` in
    ``[0, 1]`` is a fraction of ``num_items`` (rounded, and a fractional window keeps at least
    one rank). ``hi`` is clamped to ``num_items``.
    """
    if len(window) != 2:
        raise ValueError(f"window must be (lo, hi), got {window!r}")
    bounds = []
    for x in window:
        if isinstance(x, bool) or not isinstance(x, int | float):
            raise ValueError(f"window bounds are ints (ranks) or floats (fractions of the items), got {window!r}")
        if isinstance(x, float) and not 0 <= x <= 1:
            raise ValueError(f"a fractional window bound lies in [0, 1], got {x!r} in {window!r}; use an int rank")
        if isinstance(x, int) and x < 0:
            raise ValueError(f"a rank window bound is >= 0, got {x!r} in {window!r}")
        bounds.append(round(x * num_items) if isinstance(x, float) else x)
    lo, hi = bounds
    if isinstance(window[1], float):
        hi = max(hi, lo + 1)
    hi = min(hi, num_items)
    if not lo < hi:
        raise ValueError(f"window {tuple(window)!r} is empty on {num_items} items ([{lo}, {hi})); widen it")
    return lo, hi


def ppr_memory_bound(num_users: int, num_items: int, num_edges: int, chunk_size: int, pool_size: int) -> int:
    """Bytes :func:`compute_ppr_pool` allocates at most, beyond what the process holds before it.

    Per chunk of ``C`` users: the ``(U, C)`` and ``(I, C)`` float blocks of the walk (updated in
    place), the contiguous ``(C, I)`` score copy, the top-``hi`` values and ranks ``(C, hi)``
    (float32 + int64) and the window's random keys: under ``3 (U + I) C`` floats, and the
    bound allows ``4 (U + I) C`` (4 bytes each) for allocator slack and SpMM workspace. Fixed:
    the two ``E``-entry walk matrices (int64 index, float32 value, int64 pointers, and the
    item-major sort that builds one) and the ``(U, P)`` pool, built chunk by chunk then
    concatenated. At 30k users x 41k items x 1M edges with ``C = 1024``: about 1.2 GiB.
    """
    chunk = min(chunk_size, num_users)
    walk = 4 * (num_users + num_items) * chunk * 4
    matrices = 2 * (12 * num_edges + 8 * (num_users + num_items + 2)) + 16 * num_edges  # + the item-major sort
    pools = 2 * (8 * num_users * (pool_size + 1))
    return walk + matrices + pools


@dataclass
class PPRHardNegatives:
    """Each user's pool of hard-negative candidates.

    Args:
        pool: ``(U, P)`` item ids; row ``u``'s first ``count[u]`` entries are its candidates,
            the rest are ``-1`` padding.
        count: ``(U,)`` candidates per user (fewer than ``P`` when the window holds fewer
            reachable non-positives; 0 for users whose walk reaches no item in the window).
        window: the resolved absolute rank window ``(lo, hi)``.
    """

    pool: Tensor
    count: Tensor
    window: tuple[int, int]

    def to(self, device: torch.device | str) -> PPRHardNegatives:
        return PPRHardNegatives(self.pool.to(device), self.count.to(device), self.window)


def compute_ppr_pool(
    graph: BipartiteGraph,
    alpha: float = 0.15,
    num_iterations: int = 20,
    window: Sequence[int | float] = (0.02, 0.10),
    pool_size: int = 64,
    chunk_size: int = 1024,
    seed: int = 0,
) -> PPRHardNegatives:
    """Rank every user's items by PPR and draw a pool from the rank window; no caching.

    For each chunk of ``chunk_size`` users: the PPR scores (:func:`personalized_pagerank`),
    training positives and items the walk never reached (score 0) dropped, the non-positives
    ranked ``[lo, hi)`` kept, and up to ``pool_size`` of them drawn uniformly without
    replacement (random keys from a generator seeded with ``seed``, chunk after chunk). Peak
    extra memory: :func:`ppr_memory_bound`. Computed on the graph's device; the pool is
    returned on the CPU.
    """
    positive_int("pool_size", pool_size)
    positive_int("chunk_size", chunk_size)
    _check_walk(alpha, num_iterations)
    lo, hi = resolve_window(window, graph.num_items)
    device = graph.user.device
    to_items, to_users = _walk_matrices(graph, alpha)
    gen = torch.Generator().manual_seed(int(seed))
    positives = graph.user_items.to("cpu")
    pools, counts = [], []
    for start in range(0, graph.num_users, chunk_size):
        users = torch.arange(start, min(start + chunk_size, graph.num_users), device=device)  # (C,)
        scores = _ppr_block(to_items, to_users, users, graph.num_users, alpha, num_iterations).T.contiguous()  # (C, I)
        local, item = positives.gather_rows(users.cpu())  # (n,), (n,) the chunk's positives
        scores[local.to(device), item.to(device)] = -torch.inf
        value, rank = scores.topk(hi, dim=1)  # (C, hi), sorted: column r = rank r among non-positives
        del scores
        value, rank = value[:, lo:], rank[:, lo:]  # (C, W) the window
        valid = value > 0  # reached by the walk and not a positive
        key = torch.rand(value.shape, generator=gen).to(device).masked_fill_(~valid, -1.0)  # (C, W)
        pick = key.topk(min(pool_size, key.shape[1]), dim=1).indices  # (C, P'), valid ones first
        pool = torch.full((users.numel(), pool_size), -1, dtype=torch.long, device=device)  # (C, P)
        pool[:, : pick.shape[1]] = rank.gather(1, pick)
        count = valid.sum(1).clamp_max(pool_size)  # (C,)
        pool[torch.arange(pool_size, device=device) >= count[:, None]] = -1
        pools.append(pool.cpu())
        counts.append(count.cpu())
    pool = torch.cat(pools) if pools else torch.empty(0, pool_size, dtype=torch.long)
    count = torch.cat(counts) if counts else torch.empty(0, dtype=torch.long)
    return PPRHardNegatives(pool, count, (lo, hi))


def ppr_cache_key(graph: BipartiteGraph, **params: object) -> str:
    """Hex digest of the graph's edges (its CSR) and the given parameters."""
    h = hashlib.sha256(f"ppr-pool-v{_CACHE_VERSION}|{graph.num_users}|{graph.num_items}".encode())
    for t in (graph.user_items.indptr, graph.user_items.indices):
        h.update(t.detach().to("cpu", torch.long).contiguous().numpy())
    h.update(repr(sorted(params.items())).encode())
    return h.hexdigest()


def ppr_hard_pool(
    graph: BipartiteGraph,
    alpha: float = 0.15,
    num_iterations: int = 20,
    window: Sequence[int | float] = (0.02, 0.10),
    pool_size: int = 64,
    chunk_size: int = 1024,
    seed: int = 0,
    cache_dir: str | os.PathLike[str] | None = None,
) -> PPRHardNegatives:
    """:func:`compute_ppr_pool`, cached in ``cache_dir`` (``None``: computed every time).

    The file is named by :func:`ppr_cache_key` over the graph's edges and every argument
    (``chunk_size`` too: it sets the order of the pool's random draws), so a changed graph
    or parameter computes a new pool and an unchanged one is loaded. Written to a temporary
    file then renamed, so a crashed or concurrent run never leaves a partial file.
    """
    window = tuple(window)  # a Hydra ListConfig hashes and prints like a list
    params = dict(alpha=float(alpha), num_iterations=int(num_iterations), window=window)
    params.update(pool_size=int(pool_size), chunk_size=int(chunk_size), seed=int(seed))
    path = None
    if cache_dir is not None:
        path = Path(cache_dir) / f"ppr_pool_{ppr_cache_key(graph, **params)[:24]}.pt"
        if path.exists():
            try:
                saved = torch.load(path, weights_only=True)
                log.info("PPR hard-negative pool loaded from %s", path)
                return PPRHardNegatives(saved["pool"], saved["count"], tuple(saved["window"]))
            except Exception as err:  # unreadable file: recompute and overwrite it
                log.warning("PPR cache %s unreadable (%s): recomputing", path, err)
    t0 = time.time()
    result = compute_ppr_pool(graph, **params)  # type: ignore[arg-type]
    log.info("PPR hard-negative pool for %d users computed in %.1fs", graph.num_users, time.time() - t0)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = {"pool": result.pool, "count": result.count, "window": list(result.window), "params": params}
        atomic_save(payload, path)  # atomic: temp file + rename
    return result


class PPRHardSampler:
    r"""Easy negatives plus PPR hard negatives per positive (PinSAGE's hard negatives).

    ``items`` (and ``mask``) hold the easy negatives: ``num_easy`` uniform non-positives per
    positive (:class:`UniformSampler`) or, with ``shared=True``, ``num_shared`` items shared by
    the batch (:class:`SharedSampler`). ``hard`` holds ``num_hard`` items per row drawn
    uniformly (with replacement) from the row user's pool of items ranked ``[lo, hi)`` by
    personalised PageRank among their non-positives (:func:`ppr_hard_pool`), so never a
    training positive. A user whose pool is empty (the walk reaches no non-positive in the
    window, e.g. a user who interacted with almost every item) gets uniform non-positives as
    hard negatives instead.

    The pool is computed once for all users at construction and cached in ``cache_dir``.

    Args:
        graph: the training graph.
        generator: random generator (seeded by the caller for reproducibility).
        num_easy: uniform negatives per positive when not ``shared`` (default 1).
        num_hard: hard negatives per positive (default 1).
        shared: easy negatives shared by the batch instead of per positive (default False).
        num_shared: shared easy negatives per batch when ``shared`` (default 256).
        alpha: PPR restart probability (default 0.15).
        num_iterations: PPR power iterations (default 20).
        window: rank window ``(lo, hi)``: int ranks, or float fractions of the items
            (default ``(0.02, 0.10)``: ranks 34-170 of MovieLens-100k's 1682 items).
        pool_size: candidates kept per user (default 64).
        chunk_size: users per PPR block; sets the pool's peak memory (default 1024).
        cache_dir: folder for the cached pool; ``None`` = recompute every run.
        seed: seed of the pool's draw from the window (apart from ``generator``, so the cached
            pool is shared by runs with different seeds).

    Shapes:
        - **sample:** users ``(B,)`` -> ``Negatives(items=(B, k) or (S,), mask=None or (B, S), hard=(B, h))``
    """

    def __init__(
        self,
        graph: BipartiteGraph,
        generator: torch.Generator | None = None,
        num_easy: int = 1,
        num_hard: int = 1,
        shared: bool = False,
        num_shared: int = 256,
        alpha: float = 0.15,
        num_iterations: int = 20,
        window: Sequence[int | float] = (0.02, 0.10),
        pool_size: int = 64,
        chunk_size: int = 1024,
        cache_dir: str | None = None,
        seed: int = 0,
    ) -> None:
        if int(num_hard) != num_hard or num_hard < 0:
            raise ValueError(f"num_hard must be a non-negative integer, got {num_hard!r}")
        self.graph, self.num_hard, self.shared = graph, int(num_hard), bool(shared)
        self.generator = generator if generator is not None else torch.Generator().manual_seed(0)
        self.easy: UniformSampler | SharedSampler = (
            SharedSampler(graph, num_shared, self.generator)
            if shared
            else UniformSampler(graph, num_easy, self.generator)
        )
        self.fallback = UniformSampler(graph, generator=self.generator)
        self.hard_pool = ppr_hard_pool(graph, alpha, num_iterations, window, pool_size, chunk_size, seed, cache_dir).to(
            graph.user.device
        )

    def __repr__(self) -> str:
        lo, hi = self.hard_pool.window
        easy = f"num_shared={self.easy.num_negatives}" if self.shared else f"num_easy={self.easy.num_negatives}"
        return f"PPRHardSampler({easy}, num_hard={self.num_hard}, window=[{lo}, {hi}))"

    @property
    def chunkable(self) -> bool:
        """True unless the easy negatives are shared by the batch."""
        return not self.shared

    def hard_count(self, epoch: int) -> int:
        """Hard negatives per positive at ``epoch``: always ``num_hard``."""
        return self.num_hard

    def sample(self, users: Tensor, pos_items: Tensor | None = None, epoch: int = 0) -> Negatives:
        """Easy negatives in ``items``/``mask`` and ``hard`` ``(B, num_hard)`` (``None`` when 0)."""
        neg = self.sample_easy(users)
        neg.hard = self.sample_hard(users, self.num_hard) if self.num_hard else None
        return neg

    def sample_easy(self, users: Tensor) -> Negatives:
        """The easy part: ``(B, k)`` per positive or ``(S,)`` shared with its ``(B, S)`` mask."""
        return self.easy.sample(users)

    def sample_hard(self, users: Tensor, h: int) -> Tensor:
        """``h`` hard negatives per row from the row user's pool, ``(B, h)``."""
        count = self.hard_pool.count[users]  # (B,)
        draw = torch.rand(users.numel(), h, generator=self.generator, device=self.generator.device).to(users.device)
        col = (draw * count[:, None]).long().clamp_max_((count[:, None] - 1).clamp_min(0))  # (B, h)
        hard = self.hard_pool.pool[users[:, None], col]  # (B, h)
        empty = count == 0
        if host_path(users.device):  # on the CPU: uniform non-positives for the rows with an empty pool only
            rows = torch.nonzero(empty).flatten()
            if rows.numel():
                hard[rows] = self.fallback.sample_items(users[rows], h)
            return hard
        # on an accelerator: drawn for every row and selected, so no per-batch branch waits on the device
        return torch.where(empty[:, None], self.fallback.sample_items(users, h), hard)
