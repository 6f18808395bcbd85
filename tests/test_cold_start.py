"""Cold-start evaluation: cold and warm items ranked apart (hand-computed), baselines, models that cannot."""

from __future__ import annotations

import math

import pytest
import torch

from recsys_pyg.cold_start import content_scores, group_metrics, restrict
from recsys_pyg.data import CSR, Interactions, RecDataset
from recsys_pyg.data.features import encode
from recsys_pyg.data.split import Split
from recsys_pyg.evaluation import Evaluator
from recsys_pyg.train import train
from tests.helpers.configs import DATA


def _toy() -> RecDataset:
    """Training u0: i0, u1: i1; test u0: i2 (cold), i1 (warm); u1: i3 (cold). Cold test items: 2, 3."""

    def part(u, i):
        return Interactions(torch.tensor(u), torch.tensor(i), 2, 4)

    split = Split(part([0, 1], [0, 1]), part([], []), part([0, 0, 1], [2, 1, 3]),
                  cold={"val": torch.tensor([], dtype=torch.long), "test": torch.tensor([2, 3])})  # fmt: skip
    return RecDataset("toy", split)


def test_restrict_keeps_and_renumbers_the_columns():
    csr = CSR.from_pairs(torch.tensor([0, 0, 1, 1]), torch.tensor([0, 2, 1, 3]), 2, 4)
    sub = restrict(csr, torch.tensor([3, 2]))
    assert sub.num_cols == 2 and sub.indptr.tolist() == [0, 1, 2] and sub.indices.tolist() == [1, 0]


def test_groups_rank_their_own_items_only():
    data = _toy()
    scores = torch.tensor([[9.0, 0.0, 0.1, 0.9], [0.0, 9.0, 0.5, 0.7]])  # (U, I)
    m = group_metrics(lambda users: scores[users], data, Evaluator(ks=[1, 2]), "test")
    # cold: u0 ranks {2: 0.1, 3: 0.9}: its item second; u1 ranks {2: 0.5, 3: 0.7}: its item first
    assert m["cold/recall@1"] == 0.5 and m["cold/recall@2"] == 1.0 and m["cold/users"] == 2
    assert math.isclose(m["cold/ndcg@2"], (1 / math.log2(3) + 1) / 2, rel_tol=1e-6)
    # warm: items 0 and 1; u0's training item 0 is masked, so item 1 (its test item) is first; u1 has none
    assert m["warm/recall@1"] == 1.0 and m["warm/users"] == 1


def test_content_baseline_is_the_cosine_of_mean_history_features():
    data = _toy()
    feats = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [2.0, 0.1]])
    data.features["item"] = encode({"f": feats.tolist()}, {"f": "vector"}, torch.tensor([0, 1]))
    score = content_scores(data)(torch.tensor([0, 1]))
    expected = torch.nn.functional.normalize(feats, dim=1)[[0, 1]] @ torch.nn.functional.normalize(feats, dim=1).T
    torch.testing.assert_close(score, expected)  # each user's history is one item: its own vector


@pytest.fixture
def cold_cfg(cfg_factory):
    def make(*overrides):
        return cfg_factory("dataset/split=cold_items", *DATA, "train.epochs=4", "train.eval_every=2",
                           "train.num_threads=1", *overrides)  # fmt: skip

    return make


def test_mf_is_reported_unable_to_score_cold_items_and_baselines_sit_beside(cold_cfg):
    results = train(cold_cfg("model=mf"))
    assert results["test/cold/scored"] == 0.0 and "test/cold/recall@20" not in results
    assert results["test/warm/recall@20"] > 0
    assert "mostpop/test/warm/recall@20" in results and "mostpop/test/cold/recall@20" not in results
    for name in ("content", "random"):
        assert {f"{name}/test/cold/recall@20", f"{name}/test/warm/ndcg@20"} <= results.keys()
    # random ranking of n cold items: expected Recall@20 = 20 / n for a user's every held-out item
    with pytest.raises(ValueError, match="cannot score cold items"):
        train(cold_cfg("model=mf", "train.monitor=val/cold/recall@20"))


def test_inductive_pinsage_learns_cold_items_from_features(cold_cfg):
    results = train(cold_cfg("model=pinsage", "model.id_embedding=false", "model.num_layers=1", "train.epochs=10",
                             "train.eval_every=5", "optimizer.lr=0.005", "train.monitor=val/cold/recall@20",
                             "dataset.source.num_items=800"))  # fmt: skip
    assert results["test/cold/scored"] == 1.0  # 80 cold test items: random ranking finds ~10/80 of them in 10
    assert results["test/cold/recall@10"] > 2 * results["random/test/cold/recall@10"]
