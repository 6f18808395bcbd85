"""PinSAGE's importance neighbourhoods: the most visited same-side nodes of short random walks.

From each item, walks alternate item -> user -> item; from each user, user -> item -> user.
The ``top_t`` same-side nodes visited most often (the start node itself excluded) form the
node's neighbourhood, weighted by their normalised visit counts (Ying et al., KDD 2018,
Sec. 3.3). Walks are vectorised over all starts on the graph's CSR arrays in torch; starts
are processed in chunks so memory stays bounded.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from recsys_pyg.data.graph import CSR, BipartiteGraph
from recsys_pyg.utils import positive_int


@dataclass
class Neighborhoods:
    """Fixed-size same-side neighbourhoods of every node.

    ``index`` ``(N, T)`` holds global node ids (users ``0..U-1``, items ``U..U+I-1``) and
    ``weight`` ``(N, T)`` their importance (each row sums to 1, or 0 for a node without
    walks); padding slots have weight 0 and point at the node itself.
    """

    index: Tensor
    weight: Tensor

    def to(self, device: torch.device | str) -> Neighborhoods:
        return Neighborhoods(self.index.to(device), self.weight.to(device))


def _step(csr: CSR, current: Tensor, gen: torch.Generator) -> Tensor:
    """One uniform random step from each ``current`` row of ``csr`` (rows without edges stay put, as -1)."""
    degree = csr.degree()[current]
    offset = (torch.rand(current.numel(), generator=gen).to(current.device) * degree).long()
    nxt = csr.indices[(csr.indptr[current] + offset).clamp(max=max(csr.nnz - 1, 0))]
    return torch.where(degree > 0, nxt, torch.full_like(nxt, -1))


def _side_walks(
    out_csr: CSR,
    back_csr: CSR,
    num_nodes: int,
    num_walks: int,
    walk_length: int,
    top_t: int,
    gen: torch.Generator,
    chunk_size: int,
) -> tuple[Tensor, Tensor]:
    """Neighbourhoods (local ids of one side) for every node of that side, ``(n, T)`` twice."""
    index = torch.arange(num_nodes)[:, None].repeat(1, top_t)
    weight = torch.zeros(num_nodes, top_t)
    for start in range(0, num_nodes, chunk_size):
        nodes = torch.arange(start, min(start + chunk_size, num_nodes))
        origin = nodes.repeat_interleave(num_walks)  # (C * W,)
        current = origin.clone()
        visits = []
        for _ in range(walk_length):
            alive = current >= 0
            middle = torch.full_like(current, -1)
            middle[alive] = _step(out_csr, current[alive], gen)
            alive = middle >= 0
            current = torch.full_like(current, -1)
            current[alive] = _step(back_csr, middle[alive], gen)
            hit = (current >= 0) & (current != origin)
            visits.append(origin[hit] * num_nodes + current[hit])
        key, count = torch.unique(torch.cat(visits), return_counts=True)  # sorted by origin, then node
        if key.numel() == 0:
            continue
        src, dst = key // num_nodes, key % num_nodes
        order = torch.argsort(src * (count.max() + 1) - count, stable=True)  # by origin, most visited first
        src, dst, count = src[order], dst[order], count[order]
        first = torch.searchsorted(src, src, side="left")
        rank = torch.arange(src.numel()) - first
        keep = rank < top_t
        src, dst, count, rank = src[keep], dst[keep], count[keep].float(), rank[keep]
        index[src, rank] = dst
        weight[src, rank] = count
    total = weight.sum(1, keepdim=True)
    return index, torch.where(total > 0, weight / total.clamp(min=1e-12), weight)


def importance_neighborhoods(
    graph: BipartiteGraph,
    num_walks: int = 50,
    walk_length: int = 2,
    top_t: int = 10,
    seed: int = 0,
    chunk_size: int = 4096,
) -> Neighborhoods:
    """Random-walk neighbourhoods of all users (among users) and all items (among items).

    Args:
        graph: the training graph.
        num_walks: walks started from each node.
        walk_length: two-hop steps per walk (item -> user -> item counts as one).
        top_t: neighbourhood size ``T`` (the most visited nodes).
        seed: random seed of the walks.
        chunk_size: start nodes walked at once (memory ~ chunk_size * num_walks * walk_length).

    The result is cached on ``graph`` for these arguments, so it is computed once per run.
    """
    for name, value in (("num_walks", num_walks), ("walk_length", walk_length), ("top_t", top_t)):
        positive_int(name, value)
    key = ("importance_neighborhoods", num_walks, walk_length, top_t, seed)
    cache = graph.__dict__.setdefault("_derived", {})
    if key in cache:
        return cache[key]
    gen = torch.Generator().manual_seed(seed)
    user_items = graph.user_items
    item_users = CSR.from_pairs(graph.item, graph.user, graph.num_items, graph.num_users)
    u_index, u_weight = _side_walks(
        user_items, item_users, graph.num_users, num_walks, walk_length, top_t, gen, chunk_size
    )
    i_index, i_weight = _side_walks(
        item_users, user_items, graph.num_items, num_walks, walk_length, top_t, gen, chunk_size
    )
    result = Neighborhoods(torch.cat([u_index, i_index + graph.num_users]), torch.cat([u_weight, i_weight]))
    cache[key] = result
    return result
