"""EASE against its closed form in dense NumPy, its memory refusal, and as a fit-only model through train.py."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from recsys_pyg.contracts import FitModel
from recsys_pyg.models import EASE
from recsys_pyg.models.ease import check_memory
from recsys_pyg.train import train
from tests.helpers.configs import DATA
from tests.helpers.graphs import random_graph


def dense_ease(r: np.ndarray, reg: float) -> np.ndarray:
    """Steck's Algorithm 1: P = (X^T X + reg I)^-1, B = -P / diag(P) by column, diag(B) = 0."""
    p = np.linalg.inv(r.T @ r + reg * np.eye(r.shape[1]))
    b = -p / np.diag(p)[None, :]
    np.fill_diagonal(b, 0.0)
    return b


@pytest.mark.parametrize("reg", [5.0, 500.0])
def test_scores_equal_the_closed_form(reg):
    graph = random_graph()
    model = EASE(graph.num_users, graph.num_items, reg=reg, chunk_size=7)  # X^T X in blocks of 7 items
    model.fit(graph)
    r = np.zeros((graph.num_users, graph.num_items))
    r[graph.user.numpy(), graph.item.numpy()] = 1.0
    b = dense_ease(r, reg)
    np.testing.assert_allclose(model.weight.numpy(), b, rtol=1e-4, atol=1e-6)
    assert (model.weight.diagonal() == 0).all()
    users = torch.tensor([3, 0, 7, 3, 39])
    np.testing.assert_allclose(model.score(users).numpy(), (r @ b)[users.numpy()], rtol=1e-4, atol=1e-6)


def test_refuses_when_the_item_matrices_do_not_fit(monkeypatch):
    monkeypatch.setattr("recsys_pyg.models.ease.psutil.virtual_memory", lambda: SimpleNamespace(available=2**30))
    EASE(10, 100)  # 3 x 100^2 x 4 bytes fits in 1 GiB
    check_memory(int(0.74 * 2**30), 2**30, 8000, "host")  # within 75% of what is available: accepted
    with pytest.raises(ValueError, match=r"9000 items needs about 0\.9 GiB .* but 1\.0 GiB .*75%.* model=gfcf"):
        EASE(10, 9000)  # 0.91 GiB would leave the rest of the run 0.09 GiB


def test_is_a_fit_model_and_checks_its_arguments():
    model = EASE(4, 5)
    assert isinstance(model, FitModel) and model.weight.shape == (5, 5)
    assert repr(model) == "EASE(4, 5, reg=500.0)"
    with pytest.raises(ValueError, match="reg must be > 0"):
        EASE(4, 5, reg=0)
    with pytest.raises(RuntimeError, match="before fit"):
        model.score(torch.tensor([0]))


def test_fit_only_run_through_train_beats_mostpop(cfg_factory, tmp_path):
    results = train(cfg_factory("model=ease", *DATA))
    assert results["test/recall@20"] > 1.8 * results["mostpop/test/recall@20"]  # 0.57 vs 0.26
    saved = torch.load(tmp_path / "checkpoints" / "best.pt", weights_only=True)
    assert saved["model"]["weight"].shape == (250, 250)
