"""XSimGCL: SimGCL with one noisy propagation per step, contrasting its final and layer-l* embeddings.

Reference: Yu et al., "XSimGCL: Towards Extremely Simple Graph Contrastive Learning for
Recommendation", IEEE TKDE 2023; official code: SELFRec, ``model/graph/XSimGCL.py``.
"""

from __future__ import annotations

from typing import Any, ClassVar

from torch import Tensor

from recsys_pyg.data.graph import BipartiteGraph
from recsys_pyg.models.common import select_nodes
from recsys_pyg.models.simgcl import SimGCL, contrast


class XSimGCL(SimGCL):
    r"""XSimGCL from `"XSimGCL: Towards Extremely Simple Graph Contrastive Learning for
    Recommendation" <https://arxiv.org/abs/2209.02544>`_ (Yu et al., TKDE 2023): in training, one
    propagation with SimGCL's noise at every layer serves both losses,

    .. math::
        \mathbf{E}'^{(k)} = \tilde{\mathbf{A}}\mathbf{E}'^{(k-1)} + \boldsymbol{\Delta}^{(k)}, \qquad
        \mathbf{E}' = \sum_k \alpha_k \mathbf{E}'^{(k)}

        \mathcal{L}_{cl} = \lambda\left(\operatorname{InfoNCE}_\tau(\mathbf{E}'_{\mathcal{B}_U},
        \mathbf{E}'^{(l^*)}_{\mathcal{B}_U}) + \operatorname{InfoNCE}_\tau(\mathbf{E}'_{\mathcal{B}_I},
        \mathbf{E}'^{(l^*)}_{\mathcal{B}_I})\right)

    the ranking loss on the noisy final embeddings :math:`\mathbf{E}'`, the contrast between them and the
    layer-:math:`l^*` embeddings over the batch's distinct users and positive items. The training
    ``forward`` keeps both on the module for :meth:`auxiliary_loss` (called next in the same step);
    evaluation (``model.eval()``) propagates without noise. With ``eps=0`` the forward equals
    :class:`LightGCN`'s with the same ``alpha`` and weights.

    Args:
        num_users, num_items, embedding_dim, num_layers, alpha, init_std: as :class:`SimGCL` (same
            defaults; after ``embedding_dim``, by keyword).
        cl_layer: the layer :math:`l^*` contrasted with the final embeddings, ``0..K`` (default 1).
        eps: norm :math:`\epsilon` of the noise added per layer (default 0.2).
        tau: InfoNCE temperature :math:`\tau` (default 0.15).
        cl_weight: weight :math:`\lambda` of the contrastive term (default 0.2).

    ``eps``, ``tau`` and ``cl_weight`` default to the official Yelp2018 configuration
    (:attr:`DEFAULTS`), the other arguments are :class:`SimGCL`'s, passed on unchanged.

    Shapes:
        - **forward:** users ``(B,)``, items ``(B',)`` -> ``(B, d)``, ``(B', d)`` (all when ``None``)
        - **auxiliary_loss:** users ``(B,)``, positive items ``(B,)`` -> scalar
    """

    #: :class:`SimGCL` arguments whose defaults differ here: the official SELFRec configuration (Yelp2018)
    DEFAULTS: ClassVar[dict[str, float]] = {"eps": 0.2, "tau": 0.15, "cl_weight": 0.2}

    def __init__(
        self, num_users: int, num_items: int, embedding_dim: int = 64, *, cl_layer: int = 1, **kwargs: Any
    ) -> None:
        super().__init__(num_users, num_items, embedding_dim, **(self.DEFAULTS | kwargs))
        if int(cl_layer) != cl_layer or not 0 <= cl_layer <= self.num_layers:
            raise ValueError(f"cl_layer must be a layer in 0..num_layers={self.num_layers}, got {cl_layer!r}")
        self.cl_layer = int(cl_layer)
        self._views: tuple[Tensor, Tensor] | None = None  # the last training forward's (final, layer l*)

    def noisy_views(self, graph: BipartiteGraph) -> tuple[Tensor, Tensor]:
        """One noisy propagation: the final embeddings and layer :math:`l^*`'s, ``(U + I, d)`` each."""
        final, layer = self.propagate_views(graph.adj, self.eps, self.cl_layer)
        assert layer is not None
        return final, layer

    def forward(
        self, graph: BipartiteGraph, users: Tensor | None = None, items: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        """Embeddings of ``users`` ``(B, d)`` and ``items`` ``(B', d)``: noisy in training, exact in evaluation."""
        if not self.training:
            self._views = None
            return super().forward(graph, users, items)
        self._views = self.noisy_views(graph)
        return select_nodes(self._views[0], self.num_users, users, items)

    def auxiliary_loss(self, graph: BipartiteGraph, users: Tensor, items: Tensor) -> Tensor:
        """:math:`\\lambda` times the InfoNCE between the final and layer-:math:`l^*` embeddings of the step's
        forward, over the batch's distinct users and items."""
        views, self._views = self._views, None  # used once: the step's autograd graph is not held past it
        if not self.cl_weight:
            return self.embedding.weight.new_zeros(())
        if views is None:  # called without a training forward first
            views = self.noisy_views(graph)
        return self.cl_weight * contrast(views[0], views[1], users, items, self.num_users, self.tau)

    def __repr__(self) -> str:
        return super().__repr__()[:-1] + f", cl_layer={self.cl_layer})"
