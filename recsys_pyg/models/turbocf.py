"""Turbo-CF: a polynomial filter on a dense item-item graph, a fit-only model (no gradient steps).

Reference: Park, Shin and Shin, "Turbo-CF: Matrix Decomposition-Free Graph Filtering for Fast Recommendation",
SIGIR 2024; official code: github.com/jindeok/Turbo-CF (``main.py``, ``normalize_sparse_adjacency_matrix`` in
``utils.py``).
"""

from __future__ import annotations

import psutil
import torch
from torch import Tensor, nn

from recsys_pyg.data.graph import BipartiteGraph
from recsys_pyg.models.common import check_graph
from recsys_pyg.models.ease import check_memory, history_times
from recsys_pyg.utils import positive_int

# I x I float32 matrices alive at a run's peak, by filter: the filter, the run's initial copy of the weights and,
# at its one validation, the best weights' new copy (3); during ``fit``, the filter, that initial copy and the powers
# of P the polynomial needs (filter 3: P^2 and P^3, 4). On Gowalla a check of 2 let filter 1 start and the kernel
# killed it at 23.4 GB of a 24 GB machine.
MATRICES = {1: 3, 2: 3, 3: 4}


def inverse_power(degree: Tensor, power: float) -> Tensor:
    """``degree ** power`` with 0 where the degree is 0 (the official code leaves ``inf`` there, so an item or
    user without training interactions would turn its row and column of ``P`` into NaN)."""
    return torch.where(degree > 0, degree.float().clamp_min(1).pow(power), torch.zeros_like(degree, dtype=torch.float))


class TurboCF(nn.Module):
    r"""Turbo-CF from `"Turbo-CF: Matrix Decomposition-Free Graph Filtering for Fast Recommendation"
    <https://arxiv.org/abs/2404.14243>`_ (Park et al., SIGIR 2024): a low-pass polynomial of an item-item
    graph whose entries are raised to a power, no singular vectors,

    .. math::
        \bar{R} = D_U^{-\alpha} R\, D_I^{\alpha - 1}, \qquad
        \bar{P} = \big(\bar{R}^\top \bar{R}\big)^{\circ s}, \qquad
        \hat{\mathbf{y}}_u = \mathbf{r}_u\, f(\bar{P}), \quad
        f(P) = P \;|\; 2P - P^2 \;|\; P + 0.01\,(-P^3 + 10 P^2 - 29 P)

    for ``filter`` 1 (linear), 2 (second order) and 3 (a polynomial approximation of the ideal low-pass
    filter), :math:`\circ s` the entry-wise power. The entry-wise power makes :math:`\bar{P}` a dense
    ``(I, I)`` matrix that no sparse factorisation gives back, so :math:`f(\bar{P})` is a buffer, as EASE's
    :math:`B`: the constructor refuses, with the numbers, when the ``I x I`` matrices a run holds at its peak
    (:data:`MATRICES`: 3 for filters 1 and 2, 4 for filter 3) exceed the available memory.

    Args:
        num_users, num_items: sizes of the data.
        alpha: the normalisation's split between users and items (official default 0.5; Gowalla 0.6).
        power: the entry-wise power :math:`s` (official default 1; Gowalla 0.7).
        filter: 1, 2 or 3 (official default 1; Gowalla 1, Yelp2018 2).
        chunk_size: items per block of :math:`\bar{R}^\top \bar{R}`; memory ``num_users * chunk_size`` floats.

    Shapes:
        - **fit:** the training graph
        - **score:** users ``(C,)`` -> ``(C, I)``
    """

    fit_only = True

    def __init__(
        self,
        num_users: int,
        num_items: int,
        alpha: float = 0.5,
        power: float = 1.0,
        filter: int = 1,
        chunk_size: int = 1024,
    ) -> None:
        super().__init__()
        self.num_users, self.num_items = positive_int("num_users", num_users), positive_int("num_items", num_items)
        if filter not in MATRICES:
            raise ValueError(f"filter must be 1 (linear), 2 (second order) or 3 (ideal low-pass approximation), "
                             f"got {filter!r}")  # fmt: skip
        if not 0.0 <= alpha <= 1.0 or power <= 0:
            raise ValueError(f"alpha must be in [0, 1] and power > 0, got alpha={alpha!r}, power={power!r}")
        self.alpha, self.power, self.filter = float(alpha), float(power), int(filter)
        self.chunk_size = positive_int("chunk_size", chunk_size)
        needed = MATRICES[self.filter] * num_items**2 * 4
        check_memory(needed, psutil.virtual_memory().available, num_items, "host", model=f"Turbo-CF (filter {filter})")
        self.register_buffer("weight", torch.zeros(num_items, num_items))  # (I, I): f(P)
        self.graph: BipartiteGraph | None = None

    def reset_parameters(self) -> None:
        self.weight.zero_()

    def __repr__(self) -> str:
        return (f"TurboCF({self.num_users}, {self.num_items}, alpha={self.alpha}, power={self.power}, "
                f"filter={self.filter})")  # fmt: skip

    @torch.no_grad()
    def fit(self, graph: BipartiteGraph) -> None:
        """:math:`f(\\bar{P})` from the training interactions, :math:`\\bar{P}` built in the buffer's storage."""
        check_graph(self, graph)
        device = self.weight.device
        if device.type == "cuda":
            needed = (MATRICES[self.filter] - 1) * self.num_items**2 * 4
            check_memory(needed, torch.cuda.mem_get_info(device)[0], self.num_items, str(device), model="Turbo-CF")
        self.graph = graph
        user_scale = inverse_power(graph.user_degree.to(device), -self.alpha)  # (U,) D_U^-alpha
        item_scale = inverse_power(graph.item_degree.to(device), self.alpha - 1.0)  # (I,) D_I^(alpha-1)
        p, r_t = self.weight, graph.item_user_matrix  # (I, I), (I, U) 0/1
        for start in range(0, self.num_items, self.chunk_size):
            stop = min(start + self.chunk_size, self.num_items)
            block = torch.zeros(graph.num_users, stop - start, device=device)  # R_bar[:, start:stop] * D_U^-alpha
            in_block = (graph.item >= start) & (graph.item < stop)
            u, i = graph.user[in_block], graph.item[in_block]
            block[u, i - start] = user_scale[u].pow(2) * item_scale[i]
            p[:, start:stop] = (r_t @ block) * item_scale[:, None]  # (I, c): R_bar^T R_bar[:, start:stop]
        p.clamp_(min=0).pow_(self.power)  # entry-wise (P >= 0; the clamp removes -0.0 from the products)
        if self.filter == 2:  # 2P - P^2
            square = p @ p
            p.mul_(2).sub_(square)
        elif self.filter == 3:  # P + 0.01 (-P^3 + 10 P^2 - 29 P) = 0.71 P + 0.1 P^2 - 0.01 P^3
            square = p @ p
            cube = square @ p
            p.mul_(0.71).add_(square, alpha=0.1).sub_(cube, alpha=0.01)

    @torch.no_grad()
    def score(self, users: Tensor) -> Tensor:
        """:math:`\\mathbf{r}_u f(\\bar{P})` for ``users`` ``(C,)``, ``(C, I)``: one sparse-dense product."""
        if self.graph is None:
            raise RuntimeError("TurboCF.score before fit(graph): fit the model first")
        return history_times(self.graph, users, self.weight)
