"""SimGCL: LightGCN plus a contrastive term between two noise-perturbed views of the graph.

Reference: Yu et al., "Are Graph Augmentations Necessary? Simple Graph Contrastive Learning for
Recommendation", SIGIR 2022; official code: SELFRec, ``model/graph/SimGCL.py``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from recsys_pyg.data.graph import BipartiteGraph
from recsys_pyg.losses import info_nce
from recsys_pyg.models.lightgcn import LightGCN
from recsys_pyg.utils import positive_int


def perturb(x: Tensor, eps: float) -> Tensor:
    r""":math:`\mathbf{x} + \epsilon\,\operatorname{sign}(\mathbf{x}) \odot \mathbf{u} / \|\mathbf{u}\|`,
    :math:`\mathbf{u} \sim U(0, 1)^d` per row: a random vector of norm ``eps`` in the row's orthant.

    Drawn from torch's global generator (seeded by the run), on ``x``'s device.
    """
    noise = F.normalize(torch.rand_like(x), dim=-1)  # (N, d), unit rows
    return x + eps * torch.sign(x) * noise


def first_occurrence(ids: Tensor) -> Tensor:
    """``(n,)`` bool, True at one position of each distinct id: a ``unique`` of fixed size, so no device sync."""
    order = torch.argsort(ids, stable=True)
    sorted_ids = ids[order]
    new = torch.ones_like(ids, dtype=torch.bool)
    new[1:] = sorted_ids[1:] != sorted_ids[:-1]
    first = torch.empty_like(new)
    first[order] = new
    return first


def contrast_side(view1: Tensor, view2: Tensor, ids: Tensor, offset: int, size: int, tau: float) -> Tensor:
    """InfoNCE between two views over the distinct ``ids`` of one side (rows ``offset .. offset + size``).

    Over the batch's rows, each id kept once, or, when the side has fewer nodes than the batch has rows,
    over all its nodes with the batch's kept: the smaller square of logits, and no data-dependent shape.
    """
    if ids.numel() > size:
        keep = torch.zeros(size, dtype=torch.bool, device=ids.device)
        keep[ids] = True
        return info_nce(view1[offset : offset + size], view2[offset : offset + size], tau, keep)
    return info_nce(view1[ids + offset], view2[ids + offset], tau, first_occurrence(ids))


def contrast(view1: Tensor, view2: Tensor, users: Tensor, items: Tensor, num_users: int, tau: float) -> Tensor:
    """InfoNCE between two views ``(U + I, d)`` over the batch's distinct users, plus over its distinct items."""
    num_items = view1.shape[0] - num_users
    return contrast_side(view1, view2, users, 0, num_users, tau) + contrast_side(
        view1, view2, items, num_users, num_items, tau
    )


class SimGCL(LightGCN):
    r"""SimGCL from `"Are Graph Augmentations Necessary? Simple Graph Contrastive Learning for
    Recommendation" <https://arxiv.org/abs/2112.08679>`_ (Yu et al., SIGIR 2022): a LightGCN encoder
    whose contrastive views add uniform noise of norm :math:`\epsilon` after every layer,

    .. math::
        \mathbf{E}'^{(k)} = \tilde{\mathbf{A}}\mathbf{E}'^{(k-1)} + \boldsymbol{\Delta}^{(k)}, \qquad
        \boldsymbol{\Delta}^{(k)}_i = \epsilon\,\operatorname{sign}(\mathbf{e}'^{(k)}_i) \odot
        \frac{\mathbf{u}_i}{\|\mathbf{u}_i\|},\ \mathbf{u}_i \sim U(0, 1)^d

        \mathcal{L}_{cl} = \lambda\left(\operatorname{InfoNCE}_\tau(\mathbf{E}'_{\mathcal{B}_U},
        \mathbf{E}''_{\mathcal{B}_U}) + \operatorname{InfoNCE}_\tau(\mathbf{E}'_{\mathcal{B}_I},
        \mathbf{E}''_{\mathcal{B}_I})\right)

    over the batch's distinct users :math:`\mathcal{B}_U` and positive items :math:`\mathcal{B}_I`, each
    view combined over layers like the clean one. ``forward`` is the clean LightGCN view (the ranking loss
    and evaluation use it); :meth:`auxiliary_loss` propagates the two noisy views. With ``eps=0`` the
    forward equals :class:`LightGCN`'s with the same ``alpha`` and weights.

    Args:
        num_users, num_items: sizes of the data.
        embedding_dim: size of each embedding (default 64).
        num_layers: propagation layers :math:`K`, at least 1 (default 2, the official configuration).
        eps: norm :math:`\epsilon` of the noise added per layer (default 0.1).
        tau: InfoNCE temperature :math:`\tau` (default 0.2).
        cl_weight: weight :math:`\lambda` of the contrastive term (default 0.5).
        alpha: layer weights, ``K + 1`` numbers or one; ``None`` averages layers :math:`1..K` without the
            layer-0 embedding, as the official code (default).
        init_std: standard deviation of the normal initialisation (default 0.1).

    Shapes:
        - **forward:** users ``(B,)``, items ``(B',)`` -> ``(B, d)``, ``(B', d)`` (all when ``None``)
        - **auxiliary_loss:** users ``(B,)``, positive items ``(B,)`` -> scalar
    """

    def __init__(
        self,
        num_users: int,
        num_items: int,
        embedding_dim: int = 64,
        num_layers: int = 2,
        eps: float = 0.1,
        tau: float = 0.2,
        cl_weight: float = 0.5,
        alpha: float | Sequence[float] | None = None,
        init_std: float = 0.1,
    ) -> None:
        num_layers = positive_int("num_layers", num_layers)
        if alpha is None:  # the mean of layers 1..K: the official encoder leaves the ego embedding out
            alpha = [0.0] + [1.0 / num_layers] * num_layers
        super().__init__(num_users, num_items, embedding_dim, num_layers, alpha, init_std)
        for name, value in (("eps", eps), ("cl_weight", cl_weight)):
            if value < 0:
                raise ValueError(f"{name} must be >= 0, got {value}")
        if tau <= 0:
            raise ValueError(f"tau must be > 0, got {tau}")
        self.eps, self.tau, self.cl_weight = float(eps), float(tau), float(cl_weight)

    def propagate_views(self, adj: Tensor, eps: float, keep_layer: int | None = None) -> tuple[Tensor, Tensor | None]:
        """The layer combination with ``eps`` noise after each propagation ``(U + I, d)``, and the (noisy)
        layer ``keep_layer`` when asked for (``None`` otherwise)."""
        x = self.embedding.weight
        out, kept = x * self.alpha[0], x if keep_layer == 0 else None
        for k in range(1, self.num_layers + 1):
            x = self.conv(x, adj)
            if eps:
                x = perturb(x, eps)
            out = out + x * self.alpha[k]
            if k == keep_layer:
                kept = x
        return out, kept

    def auxiliary_loss(self, graph: BipartiteGraph, users: Tensor, items: Tensor) -> Tensor:
        """:math:`\\lambda` times the InfoNCE between two noisy views, over the batch's distinct users and items."""
        if not self.cl_weight:
            return self.embedding.weight.new_zeros(())
        view1, _ = self.propagate_views(graph.adj, self.eps)
        view2, _ = self.propagate_views(graph.adj, self.eps)
        return self.cl_weight * contrast(view1, view2, users, items, self.num_users, self.tau)

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}({self.num_users}, {self.num_items}, embedding_dim="
            f"{self.embedding.embedding_dim}, num_layers={self.num_layers}, eps={self.eps}, tau={self.tau}, "
            f"cl_weight={self.cl_weight})"
        )
