"""Top-K items per user with seen items excluded: exact full ranking, or two stages.

Two stages: an inner-product (MIPS) index over the item embeddings proposes ``candidates`` items per
user (the user's seen items excluded by the index search itself), and the model's exact score
re-ranks them. Indexes are PyG's ``MIPSKNNIndex`` (``flat``: exact, faiss ``IndexFlatIP``) and
``ApproxMIPSKNNIndex`` (``ivfpq``: inverted lists + product quantisation), and an HNSW graph
(``hnsw``: faiss ``IndexHNSWFlat``, inner product) on PyG's ``KNNIndex`` base. faiss is optional
(``pip install 'recsys_pyg[ann]'``); ``exact`` needs nothing beyond torch and is the default.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from recsys_pyg.data.graph import CSR

INDEXES = ("exact", "flat", "ivfpq", "hnsw")
FAISS_MAX_K = 2048  # faiss returns at most this many neighbours per query


def build_index(kind: str, item_emb: Tensor, nlist: int | None = None, nprobe: int = 16, hnsw_m: int = 32,
                ef_search: int = 256):  # fmt: skip
    """A PyG ``KNNIndex`` of ``kind`` over ``item_emb (I, d)``, items added."""
    try:
        import faiss  # noqa: F401
        from torch_geometric.nn.pool import ApproxMIPSKNNIndex, MIPSKNNIndex
        from torch_geometric.nn.pool.knn import KNNIndex
    except ImportError as err:
        raise ImportError(
            f"index {kind!r} needs faiss: pip install 'recsys_pyg[ann]' (faiss-cpu); index=exact needs nothing"
        ) from err
    emb = item_emb.float().contiguous()
    if kind == "flat":
        return MIPSKNNIndex(emb)
    if kind == "ivfpq":
        cells = nlist or max(1, min(int(math.sqrt(emb.shape[0])), emb.shape[0] // 39))  # faiss wants >= 39 per cell
        sub = next(m for m in (16, 8, 4, 2, 1) if emb.shape[1] % m == 0)  # sub-quantisers (8 bits each)
        return ApproxMIPSKNNIndex(num_cells=cells, num_cells_to_visit=min(nprobe, cells), bits_per_vector=sub, emb=emb)
    if kind == "hnsw":

        class HNSWMIPSIndex(KNNIndex):
            def _create_index(self, channels: int):
                index = faiss.IndexHNSWFlat(channels, hnsw_m, faiss.METRIC_INNER_PRODUCT)
                index.hnsw.efSearch = ef_search
                return index

        return HNSWMIPSIndex(emb=emb)
    raise ValueError(f"unknown index {kind!r}: one of {', '.join(INDEXES)}")


class Retriever:
    r"""The ``k`` best unseen items per user by :math:`u^\top i`, exactly or in two stages.

    Args:
        user_emb, item_emb: ``(U, d)``, ``(I, d)`` (item rows unit-norm for a cosine model: see the export).
        seen: ``(U, I)`` CSR of the items never to recommend.
        index: ``exact`` (full ranking, the evaluator's own computation) or a MIPS index
            (``flat``, ``ivfpq``, ``hnsw``) for the first stage.
        candidates: items the index proposes per user before exact re-ranking (at most 2048, faiss' cap).
        chunk_size: users scored at once (memory ``chunk_size x I`` floats in the exact path).
        **index_options: ``nlist``, ``nprobe`` (ivfpq), ``hnsw_m``, ``ef_search`` (hnsw).

    Shapes:
        - **top_k:** users ``(B,)`` -> scores ``(B, k)``, items ``(B, k)`` best first; ``-1`` / ``-inf``
          pad rows with fewer than ``k`` unseen candidates.
    """

    def __init__(self, user_emb: Tensor, item_emb: Tensor, seen: CSR, index: str = "exact", candidates: int = 200,
                 chunk_size: int = 1024, **index_options) -> None:  # fmt: skip
        if index not in INDEXES:
            raise ValueError(f"unknown index {index!r}: one of {', '.join(INDEXES)}")
        if seen.num_rows != user_emb.shape[0] or seen.num_cols != item_emb.shape[0]:
            raise ValueError(f"seen items {seen.num_rows} x {seen.num_cols} do not match the embeddings "
                             f"({user_emb.shape[0]} users x {item_emb.shape[0]} items)")  # fmt: skip
        if int(candidates) < 1 or int(chunk_size) < 1:
            raise ValueError(f"candidates and chunk_size must be positive, got {candidates}, {chunk_size}")
        self.user_emb, self.item_emb, self.seen = user_emb.float(), item_emb.float(), seen
        self.kind, self.candidates, self.chunk_size = index, int(candidates), int(chunk_size)
        self.index = None if index == "exact" else build_index(index, self.item_emb, **index_options)

    @torch.no_grad()
    def top_k(self, users: Tensor, k: int) -> tuple[Tensor, Tensor]:
        """Scores and items ``(len(users), k)``, best first, for ``users (B,)``."""
        if k < 1:
            raise ValueError(f"k must be positive, got {k}")
        parts = [self._chunk(users[s : s + self.chunk_size], k) for s in range(0, users.numel(), self.chunk_size)]
        if not parts:
            return torch.empty(0, k), torch.empty(0, k, dtype=torch.long)
        return torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])

    def _chunk(self, chunk: Tensor, k: int) -> tuple[Tensor, Tensor]:
        row, col = self.seen.gather_rows(chunk)  # seen items of the chunk's users, as (row in chunk, item)
        if self.index is None:  # the evaluator's computation: score every item, mask the seen, top-k
            scores = self.user_emb[chunk] @ self.item_emb.T  # (C, I)
            scores[row, col] = -torch.inf
            top = scores.topk(min(k, scores.shape[1]), dim=1)
            return pad(top.values, top.indices, k)
        query = self.user_emb[chunk]
        cand = min(self.candidates, FAISS_MAX_K, self.item_emb.shape[0])
        found = self.index.search(query, cand, exclude_links=torch.stack([row, col]))  # first stage
        items = found.index  # (C, cand), -1 where fewer unseen items were found
        scores = torch.einsum("cd,cnd->cn", query, self.item_emb[items.clamp_min(0)])  # exact re-ranking
        scores = scores.masked_fill(items < 0, -torch.inf)
        top = scores.topk(min(k, items.shape[1]), dim=1)
        return pad(top.values, items.gather(1, top.indices), k)


def pad(scores: Tensor, items: Tensor, k: int) -> tuple[Tensor, Tensor]:
    """Rows padded to ``k`` columns (``-inf`` / ``-1``), and ``-1`` where a score is ``-inf`` (nothing unseen left)."""
    items = items.masked_fill(torch.isneginf(scores), -1)
    if items.shape[1] < k:
        extra = k - items.shape[1]
        scores = torch.cat([scores, scores.new_full((scores.shape[0], extra), -torch.inf)], 1)
        items = torch.cat([items, items.new_full((items.shape[0], extra), -1)], 1)
    return scores, items
