"""New items without retraining: a copy of an item's features is ranked like it, edges shape neighbourhoods,
bad files are named, and the export holds no pickle."""

from __future__ import annotations

import csv
import io

import pytest
import torch
from hydra.utils import instantiate

from recsys_pyg.data import CSR
from recsys_pyg.data.features import FeatureFileError
from recsys_pyg.serving.add_items import embed_new_items, new_item_neighbourhoods
from recsys_pyg.serving.export import load_export
from recsys_pyg.serving.recommend import main
from recsys_pyg.train import train
from tests.helpers.configs import DATA


@pytest.fixture(scope="module")
def inductive_run(tmp_path_factory):
    """An inductive PinSAGE (no ID rows) trained for 2 epochs on the cold-item split of the small synthetic data."""
    from tests.conftest import make_cfg

    folder = tmp_path_factory.mktemp("inductive")
    cfg = make_cfg(["model=pinsage", "model.id_embedding=false", "model.num_layers=1", "dataset/split=cold_items",
                    *DATA, "train.epochs=2", "train.eval_every=2", "train.num_threads=1"], folder / "run")  # fmt: skip
    train(cfg)
    return folder / "run", instantiate(cfg.dataset)


def _features_file(path, ids, rows):
    lines = ["item,features"] + [f"{i}," + " ".join(f"{x:.9g}" for x in row) for i, row in zip(ids, rows)]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_export_keeps_the_tower_as_safetensors_and_json(inductive_run):
    run, _ = inductive_run
    names = sorted(p.name for p in (run / "export").iterdir())
    assert "item_tower.safetensors" in names and all(n.endswith((".safetensors", ".json")) for n in names)
    exported = load_export(run)
    entry = exported.manifest["item_tower"]
    assert entry["num_layers"] == 1 and [e["name"] for e in entry["encoders"]] == ["features"]


def test_a_copy_of_an_items_features_is_embedded_and_ranked_like_it(inductive_run, tmp_path, capsys):
    run, data = inductive_run
    exported = load_export(run)
    cold = int(data.split.cold["test"][0])  # no training edges: its embedding is its features' alone
    raw = data.split.train.item_features[cold]
    path = _features_file(tmp_path / "new.csv", ["new-1"], [raw.tolist()])
    new = embed_new_items(exported, path)
    torch.testing.assert_close(new.emb[0], exported.item[cold], atol=1e-5, rtol=1e-5)
    main([str(run), "--all-users", "--k", str(exported.item.shape[0] + 1), "--add-items", str(path)])
    out = capsys.readouterr()
    assert "added 1 new item(s) in" in out.err
    ranks: dict[str, dict[str, int]] = {}
    for row in csv.DictReader(io.StringIO(out.out)):
        ranks.setdefault(row["user"], {})[row["item"]] = int(row["rank"])
    together = [r for r in ranks.values() if str(cold) in r]
    assert len(together) > 10 and all(abs(r[str(cold)] - r["new-1"]) == 1 for r in together)  # tied, side by side


def test_hnsw_takes_the_new_items_too(inductive_run, tmp_path, capsys):
    pytest.importorskip("faiss")
    run, data = inductive_run
    exported = load_export(run)
    items = data.split.cold["test"]
    cold = int(items[(exported.user @ exported.item[items].T).mean(0).argmax()])  # a cold item often in a top 20
    path = _features_file(tmp_path / "new.csv", ["new-1"], [data.split.train.item_features[cold].tolist()])
    main([str(run), "--all-users", "--k", "20", "--index", "hnsw", "--add-items", str(path)])
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    with_cold = {r["user"] for r in rows if r["item"] == str(cold)}
    with_new = {r["user"] for r in rows if r["item"] == "new-1"}
    assert with_cold and len(with_cold & with_new) >= 0.8 * len(with_cold)


def test_neighbourhood_of_a_new_item_is_the_one_step_walk_distribution():
    # users: u0 saw items {0, 1}, u1 saw {1, 2, 3}; new item 0 has users u0 and u1, new item 1 none
    seen = CSR.from_pairs(torch.tensor([0, 0, 1, 1, 1]), torch.tensor([0, 1, 1, 2, 3]), 2, 4)
    index, weight = new_item_neighbourhoods(seen, torch.tensor([0, 1]), torch.tensor([0, 0]), 2, top_t=3)
    # item 1: 1/2 * 1/2 + 1/2 * 1/3 = 5/12; items 0: 1/4; 2 and 3: 1/6 each (the top 3 keep 1, 0, then 2)
    assert index[0].tolist()[:2] == [1, 0] and index[0, 2] in (2, 3)
    torch.testing.assert_close(weight[0], torch.tensor([5 / 12, 1 / 4, 1 / 6]))
    assert weight[1].sum() == 0


def test_edges_change_the_new_items_embedding(inductive_run, tmp_path):
    run, data = inductive_run
    exported = load_export(run)
    cold = int(data.split.cold["test"][0])
    path = _features_file(tmp_path / "new.csv", ["new-1"], [data.split.train.item_features[cold].tolist()])
    (tmp_path / "edges.csv").write_text("user,item\n0,new-1\n1,new-1\n")
    with_edges = embed_new_items(exported, path, tmp_path / "edges.csv")
    assert not torch.allclose(with_edges.emb[0], exported.item[cold])
    assert with_edges.seen_users.tolist() == [0, 1] and with_edges.seen_items.tolist() == [0, 0]


