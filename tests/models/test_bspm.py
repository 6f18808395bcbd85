"""BSPM: each ODE stage against the authors' functions stepped as torchdiffeq steps them, the whole score
against a dense NumPy formula (that it learns: tests/test_combinations.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from recsys_pyg.models.bspm import BSPM, integrate
from tests.helpers.graphs import random_graph


def rk4_38(f, y, dt):
    """torchdiffeq's fixed-grid ``rk4`` step (``rk4_alt_step_func``, the 3/8 rule), for a reference."""
    k1 = f(y)
    k2 = f(y + dt * k1 / 3)
    k3 = f(y + dt * (k2 - k1 / 3))
    k4 = f(y + dt * (k1 - k2 + k3))
    return y + dt * (k1 + 3 * (k2 + k3) + k4) / 8


def test_rk4_step_equals_torchdiffeqs_and_the_taylor_polynomial():
    gen = torch.Generator().manual_seed(0)
    m = torch.randn(5, 5, generator=gen, dtype=torch.float64) * 0.3
    y = torch.randn(5, 3, generator=gen, dtype=torch.float64)  # columns: apply(x) = M x
    got = integrate(y, lambda x: m @ x, 2.5, 2, "rk4")
    ref = y
    for _ in range(2):
        ref = rk4_38(lambda x: m @ x, ref, 1.25)
    taylor = sum(torch.linalg.matrix_power(1.25 * m, k) / math.factorial(k) for k in range(5))
    assert torch.allclose(got, ref) and torch.allclose(got, taylor @ taylor @ y)
    assert torch.allclose(integrate(y, lambda x: m @ x, 1.0, 1, "euler"), y + m @ y)


def dense_bspm(r: np.ndarray, eta: int, beta: float, t_s: float, final: bool = True) -> np.ndarray:
    """The authors' BSPM.getUsersRating for their Gowalla settings, on rows, with dense matrices."""
    du, di = r.sum(1), r.sum(0)
    inv = lambda d: np.where(d > 0, np.maximum(d, 1).astype(float) ** -0.5, 0.0)  # noqa: E731
    rt = inv(du)[:, None] * r * inv(di)[None, :]
    vt = np.linalg.svd(rt)[2][:eta]
    d_i, d_i_inv = np.diag(inv(di)), np.diag(np.where(di > 0, di.astype(float) ** 0.5, 0.0))
    idl = lambda x: x @ d_i @ vt.T @ vt @ d_i_inv - x  # noqa: E731 - IDLFunction
    blur = lambda x: x @ rt.T @ rt - x  # noqa: E731 - blurFunction
    sharpen = lambda x: -(x @ rt.T @ rt)  # noqa: E731 - sharpenFunction
    idl_out = r + 1.0 * idl(r)  # euler, K 1, T 1
    blurred = r + 1.0 * blur(r)
    start = beta * idl_out + blurred if final else blurred
    out = rk4_38(sharpen, start, t_s)  # rk4, K 1
    return out if final else out + beta * idl_out


@pytest.mark.parametrize("final", [True, False])
def test_scores_equal_the_authors_process_densely(final):
    g = random_graph(30, 25, 0.2, seed=2)
    model = BSPM(g.num_users, g.num_items, eta=6, idl_beta=0.2, T_s=2.5, final_sharpening=final, block=8, steps=8)
    model.fit(g)
    r = np.zeros((g.num_users, g.num_items))
    r[g.user.numpy(), g.item.numpy()] = 1.0
    users = torch.tensor([1, 0, 12, 29])
    expected = dense_bspm(r, 6, 0.2, 2.5, final)[users.numpy()]
    got = model.score(users).double().numpy()
    assert np.allclose(got, expected, atol=1e-4), np.abs(got - expected).max()


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="solver_s must be one of"):
        BSPM(3, 3, solver_s="dopri5")
    with pytest.raises(ValueError, match="T_s must be >= 0"):
        BSPM(3, 3, T_s=-1)
