"""ChebyCF: its coefficients against the authors' code, its scores against a dense NumPy formula (that it
learns: tests/test_combinations.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from recsys_pyg.models.chebycf import ChebyCF, chebyshev_coefficients, plateau
from tests.helpers.graphs import random_graph


def authors_coefficients(order: int, flatness: float) -> torch.Tensor:
    """chanwoo0806/ChebyCF src/module.py, ChebyFilter.plateau / cheby / fit, as written there."""
    x = torch.arange(order + 1)
    x = torch.cos((order - x) / order * math.pi).round(decimals=3)
    target = torch.zeros_like(x)
    target[x < 0] = (-x[x < 0]).pow(flatness) * 0.5 + 0.5
    target[x >= 0] = (x[x >= 0]).pow(flatness) * (-0.5) + 0.5
    target = target.round(decimals=3)
    nodes = torch.arange(1, (order + 1) + 1)
    nodes = torch.cos(((order + 1) + 0.5 - nodes) / (order + 1) * math.pi)
    out = [target, nodes * target]
    for _ in range(2, order + 1):
        out.append(nodes * out[-1] * 2 - out[-2])
    coeffs = torch.stack(out).sum(dim=1) * (2 / (order + 1))
    coeffs[0] /= 2
    return coeffs


@pytest.mark.parametrize(("order", "flatness"), [(8, 1.5), (5, 2.0), (12, 1.0)])
def test_coefficients_equal_the_authors(order, flatness):
    # the authors' recurrence runs in float32: at order 12 it drifts by ~3e-4 from the float64 one here
    atol = 1e-6 if order <= 8 else 1e-3
    assert torch.allclose(chebyshev_coefficients(order, flatness).float(), authors_coefficients(order, flatness),
                          atol=atol)  # fmt: skip
    assert plateau(order, flatness)[0] == 1.0 and plateau(order, flatness)[-1] == 0.0  # pass low, stop high


def dense_chebycf(r: np.ndarray, order, flatness, eta, alpha, beta) -> np.ndarray:
    du, di = r.sum(1), r.sum(0)
    inv = lambda d: np.where(d > 0, np.maximum(d, 1) ** -0.5, 0.0)  # noqa: E731
    rt = inv(du)[:, None] * r * inv(di)[None, :]
    lap = np.eye(r.shape[1]) - 2 * rt.T @ rt
    c = chebyshev_coefficients(order, flatness).numpy()
    t_prev, t_cur = np.eye(r.shape[1]), lap
    poly = c[0] * t_prev + c[1] * t_cur
    for k in range(2, order + 1):
        t_prev, t_cur = t_cur, 2 * lap @ t_cur - t_prev
        poly += c[k] * t_cur
    vt = np.linalg.svd(rt)[2][:eta]
    pre = np.where(di > 0, np.maximum(di, 1) ** -beta, 0.0)
    post = np.where(di > 0, np.maximum(di, 1) ** beta, 0.0)
    s = r * pre[None, :]
    return (s @ poly + alpha * s @ vt.T @ vt) * post[None, :]


@pytest.mark.parametrize("alpha", [0.2, 0.0])
def test_scores_equal_the_dense_formula(alpha):
    g = random_graph(30, 25, 0.2, seed=1)
    model = ChebyCF(g.num_users, g.num_items, order=8, flatness=1.5, eta=6, alpha=alpha, beta=0.4, block=8, steps=8)
    model.fit(g)
    r = np.zeros((g.num_users, g.num_items))
    r[g.user.numpy(), g.item.numpy()] = 1.0
    users = torch.tensor([0, 7, 3, 29])
    expected = dense_chebycf(r, 8, 1.5, 6, alpha, 0.4)[users.numpy()]
    got = model.score(users).double().numpy()
    assert np.allclose(got, expected, atol=2e-4), np.abs(got - expected).max()
    with pytest.raises(ValueError, match="eta must be"):
        ChebyCF(3, 3, eta=-1)
