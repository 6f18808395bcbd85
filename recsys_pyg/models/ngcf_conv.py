"""NGCF's embedding-propagation layer."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.nn import MessagePassing
from torch_geometric.typing import Adj, OptTensor

from recsys_pyg.models.propagation import spmm


def xavier_linear_(linear: nn.Linear) -> None:
    """Xavier-uniform weight *and* bias, as NGCF's code initialises ``W`` and its ``b`` of shape ``(1, out)``."""
    nn.init.xavier_uniform_(linear.weight)
    if linear.bias is not None:
        bound = math.sqrt(6.0 / (1 + linear.out_features))  # xavier_uniform_ of a (1, out) matrix
        nn.init.uniform_(linear.bias, -bound, bound)


class NGCFConv(MessagePassing):
    r"""The embedding propagation of `"Neural Graph Collaborative Filtering"
    <https://arxiv.org/abs/1905.08108>`_ (Wang et al., SIGIR 2019), Eq. (3)-(4):

    .. math::
        \mathbf{e}_u' = \mathrm{LeakyReLU}\Big(\mathbf{W}_1 \big(\mathbf{e}_u + \sum_{i \in \mathcal{N}_u}
        p_{ui}\, \mathbf{e}_i\big) + \mathbf{W}_2 \sum_{i \in \mathcal{N}_u} p_{ui}\,
        (\mathbf{e}_i \odot \mathbf{e}_u)\Big), \qquad
        p_{ui} = \frac{1}{\sqrt{|\mathcal{N}_u||\mathcal{N}_i|}}

    followed by message dropout on the output, as the authors' code does. In matrix form
    :math:`\mathbf{W}_1 (\mathbf{E} + \tilde{\mathbf{A}}\mathbf{E}) + \mathbf{W}_2
    ((\tilde{\mathbf{A}}\mathbf{E}) \odot \mathbf{E})`: one SpMM serves both terms. The self-connection
    enters the :math:`\mathbf{W}_1` term only, and one LeakyReLU acts on the sum, as in the paper (the
    TensorFlow code applies one to each term). :math:`\mathbf{W}_1, \mathbf{W}_2` carry biases, as in the code.

    Given the cached normalised adjacency as a sparse tensor, checked and marked symmetric, the
    backward pass of the SpMM is another SpMM (:func:`~recsys_pyg.models.propagation.spmm`; an
    unmarked sparse matrix is refused). With an
    edge list, pass the :math:`p_{ui}` as ``edge_weight``; no normalisation is computed here.

    Args:
        in_channels: size of each input embedding.
        out_channels: size of each output embedding.
        message_dropout: dropout probability on the layer's output, training mode only (default 0.1).
        negative_slope: slope of the LeakyReLU (default 0.2, as the paper).
        bias: whether :math:`\mathbf{W}_1` and :math:`\mathbf{W}_2` have biases (default True).

    Shapes:
        - **input:** node features :math:`(|\mathcal{V}|, F_{in})`, a symmetric sparse
          adjacency :math:`(|\mathcal{V}|, |\mathcal{V}|)` or edge indices
          :math:`(2, |\mathcal{E}|)` with edge weights :math:`(|\mathcal{E}|)`
        - **output:** node features :math:`(|\mathcal{V}|, F_{out})`
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        message_dropout: float = 0.1,
        negative_slope: float = 0.2,
        bias: bool = True,
    ) -> None:
        super().__init__(aggr="add")
        if not 0.0 <= message_dropout < 1.0:
            raise ValueError(f"message_dropout must be in [0, 1), got {message_dropout}")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.message_dropout, self.negative_slope = message_dropout, negative_slope
        self.lin_sum = nn.Linear(in_channels, out_channels, bias=bias)  # W1
        self.lin_bi = nn.Linear(in_channels, out_channels, bias=bias)  # W2
        self.reset_parameters()

    def reset_parameters(self) -> None:
        super().reset_parameters()
        xavier_linear_(self.lin_sum)
        xavier_linear_(self.lin_bi)

    def forward(self, x: Tensor, edge_index: Adj, edge_weight: OptTensor = None) -> Tensor:
        side, bi = self.propagate(edge_index, x=x, edge_weight=edge_weight).chunk(2, dim=-1)  # (N, F), (N, F)
        out = self.lin_sum(x + side) + self.lin_bi(bi)  # (N, F_out)
        out = F.leaky_relu(out, self.negative_slope)
        return F.dropout(out, self.message_dropout, self.training)

    def message(self, x_i: Tensor, x_j: Tensor, edge_weight: OptTensor) -> Tensor:
        msg = x_j if edge_weight is None else edge_weight.view(-1, 1) * x_j  # (E, F): p_ui e_i
        return torch.cat([msg, x_i * msg], dim=-1)  # (E, 2F): [p_ui e_i, p_ui e_i ⊙ e_u]

    def message_and_aggregate(self, adj_t: Adj, x: Tensor) -> Tensor:
        side = spmm(adj_t, x)  # type: ignore[arg-type]  # (N, F): refused unless marked symmetric
        return torch.cat([side, side * x], dim=-1)  # (N, 2F)

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}({self.in_channels}, {self.out_channels}, "
            f"message_dropout={self.message_dropout})"
        )