def test_bad_new_item_files_are_named(inductive_run, tmp_path):
    run, _ = inductive_run
    exported = load_export(run)
    (tmp_path / "a.csv").write_text("item,price\nn1,3\n")
    with pytest.raises(FeatureFileError, match=r"a\.csv, column 'features': the model was trained with this column"):
        embed_new_items(exported, tmp_path / "a.csv")
    path = _features_file(tmp_path / "b.csv", ["n1", "5"], [[0.0] * 16, [0.0] * 16])
    with pytest.raises(FeatureFileError, match=r"b\.csv, line 3, column 'item': item '5' is already in the export"):
        embed_new_items(exported, path)
    path = _features_file(tmp_path / "c.csv", ["n1"], [[0.0] * 15])
    with pytest.raises(
        FeatureFileError, match=r"c\.csv, line 2, column 'features': the vector has 15 values, expected 16"
    ):
        embed_new_items(exported, path)
    path = _features_file(tmp_path / "d.csv", ["n1"], [[0.0] * 16])
    (tmp_path / "e.csv").write_text("user,item\n0,n1\nnobody,n1\n")
    with pytest.raises(FeatureFileError, match=r"e\.csv, line 3, column 'user': user 'nobody' is not in the export"):
        embed_new_items(exported, path, tmp_path / "e.csv")


def test_a_transductive_export_refuses_new_items(cfg_factory, tmp_path, capsys):
    train(cfg_factory("model=mf", *DATA, "train.epochs=1", "train.num_threads=1"))
    (tmp_path / "n.csv").write_text("item,features\nn1,0 0\n")
    with pytest.raises(SystemExit, match="has no item tower"):
        main([str(tmp_path), "--users", "0", "--add-items", str(tmp_path / "n.csv")])


def test_numeric_categorical_and_text_columns_go_through_the_exported_encoders(cfg_factory, tmp_path):
    gen = torch.Generator().manual_seed(4)
    rows = ["user,item,timestamp"]
    for u in range(40):
        for t, i in enumerate(torch.randperm(60, generator=gen)[:12].tolist()):
            rows.append(f"u{u},i{i},{1000 + t}")
    (tmp_path / "log.csv").write_text("\n".join(rows) + "\n")
    words = ["red", "blue", "shoe", "hat", "big", "small"]
    items = ["item,price,brand,title"] + [
        f"i{i},{i % 7 + 0.5},b{i % 4},{words[i % 6]} {words[(i + 1) % 6]} {words[(i + 3) % 6]}" for i in range(60)
    ]
    (tmp_path / "items.csv").write_text("\n".join(items) + "\n")
    files = [f"dataset.path={tmp_path / 'log.csv'}", f"paths.data_dir={tmp_path}",
             f"dataset.item_features={tmp_path / 'items.csv'}"]  # fmt: skip
    model = ["model=pinsage", "model.id_embedding=false", "model.num_layers=1"]
    cfg = cfg_factory("dataset=interactions", *files, "dataset/split=cold_items", *model, "train.epochs=1",
                      "train.num_threads=1")  # fmt: skip
    cfg.paths.output_dir = str(tmp_path / "run")
    train(cfg)
    exported = load_export(tmp_path / "run")
    assert [e["name"] for e in exported.manifest["item_tower"]["encoders"]] == ["price", "brand", "title"]
    data = instantiate(cfg.dataset)
    cold = int(data.split.cold["test"][0])
    raw = data.split.train.item_ids[cold]
    row = next(line for line in items if line.startswith(f"{raw},"))
    (tmp_path / "new.csv").write_text(f"{items[0]}\n{row.replace(raw, 'fresh', 1)}\nother,1e3,b99,green boot\n")
    new = embed_new_items(exported, tmp_path / "new.csv")
    torch.testing.assert_close(new.emb[0], exported.item[cold], atol=1e-5, rtol=1e-5)
    assert torch.isfinite(new.emb[1]).all()  # an unknown brand (the reserved index) and unknown words


def test_a_damaged_tower_is_refused_naming_the_file(inductive_run, tmp_path):
    import shutil

    from recsys_pyg.serving.export import ExportError

    run, _ = inductive_run
    copy = tmp_path / "export"
    shutil.copytree(run / "export", copy)
    (copy / "item_tower.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(ExportError, match=r"item_tower\.safetensors: the item tower does not load"):
        load_export(copy)


def test_new_items_get_the_exports_popularity_column(tmp_path):
    """With loss.eval_popularity the export ranks by [u, 1] . [i, w log(1 + d_i)]: a new item has no training edges,
    so its column is 0, and a copy of a cold item's features is embedded exactly like that cold item."""
    from tests.conftest import make_cfg

    cfg = make_cfg(["model=pinsage", "model.id_embedding=false", "model.num_layers=1", "dataset/split=cold_items",
                    "loss=softmax", "loss.similarity=cosine", "loss.eval_popularity=0.1", "sampler=in_batch",
                    *DATA, "train.epochs=1", "train.eval_every=1", "train.num_threads=1"],
                   tmp_path / "run")  # fmt: skip
    train(cfg)
    data = instantiate(cfg.dataset)
    exported = load_export(tmp_path / "run")
    assert exported.manifest["popularity_weight"] == 0.1
    cold = int(data.split.cold["test"][0])
    path = _features_file(tmp_path / "new.csv", ["new-1"], [data.split.train.item_features[cold].tolist()])
    new = embed_new_items(exported, path)
    assert new.emb.shape == (1, exported.item.shape[1]) and float(new.emb[0, -1]) == 0.0
    torch.testing.assert_close(new.emb[0], exported.item[cold], atol=1e-5, rtol=1e-5)
