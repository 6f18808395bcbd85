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
import operator
import warnings

import torch
from torch import Tensor

from recsys_pyg.data.graph import CSR
from recsys_pyg.serving.export import csr_problem

INDEXES = ("exact", "flat", "ivfpq", "hnsw")
FAISS_MAX_K = 2048  # faiss returns at most this many neighbours per query
PQ_CENTROIDS = 256  # ivfpq codes each sub-vector in 8 bits: 256 centroids, trained on the items
INT_MAX = 2**31 - 1  # faiss takes C ints
# option -> (lowest, highest, what it is): checked before faiss sees it, since faiss aborts the
# interpreter (hnsw_m=0), hangs (hnsw_m=-1), crashes (hnsw_m=1) or returns nothing (ef_search=0) on bad values
OPTIONS = {
    "nlist": (1, None, "ivfpq: inverted lists; at most the number of items"),
    "nprobe": (1, INT_MAX, "ivfpq: inverted lists visited per query; above nlist visits every list"),
    "pq_m": (1, None, "ivfpq: product-quantiser sub-vectors; must divide the dimension"),
    "hnsw_m": (2, 1024, "hnsw: links per item and layer"),
    "ef_search": (1, INT_MAX, "hnsw: candidate list size while searching"),
}


class ShortTopKWarning(UserWarning):
    """``top_k`` returns fewer than ``k`` items for some users: their rows end in ``-1`` / ``-inf`` padding."""


def check_index_options(num_items: int, dim: int, **options) -> None:
    """Raise ``ValueError`` naming the option and its valid range unless every given option is usable.

    ``None`` means "the default" (``nlist``, ``pq_m``: chosen from the data). Options of another index
    kind are checked too: a bad value is a mistake wherever it is passed.
    """
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise ValueError(f"unknown index option(s) {', '.join(map(repr, unknown))}: one of {', '.join(OPTIONS)}")
    for name, value in options.items():
        if value is None and name in ("nlist", "pq_m"):
            continue
        low, high, what = OPTIONS[name]
        high = {"nlist": num_items, "pq_m": dim}.get(name, high)
        try:
            number = operator.index(value) if not isinstance(value, bool) else None
        except TypeError:
            number = None
        if number is None or not low <= number <= high:
            raise ValueError(f"{name} must be an integer from {low} to {high} ({what}), got {value!r}")
        if name == "pq_m" and dim % number:
            divisors = [m for m in range(1, dim + 1) if dim % m == 0]
            raise ValueError(f"pq_m must divide the dimension {dim} (one of {', '.join(map(str, divisors))}), "
                             f"got {value!r}")  # fmt: skip


