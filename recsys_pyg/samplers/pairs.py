"""Training pairs as sorted integer keys ``user * I + item``: "is this pair a positive?" by binary search.

Used by the samplers that reject a user's own positives per row (popularity); a batch × shared-set
mask (shared, in-batch) is built from the users' CSR rows instead (:func:`positive_mask`).
"""

from __future__ import annotations

import torch
from torch import Tensor

from recsys_pyg.data.graph import CSR, BipartiteGraph

HOST_FAST_PATHS = True  # tests turn it off to check, on the CPU, the paths an accelerator takes


def host_path(device: torch.device) -> bool:
    """Whether to take a path with data-dependent shapes: on the CPU they cost no wait on a device and
    are several times faster; on an accelerator the sync-free broadcast paths are kept."""
    return HOST_FAST_PATHS and device.type == "cpu"


def search(keys: Tensor, query: Tensor, right: bool = False) -> Tensor:
    """``torch.searchsorted(keys, query)`` for any shape of ``query``. On the CPU the queries are sorted
    first: neighbouring searches then walk the same cache lines of ``keys`` (2x faster for 131k random
    queries into Gowalla's 810k edge keys)."""
    if not host_path(query.device) or query.numel() < 4096:
        return torch.searchsorted(keys, query, right=right)
    flat = query.reshape(-1)
    ordered, order = torch.sort(flat)
    out = torch.empty_like(flat)
    out[order] = torch.searchsorted(keys, ordered, right=right)
    return out.view(query.shape)


def edge_keys(graph: BipartiteGraph) -> Tensor:
    """``user * I + item`` of every training edge, ``(E,)``, sorted (the edges are sorted by user, then item)."""
    return graph.user * graph.num_items + graph.item


def is_positive(keys: Tensor, num_items: int, users: Tensor, items: Tensor) -> Tensor:
    """Whether each ``(user, item)`` pair is a training edge; ``users`` and ``items`` broadcast.

    One binary search per pair in the sorted :func:`edge_keys` ``keys``: no Python loop, no dense matrix.
    """
    query = users * num_items + items  # broadcast shape, e.g. (B, S) or (B, k)
    if keys.numel() == 0:
        return torch.zeros_like(query, dtype=torch.bool)
    pos = search(keys, query).clamp_max_(keys.numel() - 1)
    return keys[pos] == query


def positive_mask(graph: BipartiteGraph, users: Tensor, items: Tensor) -> Tensor:
    """``(B, S)`` bools: whether ``items[s]`` is a training item of ``users[b]``; ``users (B,)``, ``items (S,)``.

    Reads the CSR rows of the batch's distinct users or of its distinct items, whichever holds fewer
    entries (256 uniform shared items: their rows; in-batch items, drawn by popularity: the users'),
    instead of one binary search per ``(b, s)`` pair; the hits are expanded to the repeated users and
    items, and the ``(B, S)`` result is written once. At Gowalla size, ``B = 2048``: ~3x less time than
    :func:`is_positive` on the broadcast pairs for ``S = 256``, ~10x for ``S = 1000`` and in-batch
    (``scripts/bench.py`` has the sampler rows).
    """
    return _pair_mask(graph, users, items, hit=True)


def negative_mask(graph: BipartiteGraph, users: Tensor, items: Tensor, distinct_items: bool = False) -> Tensor:
    """``~positive_mask(graph, users, items)``, written directly (no second ``(B, S)`` pass). With
    ``distinct_items`` (a shared draw without replacement) and the items' rows the fewer entries, their hits
    are matched to the batch rows by one sort of ``users`` (no ``unique`` of either side)."""
    if distinct_items and bool(graph.item_degree[items].sum() <= graph.user_degree[users].sum()):
        local, hit_users = graph.item_users.gather_rows(items)  # (n,), (n,): item position, its user
        # the batch rows of each user as a CSR (a bincount, not torch's slower CPU searchsorted)
        count_of = torch.bincount(users, minlength=graph.num_users)  # (U,)
        indptr = torch.cat([count_of.new_zeros(1), count_of.cumsum(0)])  # (U + 1,)
        rows_of = CSR(indptr, torch.argsort(users, stable=True), users.numel())
        hit, b = rows_of.gather_rows(hit_users)  # (m,), (m,): which hit, the batch row with its user
        mask = torch.ones(users.numel() * items.numel(), dtype=torch.bool, device=items.device)
        mask[b * items.numel() + local[hit]] = False
        return mask.view(users.numel(), items.numel())
    return _pair_mask(graph, users, items, hit=False)


def _pair_mask(graph: BipartiteGraph, users: Tensor, items: Tensor, hit: bool) -> Tensor:
    """:func:`positive_mask` (``hit``: True at the positives, False elsewhere) or its complement."""
    device = items.device
    rows, row_of, row_count = torch.unique(users, return_inverse=True, return_counts=True)  # (U_b,), (B,), (U_b,)
    cols, col_of, col_count = torch.unique(items, return_inverse=True, return_counts=True)  # (S_u,), (S,), (S_u,)
    if bool(graph.user_degree[rows].sum() <= graph.item_degree[cols].sum()):
        r, c = _hits(graph.user_items, rows, cols, graph.num_items)
    else:
        c, r = _hits(graph.item_users, cols, rows, graph.num_users)
    # every hit (distinct user r, distinct item c) stands for row_count[r] x col_count[c] cells of the mask
    nr, nc = row_count[r], col_count[c]
    cells = nr * nc
    pair = torch.repeat_interleave(torch.arange(r.numel(), device=device), cells)
    k = torch.arange(pair.numel(), device=device) - torch.repeat_interleave(torch.cumsum(cells, 0) - cells, cells)
    row_order, col_order = torch.argsort(row_of, stable=True), torch.argsort(col_of, stable=True)
    b = row_order[(torch.cumsum(row_count, 0) - row_count)[r][pair] + k // nc[pair]]
    s = col_order[(torch.cumsum(col_count, 0) - col_count)[c][pair] + k % nc[pair]]
    mask = torch.full((users.numel() * items.numel(),), not hit, dtype=torch.bool, device=device)
    mask[b * items.numel() + s] = hit
    return mask.view(users.numel(), items.numel())


def _hits(csr: CSR, rows: Tensor, targets: Tensor, num_targets: int) -> tuple[Tensor, Tensor]:
    """The ``(position in rows, position in targets)`` of every entry of ``rows``' CSR rows that is a target."""
    where = torch.full((num_targets,), -1, dtype=torch.long, device=rows.device)
    where[targets] = torch.arange(targets.numel(), device=rows.device)
    local, column = csr.gather_rows(rows)
    hit = where[column]
    keep = hit >= 0
    return local[keep], hit[keep]
