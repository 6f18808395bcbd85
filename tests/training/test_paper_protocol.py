"""Without a validation part (the paper protocol) the test split is ranked once per evaluation and MostPop
once: the record still holds both keys, with the same numbers."""

from __future__ import annotations

import pytest

import recsys_pyg.train as train_module


@pytest.mark.parametrize("model", ["mf", "gfcf"])
def test_the_test_split_is_ranked_once(cfg_factory, tmp_path, monkeypatch, model):
    calls = {"model": 0, "mostpop": 0}
    evaluate, mostpop = train_module.evaluate_model, train_module.mostpop

    def counted_evaluate(*args, **kwargs):
        calls["model"] += 1
        return evaluate(*args, **kwargs)

    def counted_mostpop(*args, **kwargs):
        calls["mostpop"] += 1
        return mostpop(*args, **kwargs)

    monkeypatch.setattr(train_module, "evaluate_model", counted_evaluate)
    monkeypatch.setattr(train_module, "mostpop", counted_mostpop)
    extra = ["model.k=8"] if model == "gfcf" else ["train.epochs=4", "train.eval_every=2"]
    results = train_module.train(cfg_factory("debug=default", f"model={model}", "dataset.split.val_fraction=0.0",
                                             f"paths.data_dir={tmp_path / 'c'}", *extra))  # fmt: skip
    evaluations = 1 if model == "gfcf" else 2
    assert calls == {"model": evaluations, "mostpop": 1}  # no second ranking of test at the end
    assert results["test/recall@20"] == results["val/recall@20"] and results["test/ndcg@20"] == results["val/ndcg@20"]
    assert results["mostpop/test/recall@20"] == results["mostpop/val/recall@20"]


def test_with_a_validation_part_test_is_ranked_apart(cfg_factory, tmp_path):
    results = train_module.train(cfg_factory("debug=default", "model=mf", "train.epochs=2",
                                             f"paths.data_dir={tmp_path / 'c'}"))  # fmt: skip
    assert results["test/recall@20"] != results["val/recall@20"]