def build_index(kind: str, item_emb: Tensor, nlist: int | None = None, nprobe: int = 16, hnsw_m: int = 32,
                ef_search: int = 256, pq_m: int | None = None):  # fmt: skip
    """A PyG ``KNNIndex`` of ``kind`` over ``item_emb (I, d)``, items added (options checked first)."""
    if kind not in INDEXES or kind == "exact":
        raise ValueError(f"unknown index {kind!r}: one of {', '.join(INDEXES[1:])}")
    num_items, dim = item_emb.shape
    check_index_options(num_items, dim, nlist=nlist, nprobe=nprobe, hnsw_m=hnsw_m, ef_search=ef_search, pq_m=pq_m)
    if kind == "ivfpq" and num_items < PQ_CENTROIDS:  # faiss would fail training the quantiser
        raise ValueError(
            f"index 'ivfpq' trains {PQ_CENTROIDS} centroids per sub-vector (8-bit codes), so it needs at least "
            f"{PQ_CENTROIDS} items; there are {num_items}: use 'flat' (exact) or 'hnsw'"
        )
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
        cells = nlist or max(1, min(int(math.sqrt(num_items)), num_items // 39))  # faiss wants >= 39 per cell
        sub = pq_m or next(m for m in (16, 8, 4, 2, 1) if dim % m == 0)  # sub-quantisers (8 bits each)
        return ApproxMIPSKNNIndex(num_cells=cells, num_cells_to_visit=min(nprobe, cells), bits_per_vector=sub, emb=emb)

    class HNSWMIPSIndex(KNNIndex):
        def _create_index(self, channels: int):
            index = faiss.IndexHNSWFlat(channels, hnsw_m, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efSearch = ef_search
            return index

    return HNSWMIPSIndex(emb=emb)


class Retriever:
    r"""The ``k`` best unseen items per user by :math:`u^\top i`, exactly or in two stages.

    Args:
        user_emb, item_emb: ``(U, d)``, ``(I, d)``, finite (item rows unit-norm for a cosine model: see the export).
        seen: ``(U, I)`` CSR of the items never to recommend (checked: see :func:`csr_problem`).
        index: ``exact`` (full ranking, the evaluator's own computation) or a MIPS index
            (``flat``, ``ivfpq``, ``hnsw``) for the first stage.
        candidates: items the index proposes per user before exact re-ranking (at most 2048, faiss' cap).
        chunk_size: users scored at once (memory ``chunk_size x I`` floats in the exact path).
        **index_options: ``nlist`` (``1..I``), ``nprobe`` (``>= 1``), ``pq_m`` (divides ``d``) for ivfpq;
            ``hnsw_m`` (``2..1024``), ``ef_search`` (``>= 1``) for hnsw. Checked whatever the index, before
            faiss sees them: a ``ValueError`` names the option and its range.

    Shapes:
        - **top_k:** users ``(B,)`` -> scores ``(B, k)``, items ``(B, k)`` best first; ``-1`` / ``-inf``
          pad rows with fewer than ``k`` items to return, and a :class:`ShortTopKWarning` says so: ``k``
          above :attr:`max_k` (the catalogue, or the candidates), or users with fewer unseen items.
    """

    def __init__(self, user_emb: Tensor, item_emb: Tensor, seen: CSR, index: str = "exact", candidates: int = 200,
                 chunk_size: int = 1024, **index_options) -> None:  # fmt: skip
        if index not in INDEXES:
            raise ValueError(f"unknown index {index!r}: one of {', '.join(INDEXES)}")
        if user_emb.dim() != 2 or item_emb.dim() != 2 or user_emb.shape[1] != item_emb.shape[1]:
            raise ValueError(f"user_emb {tuple(user_emb.shape)} and item_emb {tuple(item_emb.shape)} should be "
                             "(U, d) and (I, d)")  # fmt: skip
        for name, emb in (("user_emb", user_emb), ("item_emb", item_emb)):
            bad = ~torch.isfinite(emb).all(dim=1)  # NaN scores would rank items in index order
            if bad.any():
                raise ValueError(f"{name} has {int(bad.sum())} row(s) with NaN or infinite values (first: row "
                                 f"{int(bad.nonzero()[0])})")  # fmt: skip
        if seen.num_rows != user_emb.shape[0] or seen.num_cols != item_emb.shape[0]:
            raise ValueError(f"seen items {seen.num_rows} x {seen.num_cols} do not match the embeddings "
                             f"({user_emb.shape[0]} users x {item_emb.shape[0]} items)")  # fmt: skip
        problem = csr_problem(seen.indptr, seen.indices, seen.num_rows, seen.num_cols, "seen.")
        if problem:  # a bad index would un-exclude a seen item or fail mid-batch
            raise ValueError(f"seen: {problem}")
        if int(candidates) < 1 or int(chunk_size) < 1:
            raise ValueError(f"candidates and chunk_size must be positive, got {candidates}, {chunk_size}")
        check_index_options(item_emb.shape[0], item_emb.shape[1], **index_options)
        self.user_emb, self.item_emb, self.seen = user_emb.float(), item_emb.float(), seen
        self.kind, self.candidates, self.chunk_size = index, int(candidates), int(chunk_size)
        self.index = None if index == "exact" else build_index(index, self.item_emb, **index_options)

    def add_items(self, item_emb: Tensor, seen: CSR) -> None:
        """Append items ``(M, d)`` (indices ``I..I+M-1``) without rebuilding: the exact path scores them with the
        rest, a MIPS index takes them with ``KNNIndex.add``; ``seen`` is the widened ``(U, I + M)`` seen-items CSR."""
        if item_emb.dim() != 2 or item_emb.shape[1] != self.item_emb.shape[1]:
            raise ValueError(f"new items {tuple(item_emb.shape)} should be (M, {self.item_emb.shape[1]})")
        if not bool(torch.isfinite(item_emb).all()):
            raise ValueError("new item embeddings hold NaN or infinite values")
        if seen.num_rows != self.user_emb.shape[0] or seen.num_cols != self.item_emb.shape[0] + item_emb.shape[0]:
            raise ValueError(f"seen items {seen.num_rows} x {seen.num_cols} do not match the users and items after "
                             "adding")  # fmt: skip
        self.item_emb = torch.cat([self.item_emb, item_emb.float()])
        self.seen = seen
        if self.index is not None:
            self.index.add(item_emb.float().contiguous())

    @property
    def max_k(self) -> int:
        """The most items one user can get: the catalogue, or (two stages) the candidates within faiss' cap."""
        items = self.item_emb.shape[0]
        return items if self.index is None else min(self.candidates, FAISS_MAX_K, items)

    def k_limit(self, k: int) -> str | None:
        """Why ``k`` items cannot be returned to anyone (``k`` above :attr:`max_k`), or ``None``."""
        if k <= self.max_k:
            return None
        if self.max_k == self.item_emb.shape[0]:
            why = f"the catalogue has {self.max_k} items"
        elif self.max_k == self.candidates:
            why = f"the {self.kind} index proposes candidates={self.candidates} per user"
        else:
            why = f"faiss proposes at most {FAISS_MAX_K} candidates per user"
        return f"k={k} but at most {self.max_k} items can be returned per user ({why}); each user gets at most that"

    def top_k(self, users: Tensor, k: int) -> tuple[Tensor, Tensor]:
        """Scores and items ``(len(users), k)``, best first, for ``users (B,)``; short rows padded and warned of."""
        if k < 1:
            raise ValueError(f"k must be positive, got {k}")
        limit = self.k_limit(k)
        if limit:
            warnings.warn(limit, ShortTopKWarning, stacklevel=2)
        with torch.no_grad():  # not a decorator: the warnings then point at the caller
            parts = [self._chunk(users[s : s + self.chunk_size], k) for s in range(0, users.numel(), self.chunk_size)]
        if not parts:
            return torch.empty(0, k), torch.empty(0, k, dtype=torch.long)
        scores, items = torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])
        short = int(self.short_rows(items, k).sum())
        if short:
            warnings.warn(short_rows_message(short, items.shape[0], min(k, self.max_k)), ShortTopKWarning, stacklevel=2)
        return scores, items

    def short_rows(self, items: Tensor, k: int) -> Tensor:
        """``(B,)`` whether each row of ``top_k``'s ``items`` holds fewer than ``min(k, max_k)`` items."""
        return (items[:, : min(k, self.max_k)] < 0).any(dim=1)

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


def short_rows_message(short: int, total: int, want: int) -> str:
    """The warning for ``short`` of ``total`` users getting fewer than ``want`` items."""
    return (f"{short} of {total} user(s) got fewer than {want} items: fewer unseen items were left (they have seen "
            "the rest) or found by the index; their rows are shorter")  # fmt: skip


def pad(scores: Tensor, items: Tensor, k: int) -> tuple[Tensor, Tensor]:
    """Rows padded to ``k`` columns (``-inf`` / ``-1``), and ``-1`` where a score is ``-inf`` (nothing unseen left)."""
    items = items.masked_fill(torch.isneginf(scores), -1)
    if items.shape[1] < k:
        extra = k - items.shape[1]
        scores = torch.cat([scores, scores.new_full((scores.shape[0], extra), -torch.inf)], 1)
        items = torch.cat([items, items.new_full((items.shape[0], extra), -1)], 1)
    return scores, items
