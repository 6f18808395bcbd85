"""recsys-recommend: original ids in and out, the evaluator's ranking, clear errors."""

import csv
import io
import json

import pytest
import torch
from hydra.utils import instantiate

from recsys_pyg.evaluation import Evaluator
from recsys_pyg.serving.export import load_export
from recsys_pyg.serving.recommend import main
from recsys_pyg.train import train


@pytest.fixture
def string_id_run(cfg_factory, tmp_path):
    """A run on an interactions CSV whose users and items are strings."""
    rows = ["user,item,timestamp"]
    gen = torch.Generator().manual_seed(2)
    for u in range(40):
        for t, i in enumerate(torch.randperm(60, generator=gen)[:12].tolist()):
            rows.append(f"u{u},item-{i},{1000 + t}")
    (tmp_path / "log.csv").write_text("\n".join(rows) + "\n")
    cfg = cfg_factory("dataset=interactions", f"dataset.path={tmp_path / 'log.csv'}", f"paths.data_dir={tmp_path}",
                      "train.epochs=3", "train.num_threads=1")  # fmt: skip
    cfg.paths.output_dir = str(tmp_path / "run")
    train(cfg)
    return tmp_path / "run", cfg


def test_ids_round_trip_and_match_the_evaluator(string_id_run, capsys):
    run, cfg = string_id_run
    main([str(run), "--users", "u3", "u17", "u0", "--k", "5"])
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r["user"] for r in rows[::5]] == ["u3", "u17", "u0"] and [r["rank"] for r in rows[:5]] == list("12345")
    exported = load_export(run)
    users = torch.tensor([exported.user_ids.index(u) for u in ("u3", "u17", "u0")])
    top = Evaluator(ks=[5]).top_k(exported.user, exported.item, users, 5, exclude=[exported.seen])
    assert [r["item"] for r in rows] == [exported.item_ids[i] for i in top.flatten().tolist()]
    assert all(r["item"].startswith("item-") for r in rows)
    # the items are the data's own: never one the user has seen in training or validation
    data = instantiate(cfg.dataset)
    seen = {(u, i) for u, i in zip(data.split.train.user.tolist(), data.split.train.item.tolist(), strict=True)}
    assert not any((exported.user_ids.index(r["user"]), exported.item_ids.index(r["item"])) in seen for r in rows)


def test_all_users_jsonl_is_the_evaluators_top_k_for_everyone(string_id_run, tmp_path):
    run, _ = string_id_run
    out = tmp_path / "all.jsonl"
    main([str(run), "--all-users", "--k", "10", "--format", "jsonl", "--out", str(out), "--batch-size", "7"])
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    exported = load_export(run)
    assert [x["user"] for x in lines] == exported.user_ids
    top = Evaluator(ks=[10], chunk_size=7).top_k(exported.user, exported.item, torch.arange(40), 10, [exported.seen])
    assert [x["items"] for x in lines] == [[exported.item_ids[i] for i in row] for row in top.tolist()]
    assert all(x["scores"] == sorted(x["scores"], reverse=True) for x in lines)


def test_unknown_users_are_an_error_or_skipped(string_id_run, tmp_path, capsys):
    run, _ = string_id_run
    with pytest.raises(SystemExit, match=r"1 user id\(s\) not in this run's data: 'nobody'.*--skip-unknown"):
        main([str(run), "--users", "u1", "nobody"])
    users = tmp_path / "users.txt"
    users.write_text("# who\nu1\nnobody\n\nu2,extra\n")
    main([str(run), "--users-file", str(users), "--skip-unknown", "--k", "2"])
    captured = capsys.readouterr()
    assert "skipped 1 unknown user id(s): nobody" in captured.err
    assert [r["user"] for r in csv.DictReader(io.StringIO(captured.out))] == ["u1", "u1", "u2", "u2"]


def test_a_run_without_embeddings_or_export_is_refused_clearly(cfg_factory, tmp_path):
    with pytest.raises(SystemExit, match="no export manifest"):
        main([str(tmp_path), "--users", "0"])
    train(cfg_factory("debug=default", "model=gfcf", "model.k=8"))
    with pytest.raises(SystemExit, match="GFCF is fit-only"):
        main([str(tmp_path), "--users", "0"])


def test_index_options_reach_the_index(string_id_run, capsys):
    pytest.importorskip("faiss")
    run, _ = string_id_run
    main([str(run), "--users", "u3", "--k", "5", "--index", "hnsw", "--ef-search", "8", "--candidates", "60"])
    staged = [r["item"] for r in csv.DictReader(io.StringIO(capsys.readouterr().out))]
    main([str(run), "--users", "u3", "--k", "5"])
    exact = [r["item"] for r in csv.DictReader(io.StringIO(capsys.readouterr().out))]
    assert len(staged) == 5 and len(set(staged) & set(exact)) >= 3  # a tiny catalogue: HNSW finds most
