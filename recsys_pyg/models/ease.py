"""EASE^R: a closed-form item-item linear autoencoder, a fit-only model (no gradient steps).

Reference: Steck, "Embarrassingly Shallow Autoencoders for Sparse Data", WWW 2019.
"""

from __future__ import annotations

import psutil
import torch
from torch import Tensor, nn

from recsys_pyg.data.graph import BipartiteGraph, sparse_csr
from recsys_pyg.models.common import check_graph
from recsys_pyg.models.gfcf import history_entries
from recsys_pyg.utils import positive_int

GIB = 2**30


HEADROOM = 0.75  # of the available memory: the data, the graph and evaluation need the rest


def check_memory(needed: int, available: int, num_items: int, where: str, model: str = "EASE") -> None:
    """Refuse, with the numbers and the alternatives, an ``I x I`` model that does not fit in ``HEADROOM``
    of the available memory (on Gowalla, 41k items, 20 GiB of a 24 GiB machine passed a bare check and
    left the machine 1 GiB: the headroom refuses it)."""
    if needed > HEADROOM * available:
        raise ValueError(
            f"{model} with {num_items} items needs about {needed / GIB:.1f} GiB of {where} memory (dense "
            f"{num_items} x {num_items} float32 matrices) but {available / GIB:.1f} GiB are available "
            f"(at most {HEADROOM:.0%} of it is used for them): use model=gfcf or model=itemknn, whose memory "
            f"grows linearly with the items"
        )


def history_times(graph: BipartiteGraph, users: Tensor, weight: Tensor) -> Tensor:
    """``X_users @ weight`` for the 0/1 training rows of ``users`` ``(C,)`` and an ``(I, I)`` item matrix, ``(C, I)``:
    one sparse-dense product (EASE's and Turbo-CF's scores)."""
    row, col = history_entries(graph, users)  # sorted by row
    device = weight.device
    crow = torch.zeros(users.numel() + 1, dtype=torch.long, device=device)
    crow[1:] = torch.cumsum(torch.bincount(row, minlength=users.numel()), 0)
    history = sparse_csr(crow, col, torch.ones(col.numel(), device=device), (users.numel(), weight.shape[0]))
    return history @ weight  # (C, I)


class EASE(nn.Module):
    r"""EASE\ :sup:`R` from `"Embarrassingly Shallow Autoencoders for Sparse Data"
    <https://arxiv.org/abs/1905.03375>`_ (Steck, WWW 2019): the item-item weights that best rebuild
    each user's row from the user's other items, with L2 weight :math:`\lambda`, in closed form,

    .. math::
        P = (X^\top X + \lambda I)^{-1}, \qquad
        B_{ij} = -\frac{P_{ij}}{P_{jj}}\ (i \neq j), \quad B_{jj} = 0, \qquad
        \hat{\mathbf{y}}_u = \mathbf{x}_u B

    with :math:`X` the ``(U, I)`` 0/1 training interactions. :math:`B` is a dense ``(I, I)`` buffer
    (``best.pt`` holds it): the model is for catalogues of up to some tens of thousands of items. The
    constructor refuses, with the numbers, when about :math:`3 I^2` floats (:math:`B`, the run's copy
    of the best weights, the Cholesky factor during ``fit``) exceed the available memory; on a GPU,
    ``fit`` checks the device's free memory for the factor.

    Args:
        num_users, num_items: sizes of the data.
        reg: L2 weight :math:`\lambda` (default 500, the paper's value on ML-20M and Netflix).
        chunk_size: items per block of :math:`X^\top X`; memory ``num_users * chunk_size`` floats (default 1024).

    Shapes:
        - **fit:** the training graph
        - **score:** users ``(C,)`` -> ``(C, I)``
    """

    fit_only = True

    def __init__(self, num_users: int, num_items: int, reg: float = 500.0, chunk_size: int = 1024) -> None:
        super().__init__()
        self.num_users, self.num_items = positive_int("num_users", num_users), positive_int("num_items", num_items)
        if reg <= 0:
            raise ValueError(f"reg must be > 0 (it makes X^T X + reg * I invertible), got {reg}")
        self.reg, self.chunk_size = float(reg), positive_int("chunk_size", chunk_size)
        check_memory(3 * num_items**2 * 4, psutil.virtual_memory().available, num_items, "host")
        self.register_buffer("weight", torch.zeros(num_items, num_items))  # (I, I): B
        self.graph: BipartiteGraph | None = None

    def reset_parameters(self) -> None:
        self.weight.zero_()

    def __repr__(self) -> str:
        return f"EASE({self.num_users}, {self.num_items}, reg={self.reg})"

    @torch.no_grad()
    def fit(self, graph: BipartiteGraph) -> None:
        """:math:`B` from the training interactions, computed in the buffer's own storage."""
        check_graph(self, graph)
        device = self.weight.device
        if device.type == "cuda":  # B and the run's copy are already there: the Cholesky factor must fit too
            check_memory(self.num_items**2 * 4, torch.cuda.mem_get_info(device)[0], self.num_items, str(device))
        self.graph = graph
        gram, r_t = self.weight, graph.item_user_matrix  # X^T X is built in B's storage
        for start in range(0, self.num_items, self.chunk_size):
            stop = min(start + self.chunk_size, self.num_items)
            block = torch.zeros(graph.num_users, stop - start, device=device)  # X[:, start:stop], dense (U, c)
            in_block = (graph.item >= start) & (graph.item < stop)
            block[graph.user[in_block], graph.item[in_block] - start] = 1.0
            gram[:, start:stop] = r_t @ block  # (I, c)
        gram.diagonal().add_(self.reg)
        factor = torch.linalg.cholesky(gram)  # X^T X + reg I is positive definite
        torch.cholesky_inverse(factor, out=gram)  # P, in place of the Gram matrix
        del factor
        gram.div_(-gram.diagonal().clone()[None, :])  # B_ij = -P_ij / P_jj
        gram.fill_diagonal_(0.0)

    @torch.no_grad()
    def score(self, users: Tensor) -> Tensor:
        """:math:`X_{\\text{users}} B`, ``(C, I)``: one sparse-dense product."""
        if self.graph is None:
            raise RuntimeError("EASE.score before fit(graph): fit the model first")
        return history_times(self.graph, users, self.weight)
