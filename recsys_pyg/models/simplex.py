"""SimpleX: a user's embedding blended with an aggregate of the items in its history.

Reference: Mao et al., "SimpleX: A Simple and Strong Baseline for Collaborative Filtering", CIKM 2021,
https://arxiv.org/abs/2109.12613; official code: reczoo/RecZoo, ``matching/cf/SimpleX/src/SimpleX.py``
(``BehaviorAggregator``). Trained with the cosine contrastive loss (``loss=ccl``, which scores by cosine)
and many shared negatives (``sampler=shared``).
"""

from __future__ import annotations

import math
import weakref
from typing import Any

import torch
from torch import Tensor, nn

from recsys_pyg.data.graph import CSR, BipartiteGraph
from recsys_pyg.models.common import check_graph, check_sizes, embedding_l2
from recsys_pyg.utils import positive_int

AGGREGATORS = ("mean", "user_attention", "self_attention", "none")
LAYOUTS = ("auto", "ragged", "padded")


def history_window(csr: CSR, users: Tensor, width: int) -> tuple[Tensor, Tensor]:
    """The first ``width`` items of each user's row of ``csr`` (CSR order), padded: items ``(B, H)`` and
    ``valid`` ``(B, H)``, False on padding (whose item is a placeholder).

    Fixed shapes: no read of the data on the host, so no device sync.
    """
    start, count = csr.indptr[users], csr.indptr[users + 1] - csr.indptr[users]  # (B,), (B,)
    offset = torch.arange(width, device=users.device)  # (H,)
    valid = offset < count[:, None]  # (B, H)
    position = torch.where(valid, start[:, None] + offset, 0)  # (B, H), padding points at entry 0
    return csr.indices[position], valid


def segment_softmax(logits: Tensor, row: Tensor, num_rows: int) -> Tensor:
    """Softmax of ``logits`` ``(T,)`` within each group of entries sharing ``row`` ``(T,)``: ``(T,)``."""
    peak = logits.new_full((num_rows,), -math.inf).scatter_reduce(0, row, logits.detach(), "amax")  # (R,)
    weight = (logits - peak[row]).exp()  # (T,), every entry's own row has a finite peak
    return weight / logits.new_zeros(num_rows).index_add(0, row, weight)[row]


def masked_softmax(logits: Tensor, valid: Tensor) -> Tensor:
    """Softmax of ``logits`` ``(B, H)`` over each row's ``valid`` entries; 0 elsewhere, and on rows with none."""
    logits = logits.masked_fill(~valid, -math.inf)
    peak = logits.detach().amax(-1, keepdim=True)  # (B, 1), -inf on an empty row
    weight = (logits - torch.where(torch.isfinite(peak), peak, 0.0)).exp()  # (B, H), 0 where not valid
    return weight / weight.sum(-1, keepdim=True).clamp_min(torch.finfo(weight.dtype).tiny)


