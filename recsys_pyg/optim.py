"""Adam that also takes sparse gradients: lazy (row-wise) Adam for embedding tables, Adam for the rest.

With ``nn.Embedding(sparse=True)`` a batch's gradient touches only the rows it used; dense Adam
would still read and write every row of every table each step, a cost that grows with the
graph (30k x 41k, d=64: most of MF's 26 ms per batch). Here a parameter whose gradient is
sparse gets the update of ``torch.optim.SparseAdam`` (moments and weights of the touched rows
only; weight decay, if any, on those rows), every other parameter the ordinary
``torch.optim.Adam`` update. One optimizer, one ``state_dict``, so resume works unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor


class MixedAdam(torch.optim.Optimizer):
    """Adam for dense gradients and lazy Adam for sparse ones.

    Args:
        params: parameters (embedding tables built with ``sparse=True`` get sparse gradients).
        lr, betas, eps, weight_decay: as in :class:`torch.optim.Adam` (L2 added to the gradient).
    """

    def __init__(
        self,
        params: Iterable[Tensor],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        if lr <= 0 or eps <= 0 or weight_decay < 0 or not all(0 <= b < 1 for b in betas):
            raise ValueError(f"invalid MixedAdam settings: lr={lr}, betas={betas}, eps={eps}, wd={weight_decay}")
        super().__init__(params, {"lr": lr, "betas": tuple(betas), "eps": eps, "weight_decay": weight_decay})

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:  # type: ignore[override]
        loss = closure() if closure is not None else None
        for group in self.param_groups:
            lr, (b1, b2), eps, wd = group["lr"], group["betas"], group["eps"], group["weight_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["step"] = torch.zeros((), dtype=torch.float64)
                    state["exp_avg"] = torch.zeros_like(p)
                    state["exp_avg_sq"] = torch.zeros_like(p)
                state["step"] += 1
                t = float(state["step"])
                m, v = state["exp_avg"], state["exp_avg_sq"]
                bias1, bias2 = 1 - b1**t, 1 - b2**t
                if p.grad.is_sparse:
                    grad = p.grad.coalesce()
                    rows, values = grad.indices()[0], grad.values()  # (n,), (n, d)
                    if wd:
                        values = values + wd * p.index_select(0, rows)
                    # index_select / index_copy_ rather than advanced indexing or index_add_: 78 -> 39 ms
                    # for 78k rows of an 870k x 64 table (2 CPU cores); the rows are unique after coalesce
                    m_rows = m.index_select(0, rows).mul_(b1).add_(values, alpha=1 - b1)
                    v_rows = v.index_select(0, rows).mul_(b2).addcmul_(values, values, value=1 - b2)
                    m.index_copy_(0, rows, m_rows)
                    v.index_copy_(0, rows, v_rows)
                    step = m_rows.div_(v_rows.div_(bias2).sqrt_().add_(eps))
                    p.index_copy_(0, rows, p.index_select(0, rows).add_(step, alpha=-lr / bias1))
                else:
                    grad = p.grad if not wd else p.grad.add(p, alpha=wd)
                    m.mul_(b1).add_(grad, alpha=1 - b1)
                    v.mul_(b2).addcmul_(grad, grad, value=1 - b2)
                    p.addcdiv_(m, v.div(bias2).sqrt_().add_(eps), value=-lr / bias1)
        return loss
