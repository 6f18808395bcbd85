"""PinSAGE's convolution: importance pooling of transformed neighbours, concat, dense, normalise."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.nn import MessagePassing
from torch_geometric.typing import Adj, OptTensor, PairTensor


class PinSAGEConv(MessagePassing):
    r"""The convolution of `"Graph Convolutional Neural Networks for Web-Scale Recommender
    Systems" <https://arxiv.org/abs/1806.01973>`_ (Ying et al., KDD 2018, Algorithm 1):

    .. math::
        \mathbf{n}_v = \sum_{u \in \mathcal{N}(v)} \alpha_{uv}\,
            \mathrm{ReLU}(\mathbf{Q} \mathbf{h}_u + \mathbf{q}), \qquad
        \mathbf{z}_v = \frac{\mathrm{ReLU}(\mathbf{W} [\mathbf{h}_v \,\|\, \mathbf{n}_v] + \mathbf{w})}
            {\|\mathrm{ReLU}(\mathbf{W} [\mathbf{h}_v \,\|\, \mathbf{n}_v] + \mathbf{w})\|_2}

    with :math:`\alpha_{uv}` the importance weights of :math:`v`'s random-walk neighbourhood
    (normalised visit counts, summing to 1): importance pooling is the weighted sum.

    Args:
        in_channels: size of :math:`\mathbf{h}`; a pair ``(source, target)`` for bipartite inputs.
        hidden_channels: size of the transformed neighbour messages :math:`\mathbf{Q}\mathbf{h}_u`.
        out_channels: size of :math:`\mathbf{z}`.
        normalize: L2-normalise the output (default ``True``, as the paper).

    Shapes:
        - **input:** node features :math:`(|\mathcal{V}|, F_{in})` or a pair
          :math:`((|\mathcal{V}_s|, F_{in}), (|\mathcal{V}_t|, F_{in}))`, edge indices
          :math:`(2, |\mathcal{E}|)` (neighbour -> node) and importance weights :math:`(|\mathcal{E}|)`,
          or a sparse ``(|V_t|, |V_s|)`` matrix holding the weights
        - **output:** :math:`(|\mathcal{V}_t|, F_{out})`
    """

    def __init__(
        self, in_channels: int | tuple[int, int], hidden_channels: int, out_channels: int, normalize: bool = True
    ) -> None:
        super().__init__(aggr="add")
        src, dst = (in_channels, in_channels) if isinstance(in_channels, int) else in_channels
        self.in_channels, self.hidden_channels, self.out_channels = in_channels, hidden_channels, out_channels
        self.normalize = normalize
        self.lin_q = nn.Linear(src, hidden_channels)  # Q, q
        self.lin_w = nn.Linear(dst + hidden_channels, out_channels)  # W, w
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.lin_q.reset_parameters()
        self.lin_w.reset_parameters()

    def forward(self, x: Tensor | PairTensor, edge_index: Adj, edge_weight: OptTensor = None) -> Tensor:
        x_src, x_dst = (x, x) if isinstance(x, Tensor) else x
        msg = F.relu(self.lin_q(x_src))  # (N_s, H)
        n = self.propagate(
            edge_index, x=(msg, x_dst), edge_weight=edge_weight, size=(x_src.shape[0], x_dst.shape[0])
        )  # (N_t, H)
        z = F.relu(self.lin_w(torch.cat([x_dst, n], dim=-1)))  # (N_t, F_out)
        return F.normalize(z, dim=-1) if self.normalize else z

    def message(self, x_j: Tensor, edge_weight: OptTensor) -> Tensor:
        return x_j if edge_weight is None else edge_weight.view(-1, 1) * x_j  # (E, H)

    def message_and_aggregate(self, adj_t: Adj, x: PairTensor) -> Tensor:  # type: ignore[override]
        return adj_t @ x[0]  # (N_t, N_s) @ (N_s, H)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.in_channels}, {self.hidden_channels}, {self.out_channels})"