class SimpleX(nn.Module):
    r"""SimpleX from `"SimpleX: A Simple and Strong Baseline for Collaborative Filtering"
    <https://arxiv.org/abs/2109.12613>`_ (Mao et al., CIKM 2021): a user is its own embedding blended
    with an aggregate of its history :math:`\mathcal{N}_u` (its training items), an item its embedding:

    .. math::
        \mathbf{h}_u = \gamma\,\mathbf{e}_u + (1 - \gamma)\,\mathbf{W}_v
            \sum_{j \in \mathcal{N}_u} \alpha_{uj}\,\mathbf{e}_j, \qquad
        s(u, i) = \cos(\operatorname{dropout}(\mathbf{h}_u), \mathbf{e}_i)

    with the aggregator's weights :math:`\alpha_{uj}`:

    - ``mean``: :math:`1 / |\mathcal{N}_u|`;
    - ``user_attention``: :math:`\operatorname{softmax}_{j \in \mathcal{N}_u}
      \big(\tanh(\mathbf{W}_k \mathbf{e}_j + \mathbf{b}_k)^\top \mathbf{e}_u\big)`;
    - ``self_attention``: :math:`\operatorname{softmax}_{j \in \mathcal{N}_u}
      \big(\tanh(\mathbf{W}_k \mathbf{e}_j + \mathbf{b}_k)^\top \mathbf{w}_q\big)`;
    - ``none``: no history, :math:`\mathbf{h}_u = \mathbf{e}_u` (MF; :math:`\gamma` unused).

    The model returns :math:`\operatorname{dropout}(\mathbf{h}_u)` and :math:`\mathbf{e}_i` unnormalised: the
    cosine is the loss's (``loss=ccl`` declares ``similarity = "cosine"`` and the step normalises both).
    A user with no history gets :math:`\gamma\,\mathbf{e}_u`.

    As the authors' data does, a training row leaves its positive out of its user's history
    (``history.remove(item)`` in their ``convert_*.py``): in training (``users`` and ``items`` given and
    ``model.training``) ``items[b]`` for ``b < len(users)`` is taken as row ``b``'s positive, the layout of
    :func:`recsys_pyg.training.step.score_batch`. Evaluation uses the whole training history.

    ``layout="padded"`` pads each history to a fixed width ``H`` (``max_history``, or the graph's largest degree,
    read once per graph), so a training step never waits on the host for a size; a step holds ``(B, H, d)``
    history embeddings. ``layout="ragged"`` concatenates the histories instead, ``(sum_b |N_{u_b}|, d)``: on
    Gowalla (longest history 811, a batch row's user ~90 on average) that is several times less work, at one
    host read per step, which costs nothing on the CPU (the default there). The graph has no timestamps, so
    ``max_history`` keeps each user's first items in CSR order (ascending item id): a fixed subset, the same in
    training and evaluation, as the authors' fixed truncation is. Padded, on a graph with a few very active
    users, set it: ``H`` is the longest history.

    Scores are cosines, so a step moves an embedding by about ``lr / |e|`` of its direction: the authors'
    ``init_std=1e-4`` goes with their ``lr=1e-4`` (on this project's small synthetic test, 1e-4 with lr 5e-3,
    or 0.1 with lr 1e-3, stays below MostPop after 20 epochs; 1e-4 with 1e-3, or 0.1 with 5e-3, learns).

    Differences from the authors' code: their masked softmax gives the padding weight
    :math:`e^0` in the denominator (rows shorter than the longest are damped), here it is left out;
    they apply ``net_dropout`` after normalising the user vector, so training scores are not exactly cosines,
    here it is applied before the step normalises.

    Args:
        num_users: number of users.
        num_items: number of items.
        embedding_dim: size of each embedding :math:`d` (default 64).
        aggregator: ``"mean"``, ``"user_attention"``, ``"self_attention"`` or ``"none"`` (default ``"mean"``).
        gamma: weight :math:`\gamma` of the user's own embedding, in ``[0, 1]`` (default 0.5).
        net_dropout: dropout probability on the user vector in training (default 0).
        attention_dropout: dropout probability on the attention weights in training (default 0).
        max_history: at most this many history items per user, the first in CSR order (``None``: all).
        init_std: standard deviation of the embeddings' normal initialisation (default 1e-4, the authors').
        chunk_size: history entries (users x ``H``) aggregated per chunk when every user's vector is
            asked for (evaluation), bounding its memory to about ``chunk_size * d`` floats per tensor
            (default ``2 ** 20``).
        layout: ``"padded"`` (each history padded to ``H``: fixed shapes, no sync), ``"ragged"`` (the
            histories concatenated: ``sum |N_u|`` entries, one host read of that size per step) or
            ``"auto"`` (default: ragged on the CPU, padded on an accelerator). Both give the same vectors.

    Shapes:
        - **input:** ``users`` ``(B,)``, ``items`` ``(B',)``, or ``None`` for all.
        - **output:** user vectors ``(B, d)`` or ``(U, d)``, item embeddings ``(B', d)`` or ``(I, d)``.
    """

    def __init__(
        self,
        num_users: int,
        num_items: int,
        embedding_dim: int = 64,
        aggregator: str = "mean",
        gamma: float = 0.5,
        net_dropout: float = 0.0,
        attention_dropout: float = 0.0,
        max_history: int | None = None,
        init_std: float = 1e-4,
        chunk_size: int = 2**20,
        layout: str = "auto",
    ) -> None:
        super().__init__()
        check_sizes(num_users, num_items, embedding_dim)
        if aggregator not in AGGREGATORS:
            raise ValueError(f"aggregator must be one of {', '.join(AGGREGATORS)}; got {aggregator!r}")
        if not 0.0 <= gamma <= 1.0:
            raise ValueError(f"gamma is the weight of the user's own embedding, in [0, 1]; got {gamma!r}")
        for name, p in (("net_dropout", net_dropout), ("attention_dropout", attention_dropout)):
            if not 0.0 <= p < 1.0:
                raise ValueError(f"{name} is a dropout probability in [0, 1); got {p!r}")
        if layout not in LAYOUTS:
            raise ValueError(f"layout must be one of {', '.join(LAYOUTS)}; got {layout!r}")
        if max_history is not None:
            positive_int("max_history", max_history)
        positive_int("chunk_size", chunk_size)
        if not init_std > 0:
            raise ValueError(f"init_std must be > 0, got {init_std!r}")
        self.num_users, self.num_items, self.aggregator = num_users, num_items, aggregator
        self.gamma, self.max_history, self.init_std, self.chunk_size = gamma, max_history, init_std, chunk_size
        self.layout = layout
        self.embedding = nn.Embedding(num_users + num_items, embedding_dim)  # users, then items
        self.dropout = nn.Dropout(net_dropout)
        if aggregator != "none":
            self.W_v = nn.Linear(embedding_dim, embedding_dim, bias=False)
        if aggregator in ("user_attention", "self_attention"):
            self.W_k = nn.Linear(embedding_dim, embedding_dim)
            self.attention_dropout = nn.Dropout(attention_dropout)
        if aggregator == "self_attention":
            self.w_q = nn.Parameter(torch.empty(embedding_dim, 1))
        self._largest: tuple[weakref.ref[BipartiteGraph], int] | None = None  # (graph, its largest degree)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.normal_(self.embedding.weight, std=self.init_std)
        for name in ("W_v", "W_k"):
            if hasattr(self, name):
                getattr(self, name).reset_parameters()
        if hasattr(self, "w_q"):
            nn.init.xavier_normal_(self.w_q)

    def history_width(self, graph: BipartiteGraph) -> int:
        """``H``: ``max_history``, at most the graph's largest user degree (one host read per graph)."""
        if self._largest is None or self._largest[0]() is not graph:
            degree = graph.user_degree
            largest = int(degree.max()) if degree.numel() else 0  # the one device sync, once per graph
            self._largest = (weakref.ref(graph), largest)
        largest = self._largest[1]
        return largest if self.max_history is None else min(self.max_history, largest)

    def ragged(self) -> bool:
        """Whether histories are concatenated (``layout``; ``"auto"``: on the CPU)."""
        return self.layout == "ragged" or (self.layout == "auto" and self.embedding.weight.device.type == "cpu")

    def keys(self, items: Tensor, hist_emb: Tensor) -> Tensor:
        r""":math:`\tanh(\mathbf{W}_k \mathbf{e}_j + \mathbf{b}_k)` for history ``items`` of any shape, given their
        embeddings ``hist_emb`` (``items.shape + (d,)``)."""
        if self.num_items <= items.numel():  # fewer items than history entries: one key per item, gathered
            return torch.tanh(self.W_k(self.embedding.weight[self.num_users :]))[items]
        return torch.tanh(self.W_k(hist_emb))

    def aggregate_ragged(self, user_emb: Tensor, items: Tensor, row: Tensor) -> Tensor:
        r""":meth:`aggregate` on concatenated histories: ``items`` ``(T,)`` of batch rows ``row`` ``(T,)``.
        Returns ``(B, d)``."""
        hist_emb = self.embedding(items + self.num_users)  # (T, d)
        num_rows = user_emb.size(0)
        if self.aggregator == "mean":
            alpha = 1.0 / torch.bincount(row, minlength=num_rows).to(hist_emb.dtype)[row]  # (T,)
        else:
            key = self.keys(items, hist_emb)  # (T, d)
            query = user_emb[row] if self.aggregator == "user_attention" else self.w_q[:, 0]  # (T, d) | (d,)
            alpha = self.attention_dropout(segment_softmax((key * query).sum(-1), row, num_rows))  # (T,)
        pooled = hist_emb.new_zeros(num_rows, hist_emb.size(-1)).index_add(0, row, alpha[:, None] * hist_emb)
        return self.W_v(pooled)  # (B, d), a row with no history: W_v 0 = 0

    def aggregate(self, user_emb: Tensor, items: Tensor, valid: Tensor) -> Tensor:
        r""":math:`\mathbf{W}_v \sum_j \alpha_{uj} \mathbf{e}_j` from the users' embeddings ``(B, d)`` and their
        padded histories, items ``(B, H)`` with ``valid`` ``(B, H)``: ``(B, d)``."""
        hist_emb = self.embedding(items + self.num_users)  # (B, H, d)
        if self.aggregator == "mean":
            alpha = valid.to(hist_emb.dtype) / valid.sum(-1, keepdim=True).clamp_min(1)  # (B, H)
        else:
            key = self.keys(items, hist_emb)  # (B, H, d)
            query = user_emb[:, :, None] if self.aggregator == "user_attention" else self.w_q  # (B, d, 1) | (d, 1)
            alpha = self.attention_dropout(masked_softmax((key @ query).squeeze(-1), valid))  # (B, H)
        return self.W_v(torch.bmm(alpha[:, None, :], hist_emb).squeeze(1))  # (B, d)

    def user_tower(self, graph: BipartiteGraph, users: Tensor, leave_out: Tensor | None = None) -> Tensor:
        r""":math:`\mathbf{h}_u` for ``users`` ``(B,)``, before dropout: ``(B, d)``; row ``b``'s history
        without the item ``leave_out[b]`` when given."""
        user_emb = self.embedding(users)  # (B, d)
        if self.aggregator == "none":
            return user_emb
        if self.ragged():
            # the batch's histories concatenated: (T,) rows and items; T read on the host (one sync)
            row, items = graph.user_items.gather_rows(users, self.max_history)
            if leave_out is not None:
                keep = items != leave_out[row]  # (T,)
                items, row = items[keep], row[keep]
            pooled = self.aggregate_ragged(user_emb, items, row)
            return self.gamma * user_emb + (1 - self.gamma) * pooled
        items, valid = history_window(graph.user_items, users, self.history_width(graph))  # (B, H), (B, H)
        if leave_out is not None:
            valid = valid & (items != leave_out[:, None])
        return self.gamma * user_emb + (1 - self.gamma) * self.aggregate(user_emb, items, valid)

    def forward(
        self, graph: BipartiteGraph, users: Tensor | None = None, items: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        """User vectors ``(B, d)`` and item embeddings ``(B', d)``; every user's / item's when ``None``
        (all users in chunks of about ``chunk_size`` history entries)."""
        check_graph(self, graph)
        item_emb = self.embedding.weight[self.num_users :] if items is None else self.embedding(items + self.num_users)
        if users is None:
            all_users = torch.arange(self.num_users, device=self.embedding.weight.device)
            step = max(1, self.chunk_size // max(self.history_width(graph), 1))  # padded: users x H per chunk
            if self.ragged():  # users in CSR order: a chunk's entries are its indptr span
                step = max(1, self.chunk_size * self.num_users // max(graph.user_items.indices.numel(), 1))
            user_emb = torch.cat([self.user_tower(graph, chunk) for chunk in all_users.split(step)])
        else:
            leave_out = self.training and items is not None and items.numel() >= users.numel()
            positives = items[: users.numel()] if leave_out else None
            user_emb = self.user_tower(graph, users, positives)
        return self.dropout(user_emb), item_emb

    def l2_penalty(self, users: Tensor, items: Tensor) -> Tensor:
        r""":math:`\frac{1}{2B}(\sum_u \|\mathbf{e}_u\|^2 + \sum_i \|\mathbf{e}_i\|^2)` over the batch's rows."""
        return embedding_l2(self.embedding, users, items + self.num_users)

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_largest"] = None  # a weak reference does not pickle; recomputed on demand
        return state

    def __repr__(self) -> str:
        dim = self.embedding.embedding_dim
        return (
            f"{self.__class__.__name__}({self.num_users}, {self.num_items}, embedding_dim={dim}, "
            f"aggregator={self.aggregator!r}, gamma={self.gamma})"
        )
