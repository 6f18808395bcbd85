"""ItemKNN against a dense NumPy formula, and as a fit-only model through train.py."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from recsys_pyg.contracts import FitModel
from recsys_pyg.data import BipartiteGraph
from recsys_pyg.models.itemknn import ItemKNN
from recsys_pyg.train import train
from tests.helpers.graphs import random_graph


def dense_similarity(graph: BipartiteGraph) -> np.ndarray:
    r = np.zeros((graph.num_users, graph.num_items))
    r[graph.user.numpy(), graph.item.numpy()] = 1.0
    norm = np.sqrt(np.maximum(r.sum(0), 1))
    sim = (r.T @ r) / norm[:, None] / norm[None, :]
    np.fill_diagonal(sim, 0.0)
    return sim


def test_unpruned_scores_equal_history_times_cosine_similarity():
    graph = random_graph()
    model = ItemKNN(graph.num_users, graph.num_items, k=graph.num_items - 1, chunk_size=7)  # blocks of 7 items
    model.fit(graph)
    r = np.zeros((graph.num_users, graph.num_items))
    r[graph.user.numpy(), graph.item.numpy()] = 1.0
    users = torch.arange(graph.num_users)
    np.testing.assert_allclose(model.score(users).numpy(), r @ dense_similarity(graph), rtol=1e-5, atol=1e-6)


def test_pruning_keeps_each_items_k_largest_similarities():
    graph = random_graph(seed=1)
    k = 5
    model = ItemKNN(graph.num_users, graph.num_items, k=k, chunk_size=8)
    model.fit(graph)
    sim = dense_similarity(graph)
    # column j keeps its k largest entries (compare values: ties may pick either item)
    expected = -np.sort(-sim, axis=0)[:k].T  # (I, k)
    np.testing.assert_allclose(model.weights.numpy(), expected, rtol=1e-5, atol=1e-6)
    assert not (model.neighbors == torch.arange(graph.num_items)[:, None]).any()  # never itself
    # scores = history x the pruned matrix built from the kept table
    w = np.zeros_like(sim)
    for j in range(graph.num_items):
        w[model.neighbors[j].numpy(), j] = model.weights[j].numpy()
    r = np.zeros((graph.num_users, graph.num_items))
    r[graph.user.numpy(), graph.item.numpy()] = 1.0
    np.testing.assert_allclose(model.score(torch.tensor([3, 0, 7])).numpy(), (r @ w)[[3, 0, 7]], rtol=1e-5, atol=1e-6)


def test_is_a_fit_model_and_checks_its_arguments():
    model = ItemKNN(4, 5, k=10)
    assert isinstance(model, FitModel) and model.k == 4  # capped at num_items - 1
    with pytest.raises(ValueError, match="k must be a positive integer"):
        ItemKNN(4, 5, k=0)
    with pytest.raises(RuntimeError, match="before fit"):
        model.score(torch.tensor([0]))


def test_fit_only_run_through_train_beats_mostpop(cfg_factory, tmp_path):
    results = train(cfg_factory("model=itemknn", "model.k=50", "dataset.source.num_users=500",
                                "dataset.source.num_items=250", "dataset.source.num_interactions=15000",
                                "dataset.source.strength=6.0", "optimizer.lr=0.1"))  # fmt: skip
    assert results["test/recall@20"] > 1.2 * results["mostpop/test/recall@20"]
    assert results["epochs"] == 1 and results["best_epoch"] == 1
    lines = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert lines[0]["step"] == 0 and "mostpop/test/recall@20" in lines[0]  # MostPop beside it
    assert "train/fit_time" in lines[1] and "val/recall@20" in lines[1]
    saved = torch.load(tmp_path / "checkpoints" / "best.pt", weights_only=True)
    assert saved["model"]["neighbors"].shape == (250, 50)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["test/recall@20"] == pytest.approx(results["test/recall@20"])


def test_scores_of_users_without_history_and_items_nobody_neighbours_are_zero():
    graph = random_graph(seed=2)
    model = ItemKNN(graph.num_users, graph.num_items, k=3, chunk_size=16)
    model.fit(graph)
    before = model.score(torch.tensor([4]))  # builds the cached W of this fit
    keep = graph.user != 4  # user 4 gets no history
    empty = BipartiteGraph(graph.user[keep], graph.item[keep], graph.num_users, graph.num_items)
    model.fit(empty)  # a new fit: the cached W must follow it
    assert before.any()
    w = np.zeros((graph.num_items, graph.num_items))
    for j in range(graph.num_items):
        w[model.neighbors[j].numpy(), j] = model.weights[j].numpy()
    r = np.zeros((graph.num_users, graph.num_items))
    r[empty.user.numpy(), empty.item.numpy()] = 1.0
    users = torch.tensor([4, 1, 4, 0])  # repeated and empty rows in one chunk
    scores = model.score(users)
    np.testing.assert_allclose(scores.numpy(), (r @ w)[[4, 1, 4, 0]], rtol=1e-5, atol=1e-6)
    assert not scores[0].any() and not scores[2].any()
    unreached = np.flatnonzero(w.sum(0) == 0)  # columns no row of W reaches score 0 for every user
    assert not scores[:, unreached].any()
