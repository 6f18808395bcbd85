"""LightGCN's propagation layer."""

from __future__ import annotations

from torch import Tensor
from torch_geometric.nn import MessagePassing
from torch_geometric.typing import Adj, OptTensor

from recsys_pyg.models.propagation import spmm


class LightGCNConv(MessagePassing):
    r"""The parameter-free propagation of `"LightGCN: Simplifying and Powering Graph
    Convolution Network for Recommendation" <https://arxiv.org/abs/2002.02126>`_:

    .. math::
        \mathbf{e}_i^{(k+1)} = \sum_{j \in \mathcal{N}(i)}
        \frac{1}{\sqrt{|\mathcal{N}(i)|}\sqrt{|\mathcal{N}(j)|}} \mathbf{e}_j^{(k)}

    Same math as PyG's :class:`~torch_geometric.nn.conv.LGConv` with ``normalize=False``,
    but given a sparse adjacency the backward pass is one more SpMM with its transpose (see
    :mod:`recsys_pyg.models.propagation`), about 2x faster. The transpose is explicit: pass it
    as ``transpose`` (a neighbour-sampled block, see :mod:`recsys_pyg.data.neighbor_sampling`;
    any ``D^-a A D^-b``), or give a matrix checked by
    :func:`~recsys_pyg.data.graph.mark_symmetric` (the cached normalised adjacency is); any
    other sparse matrix is refused. With an edge list, pass the normalised weights as
    ``edge_weight``; no normalisation is computed here.

    Shapes:
        - **input:** node features :math:`(|\mathcal{V}|, F)`, a symmetric sparse
          adjacency :math:`(|\mathcal{V}|, |\mathcal{V}|)` or edge indices
          :math:`(2, |\mathcal{E}|)` with edge weights :math:`(|\mathcal{E}|)`,
          optionally the sparse adjacency's transpose
        - **output:** node features :math:`(|\mathcal{V}|, F)`
    """

    def __init__(self) -> None:
        super().__init__(aggr="add")

    def reset_parameters(self) -> None:
        """No parameters: kept for the layer interface."""

    def forward(self, x: Tensor, edge_index: Adj, edge_weight: OptTensor = None, transpose: OptTensor = None) -> Tensor:
        return self.propagate(edge_index, x=x, edge_weight=edge_weight, transpose=transpose)

    def message(self, x_j: Tensor, edge_weight: OptTensor) -> Tensor:
        return x_j if edge_weight is None else edge_weight.view(-1, 1) * x_j  # (E, F)

    def message_and_aggregate(self, adj_t: Adj, x: Tensor, transpose: OptTensor) -> Tensor:
        return spmm(adj_t, x, transpose)  # type: ignore[arg-type]
