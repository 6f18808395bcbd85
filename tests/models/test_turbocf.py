"""Turbo-CF against the authors' main.py in dense NumPy, its memory refusal, and as a fit-only run through train.py."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from recsys_pyg.contracts import FitModel
from recsys_pyg.data import BipartiteGraph
from recsys_pyg.models import TurboCF
from recsys_pyg.train import train
from tests.helpers.configs import DATA
from tests.helpers.graphs import random_graph


def authors_turbocf(r: np.ndarray, alpha: float, power: float, filter: int) -> np.ndarray:
    """jindeok/Turbo-CF ``main.py`` on a dense 0/1 ``r``: ``normalize_sparse_adjacency_matrix`` (rows by
    rowsum^-alpha, columns by colsum^(alpha-1)), ``P = R_norm^T R_norm``, ``P.data **= power``, then the filter."""
    with np.errstate(divide="ignore"):
        rows, cols = r.sum(1) ** -alpha, r.sum(0) ** (alpha - 1)
    rows[~np.isfinite(rows)], cols[~np.isfinite(cols)] = 0.0, 0.0  # theirs: inf (NaN rows); ours: 0
    r_norm = rows[:, None] * r * cols[None, :]
    p = (r_norm.T @ r_norm) ** power
    f = {1: p, 2: 2 * p - p @ p, 3: p + 0.01 * (-p @ p @ p + 10 * p @ p - 29 * p)}[filter]
    return r @ f


@pytest.mark.parametrize(("alpha", "power", "filter"), [(0.5, 1.0, 1), (0.6, 0.7, 1), (0.6, 1.0, 2), (0.5, 1.4, 3)])
def test_scores_equal_the_authors_formula(alpha, power, filter):
    graph = random_graph(num_users=40, num_items=30, density=0.2)
    # an item and a user without interactions: zero rows and columns, not NaN
    graph = BipartiteGraph(graph.user, graph.item, graph.num_users + 1, graph.num_items + 1)
    model = TurboCF(graph.num_users, graph.num_items, alpha=alpha, power=power, filter=filter, chunk_size=7)
    model.fit(graph)
    r = np.zeros((graph.num_users, graph.num_items))
    r[graph.user.numpy(), graph.item.numpy()] = 1.0
    expected = authors_turbocf(r, alpha, power, filter)
    users = torch.tensor([3, 0, 7, 3, 39, 40])
    got = model.score(users).numpy()
    np.testing.assert_allclose(got, expected[users.numpy()], rtol=1e-4, atol=1e-6)
    assert np.isfinite(model.weight.numpy()).all() and (got[-1] == 0).all()  # the user without history: zeros


def test_refuses_when_its_item_matrices_do_not_fit(monkeypatch):
    monkeypatch.setattr("recsys_pyg.models.turbocf.psutil.virtual_memory", lambda: SimpleNamespace(available=2**30))
    TurboCF(10, 100)  # 3 x 100^2 x 4 bytes
    TurboCF(10, 8000, filter=2)  # 0.72 GiB: within 75% of 1 GiB
    with pytest.raises(ValueError, match=r"Turbo-CF \(filter 1\) with 9000 items needs about 0\.9 GiB .* model=gfcf"):
        TurboCF(10, 9000)  # the filter, the run's initial copy and its best copy: 0.91 GiB of 1 GiB
    with pytest.raises(ValueError, match=r"filter 3\) with 8000 items needs about 1\.0 GiB"):
        TurboCF(10, 8000, filter=3)  # P^2 and P^3 beside the filter and the copy
    # Gowalla's 40,981 items on a 24 GiB machine: refused with the figure (the kernel killed a run let through)
    machine = SimpleNamespace(available=22 * 2**30)
    monkeypatch.setattr("recsys_pyg.models.turbocf.psutil.virtual_memory", lambda: machine)
    with pytest.raises(ValueError, match=r"40981 items needs about 18\.8 GiB .* but 22\.0 GiB are available"):
        TurboCF(29858, 40981)


def test_is_a_fit_model_and_checks_its_arguments():
    model = TurboCF(4, 5)
    assert isinstance(model, FitModel) and model.weight.shape == (5, 5)
    assert repr(model) == "TurboCF(4, 5, alpha=0.5, power=1.0, filter=1)"
    with pytest.raises(ValueError, match="filter must be 1"):
        TurboCF(4, 5, filter=4)
    with pytest.raises(ValueError, match="alpha must be in"):
        TurboCF(4, 5, alpha=1.5)
    with pytest.raises(RuntimeError, match="before fit"):
        model.score(torch.tensor([0]))


def test_fit_only_run_through_train_beats_mostpop(cfg_factory, tmp_path):
    results = train(cfg_factory("model=turbocf", *DATA))
    assert results["test/recall@20"] > 2.0 * results["mostpop/test/recall@20"]  # 0.60 vs 0.26
    saved = torch.load(tmp_path / "checkpoints" / "best.pt", weights_only=True)
    assert saved["model"]["weight"].shape == (250, 250)
