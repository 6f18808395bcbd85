"""GF-CF against the official formula in dense NumPy, and as a fit-only model through train.py."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from recsys_pyg.contracts import FitModel
from recsys_pyg.data import BipartiteGraph
from recsys_pyg.models import GFCF
from recsys_pyg.train import train
from tests.helpers.configs import DATA
from tests.helpers.graphs import random_graph


def official_scores(graph: BipartiteGraph, k: int, alpha: float) -> np.ndarray:
    """yshenaw/GF_CF ``GF_CF.getUsersRating``: ``R R~^T R~ + alpha * R D_I^-1/2 V_k^T V_k D_I^1/2`` for every user,
    with NumPy's SVD (degree-0 items get 0 where the official code divides by zero)."""
    r = np.zeros((graph.num_users, graph.num_items))
    r[graph.user.numpy(), graph.item.numpy()] = 1.0
    du, di = r.sum(1), r.sum(0)
    inv_u = np.where(du > 0, 1 / np.sqrt(np.maximum(du, 1)), 0.0)
    inv_i = np.where(di > 0, 1 / np.sqrt(np.maximum(di, 1)), 0.0)
    norm_adj = inv_u[:, None] * r * inv_i[None, :]
    vt = np.linalg.svd(norm_adj)[2][:k]  # (k, I)
    return r @ norm_adj.T @ norm_adj + alpha * (r * inv_i) @ vt.T @ vt * np.sqrt(di)[None, :]


def test_full_rank_scores_equal_the_official_formula():
    graph = random_graph()  # 40 users x 30 items: k = 256 is capped at 30, the whole spectrum
    model = GFCF(graph.num_users, graph.num_items)
    assert model.k == 30
    model.fit(graph)
    expected = official_scores(graph, 30, 0.3)
    np.testing.assert_allclose(model.score(torch.arange(40)).numpy(), expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(model.score(torch.tensor([7, 0, 7])).numpy(), expected[[7, 0, 7]], rtol=1e-4,
                               atol=1e-5)  # fmt: skip


def test_top_k_filter_equals_numpy_svd_and_unseen_items_score_zero():
    # 40 users x 60 items (item 59 never seen): the Krylov basis (8 x 6 = 48 columns) spans the 40-dim row space
    gen = torch.Generator().manual_seed(4)
    dense = torch.rand(40, 60, generator=gen) < 0.2
    dense[:, 59] = False
    user, item = dense.nonzero(as_tuple=True)
    graph = BipartiteGraph(user, item, 40, 60)
    model = GFCF(40, 60, k=10, alpha=0.7, block=8, steps=6)
    model.fit(graph)
    scores = model.score(torch.arange(40))
    np.testing.assert_allclose(scores.numpy(), official_scores(graph, 10, 0.7), rtol=1e-4, atol=1e-5)
    assert torch.isfinite(scores).all() and (scores[:, 59] == 0).all()


def test_is_a_fit_model_and_checks_its_arguments():
    model = GFCF(4, 5)
    assert isinstance(model, FitModel) and model.k == 4 and model.vt.shape == (4, 5)
    assert repr(model) == "GFCF(4, 5, k=4, alpha=0.3)"
    with pytest.raises(ValueError, match="k must be a positive integer"):
        GFCF(4, 5, k=0)
    with pytest.raises(RuntimeError, match="before fit"):
        model.score(torch.tensor([0]))


def test_fit_only_run_through_train_beats_mostpop(cfg_factory, tmp_path):
    results = train(cfg_factory("model=gfcf", *DATA))
    assert results["test/recall@20"] > 1.8 * results["mostpop/test/recall@20"]  # 0.60 vs 0.26
    assert results["epochs"] == 1
    saved = torch.load(tmp_path / "checkpoints" / "best.pt", weights_only=True)
    assert saved["model"]["vt"].shape == (250, 250)  # k = 256 capped at the 250 items


def test_scoring_matrices_follow_a_new_fit_and_changed_buffers():
    first, second = random_graph(30, 25, 0.2, seed=5), random_graph(30, 25, 0.3, seed=6)
    model = GFCF(30, 25, k=4, block=8, steps=8)
    users = torch.arange(30)
    for graph in (first, second):
        model.fit(graph)
        cached = model.score(users)  # built for this fit
        fresh = GFCF(30, 25, k=4, block=8, steps=8)
        fresh.load_state_dict(model.state_dict())
        fresh.graph = graph
        assert torch.allclose(cached, fresh.score(users), atol=1e-6)
    with torch.no_grad():
        model.vt.mul_(2)  # the ideal term x4: a stale cache would not see it
    moved = model.score(users)
    fresh.vt.mul_(2)
    assert torch.allclose(moved, fresh.score(users), atol=1e-6) and not torch.allclose(moved, cached, atol=1e-3)


def test_the_sparse_and_dense_first_products_agree(monkeypatch):
    from recsys_pyg.models import gfcf

    g = random_graph(40, 30, 0.2, seed=7)
    model = GFCF(40, 30, k=4, block=8, steps=8)
    model.fit(g)
    users = torch.tensor([3, 0, 39, 12])
    monkeypatch.setattr(gfcf, "SPARSE_WORK", 1e9)
    sparse = model.score(users)
    monkeypatch.setattr(gfcf, "SPARSE_WORK", 0.0)
    assert torch.allclose(sparse, model.score(users), atol=1e-6)
