"""The generic AGGREGATE/COMBINE layer: mean of the neighbours, concatenated with the node itself."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.nn import MessagePassing
from torch_geometric.typing import Adj, OptTensor

from recsys_pyg.data.graph import sparse_csr
from recsys_pyg.models.ngcf_conv import xavier_linear_


def row_mean_spmm(adj_t: Tensor, x: Tensor) -> Tensor:
    """Mean of ``x`` over each row's stored entries of a sparse ``adj_t`` ``(N, M)``: ``(N, F)``.

    Only the sparsity pattern counts (values are ignored); empty rows give zeros. The mean is
    a sum over a 0/1 copy of the pattern divided by the row degree, so a non-symmetric
    :math:`D^{-1}A` never goes through :func:`~recsys_pyg.models.propagation.spmm` with ``adj`` as its own transpose.
    """
    if adj_t.layout == torch.sparse_coo:
        adj_t = adj_t.coalesce().to_sparse_csr()
    if adj_t.layout != torch.sparse_csr:
        raise TypeError(f"adj_t must be a sparse COO or CSR tensor, got layout {adj_t.layout}")
    crow, col = adj_t.crow_indices(), adj_t.col_indices()
    deg = (crow[1:] - crow[:-1]).clamp(min=1).to(x.dtype)  # (N,)
    pattern = sparse_csr(crow, col, torch.ones_like(col, dtype=x.dtype), adj_t.shape)
    return (pattern @ x) / deg[:, None]  # (N, F)


class MeanConcatConv(MessagePassing):
    r"""The generic GNN layer with AGGREGATE = mean over the neighbours and COMBINE = a
    linear map of the node concatenated with that mean (GraphSAGE-mean, `Hamilton et al.,
    NeurIPS 2017 <https://arxiv.org/abs/1706.02216>`_), the form NGCF specialises:

    .. math::
        \mathbf{h}_v' = \mathrm{ReLU}\Big(\mathbf{W} \big[\mathbf{h}_v \,\big\|\,
        \frac{1}{|\mathcal{N}(v)|} \sum_{u \in \mathcal{N}(v)} \mathbf{h}_u\big] + \mathbf{b}\Big)

    The mean is unweighted: ``edge_weight`` is accepted for the layer interface and ignored,
    and of a sparse adjacency only its pattern is used (see :func:`row_mean_spmm`). Nodes
    without neighbours get a zero mean.

    Args:
        in_channels: size of each input embedding.
        out_channels: size of each output embedding.
        bias: whether the linear map has a bias (default True).

    Shapes:
        - **input:** node features :math:`(|\mathcal{V}|, F_{in})`, a sparse adjacency
          :math:`(|\mathcal{V}|, |\mathcal{V}|)` or edge indices :math:`(2, |\mathcal{E}|)`
        - **output:** node features :math:`(|\mathcal{V}|, F_{out})`
    """

    def __init__(self, in_channels: int, out_channels: int, bias: bool = True) -> None:
        super().__init__(aggr="mean")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.lin = nn.Linear(2 * in_channels, out_channels, bias=bias)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        super().reset_parameters()
        xavier_linear_(self.lin)

    def forward(self, x: Tensor, edge_index: Adj, edge_weight: OptTensor = None) -> Tensor:
        mean = self.propagate(edge_index, x=x)  # (N, F_in)
        return F.relu(self.lin(torch.cat([x, mean], dim=-1)))  # (N, F_out)

    def message(self, x_j: Tensor) -> Tensor:
        return x_j  # (E, F_in)

    def message_and_aggregate(self, adj_t: Adj, x: Tensor) -> Tensor:
        return row_mean_spmm(adj_t, x)  # type: ignore[arg-type]

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.in_channels}, {self.out_channels})"
