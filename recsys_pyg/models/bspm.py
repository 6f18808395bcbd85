"""BSPM: blurring-sharpening process models, a fit-only model (no gradient steps).

Reference: Choi et al., "Blurring-Sharpening Process Models for Collaborative Filtering", SIGIR 2023;
official code: github.com/jeongwhanchoi/BSPM (``bspm/model.py``, class ``BSPM``).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from recsys_pyg.data.graph import BipartiteGraph
from recsys_pyg.models.gfcf import (
    filter_buffers,
    filter_ops,
    fit_filter,
    history_entries,
    in_blocks,
    item_graph,
    project_rows,
)
from recsys_pyg.utils import positive_int

SOLVERS = ("euler", "rk4")


def integrate(y: Tensor, apply: Callable[[Tensor], Tensor], total_time: float, steps: int, solver: str) -> Tensor:
    r"""The solution at ``total_time`` of the linear ODE :math:`\dot{y} = y M` (``apply(x)`` = :math:`x M`,
    on columns ``(I, C)``) from ``y``, in ``steps`` fixed steps of :math:`\tau` = ``total_time / steps``, as
    ``torchdiffeq.odeint`` with ``method=solver`` does: Euler :math:`y + \tau y M`; RK4, which for a linear
    autonomous ODE is exactly :math:`y \sum_{k=0}^{4} (\tau M)^k / k!`."""
    tau = total_time / steps
    for _ in range(steps):
        if solver == "euler":
            y = y + tau * apply(y)
        else:  # rk4: k1 = yM, k2 = (y + tau/2 k1)M, k3 = (y + tau/2 k2)M, k4 = (y + tau k3)M
            k1 = apply(y)
            k2 = apply(y + tau / 2 * k1)
            k3 = apply(y + tau / 2 * k2)
            k4 = apply(y + tau * k3)
            y = y + tau / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
    return y


class BSPM(nn.Module):
    r"""BSPM from `"Blurring-Sharpening Process Models for Collaborative Filtering"
    <https://arxiv.org/abs/2211.09324>`_ (Choi et al., SIGIR 2023), the official ``BSPM`` class in closed form:

    .. math::
        \dot{\mathbf{b}} = \mathbf{b}(\tilde{P} - I),\ \mathbf{b}(0) = \mathbf{r}_u \qquad
        \dot{\mathbf{i}} = \mathbf{i}(P_{\eta} - I),\ \mathbf{i}(0) = \mathbf{r}_u \qquad
        \dot{\mathbf{s}} = -\mathbf{s}\tilde{P},\ \mathbf{s}(0) = \mathbf{b}(T_b) + \beta\,\mathbf{i}(T_{idl})

    and :math:`\hat{\mathbf{y}}_u = \mathbf{s}(T_s)` (``final_sharpening``; otherwise the sharpening starts
    from :math:`\mathbf{b}(T_b)` and :math:`\beta\,\mathbf{i}(T_{idl})` is added after it). Here
    :math:`\tilde{P} = \tilde{R}^\top \tilde{R}` (:math:`\tilde{R} = D_U^{-1/2} R D_I^{-1/2}`) is the blurring
    filter, :math:`P_\eta = D_I^{-1/2} V_\eta V_\eta^\top D_I^{1/2}` the ideal low-pass filter of the top-``eta``
    right singular vectors, :math:`\mathbf{r}_u` the user's 0/1 row. Each ODE is solved as the authors
    do (``torchdiffeq`` with a fixed-step ``euler`` or ``rk4`` and ``K`` steps over ``T``): a handful of
    sparse-dense products per chunk of users, never an ``I x I`` matrix. ``T_s = 0`` turns sharpening off.

    Args:
        num_users, num_items: sizes of the data.
        eta: singular vectors of the ideal filter (the official ``factor_dim``; Gowalla 448).
        idl_beta: :math:`\beta`, weight of the ideal term (Gowalla 0.2; 0 = none, as on Amazon-Book).
        T_idl, K_idl, solver_idl; T_b, K_b, solver_b; T_s, K_s, solver_s: each stage's time, steps and
            solver (Gowalla: 1, 1, euler; 1, 1, euler; 2.5, 1, rk4).
        final_sharpening: sharpen the sum (True, Gowalla) or the blurred signal alone.
        block, steps: of the block Krylov SVD.
    """

    fit_only = True

    def __init__(
        self,
        num_users: int,
        num_items: int,
        eta: int = 448,
        idl_beta: float = 0.2,
        T_idl: float = 1.0,  # noqa: N803 - the authors' names
        K_idl: int = 1,  # noqa: N803
        solver_idl: str = "euler",
        T_b: float = 1.0,  # noqa: N803
        K_b: int = 1,  # noqa: N803
        solver_b: str = "euler",
        T_s: float = 2.5,  # noqa: N803
        K_s: int = 1,  # noqa: N803
        solver_s: str = "rk4",
        final_sharpening: bool = True,
        block: int = 64,
        steps: int = 24,
    ) -> None:
        super().__init__()
        self.num_users, self.num_items = positive_int("num_users", num_users), positive_int("num_items", num_items)
        for name, value in (("solver_idl", solver_idl), ("solver_b", solver_b), ("solver_s", solver_s)):
            if value not in SOLVERS:
                raise ValueError(f"{name} must be one of {list(SOLVERS)}, got {value!r}")
        for name, value in (("T_idl", T_idl), ("T_b", T_b), ("T_s", T_s), ("idl_beta", idl_beta)):
            if not value >= 0:
                raise ValueError(f"{name} must be >= 0, got {value!r}")
        if int(eta) != eta or eta < 0:
            raise ValueError(f"eta must be a non-negative integer, got {eta!r}")
        self.stages = {
            "idl": (float(T_idl), positive_int("K_idl", K_idl), solver_idl),
            "b": (float(T_b), positive_int("K_b", K_b), solver_b),
            "s": (float(T_s), positive_int("K_s", K_s), solver_s),
        }
        self.idl_beta, self.final_sharpening = float(idl_beta), bool(final_sharpening)
        self.eta = min(int(eta), num_users, num_items) if idl_beta > 0 else 0
        self.block, self.steps = positive_int("block", block), positive_int("steps", steps)
        filter_buffers(self, self.eta, num_users, num_items)

    def reset_parameters(self) -> None:
        for buffer in (self.vt, self.user_scale, self.item_scale):
            buffer.zero_()

    def __repr__(self) -> str:
        t = ", ".join(f"T_{k}={v[0]}" for k, v in self.stages.items())
        return f"BSPM({self.num_users}, {self.num_items}, eta={self.eta}, idl_beta={self.idl_beta}, {t})"

    @torch.no_grad()
    def fit(self, graph: BipartiteGraph) -> None:
        """The degree scalings and, with the ideal term, the top-``eta`` right singular vectors of R~."""
        fit_filter(self, graph, self.eta)

    def _blur(self, x: Tensor) -> Tensor:
        r""":math:`\tilde{P} = \tilde{R}^\top \tilde{R}` applied to columns ``x`` ``(I, C)``."""
        assert self.graph is not None
        return item_graph(filter_ops(self), x)

    def _ideal(self, x: Tensor) -> Tensor:
        r""":math:`P_\eta` applied to columns: :math:`D_I^{1/2} V V^\top D_I^{-1/2} x` (the official code's
        ``r D_I^{-1/2} V^T V D_I^{1/2}`` on rows)."""
        sqrt_degree = torch.where(self.item_scale > 0, self.item_scale.reciprocal(), torch.zeros_like(self.item_scale))
        return (self.vt.T @ (self.vt @ (x * self.item_scale[:, None]))) * sqrt_degree[:, None]

    @torch.no_grad()
    def score(self, users: Tensor) -> Tensor:
        """The sharpened rows of ``users`` ``(C,)``, ``(C, I)``."""
        if self.graph is None:
            raise RuntimeError("BSPM.score before fit(graph): fit the model first")
        return in_blocks(self._score, users)

    def _score(self, users: Tensor) -> Tensor:
        row, col = history_entries(self.graph, users)
        r = torch.zeros(self.num_items, users.numel(), device=self.vt.device)  # (I, C): r_u^T
        r[col, row] = 1.0
        blurred = integrate(r, lambda x: self._blur(x) - x, *self.stages["b"])
        if not self.eta:
            ideal = torch.zeros_like(r)
        elif self.stages["idl"][1:] == (1, "euler"):  # one Euler step of size T: r + T (P r - r), P r from r's entries
            t_idl = self.stages["idl"][0]
            ops = filter_ops(self)  # D_I^{1/2} V (V^T D_I^{-1/2} r) from the history's rows of V
            projected = ops.v_up @ project_rows(ops.v, row, col, self.item_scale[col], users.numel()).T
            ideal = (1 - t_idl) * r + t_idl * projected
        else:
            ideal = integrate(r, lambda x: self._ideal(x) - x, *self.stages["idl"])
        start = blurred + self.idl_beta * ideal if self.final_sharpening else blurred
        out = integrate(start, lambda x: -self._blur(x), *self.stages["s"]) if self.stages["s"][0] > 0 else start
        if not self.final_sharpening:
            out = out + self.idl_beta * ideal
        return out.T  # (C, I)
