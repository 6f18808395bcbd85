"""Sparse propagation whose backward is one more SpMM.

The gradient of ``A @ X`` with respect to ``X`` is ``A.T @ G``, so the backward pass is one
SpMM with the transpose, with no transpose through generic sparse autograd. The transpose is
explicit: :func:`spmm` takes ``adj_t``, built once by the caller (a neighbour-sampled block,
``D^-a A D^-b``, a directed graph), or uses ``adj`` itself only when
:func:`~recsys_pyg.data.graph.mark_symmetric` checked and marked it symmetric (the cached
normalised adjacency is). An unmarked matrix without its transpose is refused, never given a
silently wrong gradient (``scripts/bench.py`` compares the product with PyG's ``LGConv``).

The product itself has backends: torch's own sparse CSR matmul (``"torch"``, the default and
the one every test runs) and, when the optional ``torch_sparse`` extension is installed,
its ``spmm`` (``"torch_sparse"``). :func:`choose_backend` times each on the run's own
adjacency, checks they agree, and keeps ``torch_sparse`` only if it is faster there.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
from torch import Tensor

from recsys_pyg.data.graph import is_marked_symmetric
from recsys_pyg.utils import positive_int

log = logging.getLogger(__name__)

MatMul = Callable[[Tensor, Tensor], Tensor]
MIN_GAIN = 0.95  # another backend replaces torch's only if at least 5% faster on the run's adjacency


def torch_matmul(adj: Tensor, x: Tensor) -> Tensor:
    return adj @ x


def torch_sparse_matmul(adj: Tensor, x: Tensor) -> Tensor:
    """``adj @ x`` through ``torch_sparse`` (its CSR, built once per adjacency and kept on it)."""
    import torch_sparse

    st = getattr(adj, "_torch_sparse", None)
    if st is None:
        st = torch_sparse.SparseTensor(
            rowptr=adj.crow_indices(),
            col=adj.col_indices(),
            value=adj.values(),
            sparse_sizes=tuple(adj.shape),
            is_sorted=True,
            trust_data=True,
        )
        adj._torch_sparse = st  # freed with the adjacency
    return torch_sparse.matmul(st, x)


def available_backends() -> dict[str, MatMul]:
    """``torch`` always; ``torch_sparse`` when the extension imports."""
    found: dict[str, MatMul] = {"torch": torch_matmul}
    try:
        import torch_sparse  # noqa: F401
    except (ImportError, OSError):
        pass
    else:
        found["torch_sparse"] = torch_sparse_matmul
    return found


_backend: list[MatMul] = [torch_matmul]


def current_backend() -> MatMul:
    return _backend[0]


@contextmanager
def use_backend(matmul: MatMul) -> Iterator[None]:
    """Run the enclosed propagations with ``matmul`` as the sparse-dense product."""
    previous = _backend[0]
    _backend[0] = matmul
    try:
        yield
    finally:
        _backend[0] = previous


def set_backend(matmul: MatMul) -> None:
    """Make ``matmul`` the process-wide sparse-dense product (a run sets it once, after timing)."""
    _backend[0] = matmul


def get_backend() -> MatMul:
    """The process-wide sparse-dense product in use."""
    return _backend[0]


def choose_backend(
    adj: Tensor, dim: int, backends: dict[str, MatMul] | None = None, repeats: int = 3
) -> tuple[str, dict[str, float]]:
    """The fastest backend for ``adj @ x`` with ``x`` ``(N, dim)`` on this adjacency, and each one's seconds.

    A backend whose product differs from torch's (beyond float tolerance) is never chosen, and
    one replaces torch only when at least 5% faster (:data:`MIN_GAIN`).
    """
    positive_int("dim", dim)
    backends = available_backends() if backends is None else backends
    gen = torch.Generator(device=adj.device).manual_seed(0)  # the run's random streams stay untouched
    x = torch.randn(adj.shape[1], dim, device=adj.device, generator=gen)
    reference = torch_matmul(adj, x)
    timings: dict[str, float] = {}
    for name, matmul in backends.items():
        try:
            out = matmul(adj, x)  # warm-up, and the correctness check
        except Exception as err:  # an extension built against another torch, say
            log.warning("spmm backend %s failed (%s): not used", name, err)
            continue
        if not torch.allclose(out, reference, rtol=1e-4, atol=1e-5):
            log.warning("spmm backend %s disagrees with torch on this adjacency: not used", name)
            continue
        if adj.is_cuda:
            torch.cuda.synchronize(adj.device)
        t = time.perf_counter()
        for _ in range(repeats):
            matmul(adj, x)
        if adj.is_cuda:
            torch.cuda.synchronize(adj.device)
        timings[name] = (time.perf_counter() - t) / repeats
    best = "torch"
    for name, seconds in timings.items():
        if seconds < MIN_GAIN * timings[best]:
            best = name
    return best, timings


class _SpMM(torch.autograd.Function):
    @staticmethod
    def forward(ctx, adj: Tensor, adj_t: Tensor, x: Tensor) -> Tensor:  # type: ignore[override]
        ctx.adj_t, ctx.matmul = adj_t, current_backend()
        return ctx.matmul(adj, x)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[None, None, Tensor]:  # type: ignore[override]
        return None, None, ctx.matmul(ctx.adj_t, grad)


def _check_sparse(name: str, adj: Tensor) -> None:
    if not adj.is_sparse and adj.layout != torch.sparse_csr:
        raise TypeError(f"{name} must be a sparse tensor, got layout {adj.layout}")


def spmm(adj: Tensor, x: Tensor, adj_t: Tensor | None = None) -> Tensor:
    """``adj @ x`` for a sparse ``adj`` ``(N, M)`` and dense ``x`` ``(M, F)``; the gradient flows to ``x`` only.

    ``adj_t`` is ``adj``'s transpose ``(M, N)`` as a sparse tensor (see
    :func:`~recsys_pyg.data.graph.csr_transpose`), which the backward pass multiplies by. It may
    be omitted only for a matrix checked and marked by :func:`~recsys_pyg.data.graph.mark_symmetric`.
    """
    _check_sparse("adj", adj)
    if adj_t is None:
        if not is_marked_symmetric(adj):
            raise ValueError(
                f"spmm: a {tuple(adj.shape)} matrix was given without its transpose and is not marked symmetric; "
                "pass adj_t=csr_transpose(adj) (built once), or mark_symmetric(adj) if it is symmetric "
                "(recsys_pyg.data.graph): using it as its own transpose would give a wrong gradient"
            )
        adj_t = adj
    else:
        _check_sparse("adj_t", adj_t)
        if adj_t.shape != adj.shape[::-1]:
            raise ValueError(f"adj_t must have shape {tuple(adj.shape[::-1])}, got {tuple(adj_t.shape)}")
    return _SpMM.apply(adj, adj_t, x)
