"""The export at the end of every run: complete, faithful to the run's metrics, and inert on load."""

import json
import pickle

import pytest
import torch
from hydra.utils import instantiate

from recsys_pyg.evaluation import Evaluator
from recsys_pyg.serving.export import ExportError, load_export
from recsys_pyg.train import train

TINY = ["debug=default", "train.epochs=3", "train.num_threads=1"]


def test_export_reproduces_the_runs_test_metrics(cfg_factory, tmp_path):
    cfg = cfg_factory(*TINY)
    results = train(cfg)
    exported = load_export(tmp_path)
    manifest = exported.manifest
    data = instantiate(cfg.dataset)
    assert manifest["model"] == "LightGCN" and manifest["dataset"] == data.name
    assert exported.user.shape == (data.num_users, manifest["dim"]) and exported.item.shape[0] == data.num_items
    assert manifest["best_epoch"] == results["best_epoch"] and manifest["protocol"]["ranking"] == "full"
    # seen = training + validation items, exactly what the test evaluation masks
    dense = torch.zeros(data.num_users, data.num_items, dtype=torch.bool)
    for csr in (data.graph.user_items, data.val_items):
        dense[csr.row_index(), csr.indices] = True
    assert torch.equal(exported.seen.to_dense(), dense)
    metrics = Evaluator(ks=list(cfg.eval.ks)).evaluate(exported.user, exported.item, data.test_items, [exported.seen])
    for key in ("recall@20", "ndcg@20", "precision@10", "hitrate@50"):
        assert metrics[key] == pytest.approx(results[f"test/{key}"], abs=1e-6), key
        assert manifest[f"test/{key}"] == pytest.approx(results[f"test/{key}"])


def test_cosine_model_exports_unit_items_and_ranks_as_the_run(cfg_factory, tmp_path):
    cfg = cfg_factory(*TINY, "model=mf", "loss=ccl", "sampler=shared", "sampler.num_negatives=64")
    results = train(cfg)
    exported = load_export(tmp_path)
    assert exported.manifest["items_normalized"] is True
    assert torch.allclose(exported.item.norm(dim=1), torch.ones(exported.item.shape[0]), atol=1e-5)
    data = instantiate(cfg.dataset)
    metrics = Evaluator(ks=list(cfg.eval.ks)).evaluate(exported.user, exported.item, data.test_items, [exported.seen])
    assert metrics["recall@20"] == pytest.approx(results["test/recall@20"], abs=1e-6)


def test_fit_only_model_says_it_has_no_embeddings(cfg_factory, tmp_path):
    train(cfg_factory("debug=default", "model=itemknn"))
    manifest = json.loads((tmp_path / "export" / "manifest.json").read_text())
    assert manifest["embeddings"] is None and "fit-only" in manifest["reason"]
    assert not (tmp_path / "export" / "embeddings.safetensors").exists()
    with pytest.raises(ExportError, match="ItemKNN is fit-only"):
        load_export(tmp_path)


class Payload:
    """Unpickling it runs a shell command that creates ``marker``."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        import os

        return (os.system, (f"touch {self.marker}",))


def test_a_crafted_export_cannot_run_code(cfg_factory, tmp_path):
    train(cfg_factory(*TINY))
    target, marker = tmp_path / "export" / "embeddings.safetensors", tmp_path / "payload_ran"
    target.write_bytes(pickle.dumps({"user": Payload(marker)}))  # a pickle where the tensors should be
    with pytest.raises(ExportError, match="not a readable safetensors file"):
        load_export(tmp_path)
    torch.save({"user": Payload(marker)}, target)  # a torch checkpoint (a pickle in a zip) likewise
    with pytest.raises(ExportError, match="not a readable safetensors file"):
        load_export(tmp_path)
    assert not marker.exists()
    pickle.loads(pickle.dumps(Payload(marker)))  # the payload is live: unpickled, it does run
    assert marker.exists()


def test_broken_exports_name_the_file(cfg_factory, tmp_path):
    with pytest.raises(ExportError, match="no export manifest"):
        load_export(tmp_path)
    train(cfg_factory(*TINY))
    manifest = tmp_path / "export" / "manifest.json"
    good = json.loads(manifest.read_text())
    manifest.write_text(json.dumps({**good, "dim": good["dim"] + 1}))
    with pytest.raises(ExportError, match=r"'user' should be .* per the manifest"):
        load_export(tmp_path)
    manifest.write_text("{not json")
    with pytest.raises(ExportError, match=r"manifest.json, line 1: not valid JSON"):
        load_export(tmp_path)


def test_a_popularity_prior_travels_with_the_export_and_ranks_as_the_run(cfg_factory, tmp_path):
    """loss.eval_popularity: the run's metrics rank cos + w log(1 + d_i); the export's extra column gives the same
    metrics, and the prior changes them (it is applied, not recorded only)."""
    common = (*TINY, "model=mf", "loss=softmax", "loss.similarity=cosine", "sampler=in_batch")
    results = train(cfg_factory(*common, "loss.eval_popularity=0.1"))
    exported = load_export(tmp_path)
    data = instantiate(cfg_factory(*common).dataset)
    assert exported.manifest["popularity_weight"] == 0.1 and exported.manifest["dim"] == exported.user.shape[1]
    torch.testing.assert_close(exported.user[:, -1], torch.ones(data.num_users))
    torch.testing.assert_close(exported.item[:, -1], 0.1 * torch.log1p(data.graph.item_degree.float()))
    metrics = Evaluator(ks=[20]).evaluate(exported.user, exported.item, data.test_items, [exported.seen])
    assert metrics["recall@20"] == pytest.approx(results["test/recall@20"], abs=1e-6)
    user, item = exported.user[:, :-1], exported.item[:, :-1]  # the same embeddings without the prior
    without = Evaluator(ks=[20]).evaluate(user, item, data.test_items, [exported.seen])
    assert without["recall@20"] != pytest.approx(results["test/recall@20"], abs=1e-4)
