"""A damaged or edited export, and index options out of range, are refused before anything is served.

Every export here is written by ``export_run`` itself (a fixed-embedding model, 6 users x 8 items), then
edited the way a tampered or truncated copy would be. Each case: ``load_export`` raises naming the file
(and key, row or entry), ``recsys-recommend`` exits 1 with one ``error:`` line and writes no output.
"""

import json
import re
import warnings
from types import SimpleNamespace

import pytest
import torch
from safetensors.torch import load_file, save_file

from recsys_pyg.data.graph import CSR
from recsys_pyg.serving.export import ExportError, export_run, load_export
from recsys_pyg.serving.recommend import main
from recsys_pyg.serving.retrieval import Retriever, ShortTopKWarning

NUM_USERS, NUM_ITEMS, DIM = 6, 8, 4


class Fixed(torch.nn.Module):
    """A "model" whose final embeddings are given: what export_run writes is then known exactly."""

    def __init__(self, user: torch.Tensor, item: torch.Tensor) -> None:
        super().__init__()
        self.user, self.item = torch.nn.Parameter(user), torch.nn.Parameter(item)

    def forward(self, graph):
        return self.user, self.item


@pytest.fixture
def run(tmp_path):
    """A run folder with raw ids, exported by ``export_run``; user ``u0`` has seen items ``i0`` and ``i1``."""
    gen = torch.Generator().manual_seed(0)
    model = Fixed(torch.randn(NUM_USERS, DIM, generator=gen), torch.randn(NUM_ITEMS, DIM, generator=gen))
    train = CSR.from_pairs(torch.tensor([0, 1, 2]), torch.tensor([0, 2, 3]), NUM_USERS, NUM_ITEMS)
    val = CSR.from_pairs(torch.tensor([0, 3]), torch.tensor([1, 4]), NUM_USERS, NUM_ITEMS)
    (tmp_path / "user_ids.json").write_text(json.dumps([f"u{u}" for u in range(NUM_USERS)]))
    (tmp_path / "item_ids.json").write_text(json.dumps([f"i{i}" for i in range(NUM_ITEMS)]))
    data = SimpleNamespace(graph=SimpleNamespace(user_items=train), val_items=val)
    export_run(model, None, data, tmp_path, cosine=False, info={"dataset": "tiny"})
    return tmp_path


def edit_tensors(run, **changes):
    """Rewrite the export's safetensors with some tensors replaced (a valid file, wrong content)."""
    path = run / "export" / "embeddings.safetensors"
    tensors = load_file(str(path))
    tensors.update(changes)
    save_file(tensors, str(path))


def edit_json(run, name, change):
    path = run / "export" / name
    path.write_text(json.dumps(change(json.loads(path.read_text()))))


def refused(run, match, out):
    """``load_export`` raises matching ``match``; the CLI exits 1 with one error line and no output file."""
    with pytest.raises(ExportError, match=match):
        load_export(run)
    with pytest.raises(SystemExit) as exit_info:
        main([str(run), "--users", "u0", "--k", "3", "--out", str(out)])
    message = str(exit_info.value.code)
    assert message.startswith("recsys-recommend: error: ") and "\n" not in message
    assert not out.exists()  # nothing served
    return message


def test_the_untouched_export_serves(run, tmp_path):
    out = tmp_path / "recs.csv"
    main([str(run), "--users", "u0", "--k", "3", "--out", str(out)])
    rows = out.read_text().splitlines()[1:]
    assert len(rows) == 3 and not any(r.split(",")[2] in ("i0", "i1") for r in rows)  # u0's seen items excluded


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_non_finite_embeddings_are_refused(run, tmp_path, value):
    item = load_file(str(run / "export" / "embeddings.safetensors"))["item"]
    item[5, 2] = value
    edit_tensors(run, item=item)
    message = refused(run, r"embeddings.safetensors: 'item' has 1 row\(s\) with NaN or infinite values "
                      r"\(first: row 5\); restore", tmp_path / "recs.csv")  # fmt: skip
    assert "rerun the run" in message


def test_a_negative_seen_index_is_refused(run, tmp_path):
    edit_tensors(run, seen_indices=torch.tensor([-1, 1, 2, 3, 4]))  # u0 had seen i0: now "-1"
    refused(run, r"embeddings.safetensors: 'seen_indices' entry 0 \(user row 0\) is item -1, outside 0..7",
            tmp_path / "recs.csv")  # fmt: skip


def test_an_out_of_range_seen_index_is_refused(run, tmp_path):
    edit_tensors(run, seen_indices=torch.tensor([0, 1, 2, 3, 99]))
    refused(run, r"'seen_indices' entry 4 \(user row 3\) is item 99, outside 0..7", tmp_path / "recs.csv")


def test_a_decreasing_seen_indptr_is_refused(run, tmp_path):
    edit_tensors(run, seen_indptr=torch.tensor([0, 2, 1, 4, 5, 5, 5]))
    refused(run, r"'seen_indptr' decreases at user row 1 \(2 -> 1\)", tmp_path / "recs.csv")


@pytest.mark.parametrize(
    "indptr,match",
    [
        ([1, 2, 3, 4, 5, 5, 5], r"'seen_indptr' should start at 0, got 1"),
        ([0, 2, 3, 4, 5, 5, 9], r"'seen_indptr' ends at 9 but 'seen_indices' holds 5 entries"),
        ([0, 2, 3, 4, 5], r"'seen_indptr' should have 7 entries \(one per user, plus one\), got 5"),
    ],
)
def test_a_malformed_seen_indptr_is_refused(run, tmp_path, indptr, match):
    edit_tensors(run, seen_indptr=torch.tensor(indptr))
    refused(run, match, tmp_path / "recs.csv")


def test_a_manifest_missing_a_key_is_refused(run, tmp_path):
    edit_json(run, "manifest.json", lambda m: {k: v for k, v in m.items() if k != "num_items"})
    refused(run, r"manifest.json: key 'num_items' is missing; restore", tmp_path / "recs.csv")


def test_a_manifest_holding_a_list_is_refused(run, tmp_path):
    edit_json(run, "manifest.json", lambda m: [m])
    refused(run, r"manifest.json: should hold a JSON object .*, got an array", tmp_path / "recs.csv")


@pytest.mark.parametrize("key,value", [("num_users", "6"), ("dim", 0), ("embeddings", "../elsewhere.safetensors")])
def test_a_manifest_with_a_bad_value_is_refused(run, tmp_path, key, value):
    edit_json(run, "manifest.json", lambda m: {**m, key: value})
    refused(run, rf"manifest.json: '{key}' should (be|name)", tmp_path / "recs.csv")


def test_an_id_map_holding_a_number_is_refused(run, tmp_path):
    (run / "export" / "user_ids.json").write_text("7")
    refused(run, r"user_ids.json: should hold a JSON array of 6 ids .*, got a number", tmp_path / "recs.csv")


def test_an_id_map_of_the_wrong_length_is_refused(run, tmp_path):
    edit_json(run, "item_ids.json", lambda ids: ids[:-1])
    refused(run, r"item_ids.json: should hold 8 ids \(one per item in the manifest\), got 7",
            tmp_path / "recs.csv")  # fmt: skip


def test_a_duplicate_id_is_refused(run, tmp_path):
    edit_json(run, "user_ids.json", lambda ids: ids[:4] + ["u0", ids[5]])  # u0 at rows 0 and 4
    refused(run, r"user_ids.json: entries 0 and 4 are both 'u0' .* ambiguous", tmp_path / "recs.csv")


def test_ids_equal_as_text_are_a_duplicate(run, tmp_path):
    edit_json(run, "item_ids.json", lambda ids: [7, "7", *ids[2:]])  # looked up as text, both are "7"
    refused(run, r"item_ids.json: entries 0 and 1 are both '7'", tmp_path / "recs.csv")


def test_a_null_item_id_is_refused(run, tmp_path):
    edit_json(run, "item_ids.json", lambda ids: ids[:3] + [None] + ids[4:])
    refused(run, r"item_ids.json: entry 3 is null; every id must be a string or a number",
            tmp_path / "recs.csv")  # fmt: skip


def cli_error(run, tmp_path, *args):
    """The CLI's one-line error for ``args``, and that it wrote nothing."""
    out = tmp_path / "recs.csv"
    with pytest.raises(SystemExit) as exit_info:
        main([str(run), "--users", "u0", "--k", "3", "--out", str(out), *args])
    assert not out.exists()
    message = str(exit_info.value.code)
    assert message.startswith("recsys-recommend: error: ") and "\n" not in message
    return message


@pytest.mark.parametrize(
    "args,match",
    [
        (["--index", "hnsw", "--ef-search", "0"], "ef_search must be an integer from 1 to"),
        (["--index", "ivfpq", "--nprobe", "0"], "nprobe must be an integer from 1 to"),
        (["--index", "ivfpq", "--nprobe", "-3"], r"nprobe must be an integer from 1 to .* got -3"),
        (["--ef-search", "0"], "ef_search must be"),  # ignored by exact ranking, but still a mistake
    ],
)
def test_cli_index_options_out_of_range_are_one_line_errors(run, tmp_path, args, match):
    assert re.search(match, cli_error(run, tmp_path, *args))


def test_cli_ivfpq_on_a_tiny_catalogue_says_why(run, tmp_path):
    pytest.importorskip("faiss")
    message = cli_error(run, tmp_path, "--index", "ivfpq")
    assert "needs at least 256 items; there are 8: use 'flat' (exact) or 'hnsw'" in message


def problem(num_items=300):
    gen = torch.Generator().manual_seed(1)
    user, item = torch.randn(5, 8, generator=gen), torch.randn(num_items, 8, generator=gen)
    return user, item, CSR.from_pairs(torch.tensor([0]), torch.tensor([0]), 5, num_items)


@pytest.mark.parametrize(
    "options,match",
    [
        ({"index": "hnsw", "hnsw_m": 0}, r"hnsw_m must be an integer from 2 to 1024 \(hnsw: .*\), got 0"),  # was abort
        ({"index": "hnsw", "hnsw_m": -1}, r"hnsw_m must be an integer from 2 to 1024"),  # was a hang
        ({"index": "hnsw", "hnsw_m": 1}, r"hnsw_m must be an integer from 2 to 1024"),  # was a segfault
        ({"index": "hnsw", "ef_search": 0}, r"ef_search must be an integer from 1 to"),
        ({"index": "ivfpq", "nlist": 301}, r"nlist must be an integer from 1 to 300 \(ivfpq: .*number of items"),
        ({"index": "ivfpq", "nprobe": 0}, r"nprobe must be an integer from 1 to"),
        ({"index": "ivfpq", "pq_m": 3}, r"pq_m must divide the dimension 8 \(one of 1, 2, 4, 8\), got 3"),
        ({"index": "ivfpq", "pq_m": 16}, r"pq_m must be an integer from 1 to 8"),
        ({"index": "ivfpq", "nlist": 2.5}, r"nlist must be an integer"),
        ({"index": "flat", "npobe": 4}, r"unknown index option\(s\) 'npobe': one of nlist, nprobe"),
    ],
)
def test_retriever_checks_index_options_before_faiss(options, match):
    user, item, seen = problem()
    with pytest.raises(ValueError, match=match):
        Retriever(user, item, seen, **options)  # no faiss call: these run without faiss installed


def test_retriever_refuses_non_finite_embeddings_and_a_bad_seen_csr():
    user, item, seen = problem()
    item[7, 0] = float("nan")
    with pytest.raises(ValueError, match=r"item_emb has 1 row\(s\) with NaN or infinite values \(first: row 7\)"):
        Retriever(user, item, seen)
    user, item, _ = problem()
    bad = CSR(torch.tensor([0, 1, 1, 1, 1, 1]), torch.tensor([-1]), 300)
    with pytest.raises(ValueError, match=r"seen: 'seen.indices' entry 0 \(user row 0\) is item -1"):
        Retriever(user, item, bad)


def test_k_above_the_candidates_warns_and_returns_what_there_is(run, tmp_path, capsys):
    pytest.importorskip("faiss")
    out = tmp_path / "recs.csv"
    main([str(run), "--users", "u0", "u5", "--k", "5", "--index", "flat", "--candidates", "3", "--out", str(out)])
    err = capsys.readouterr().err
    assert "recsys-recommend: warning: k=5 but at most 3 items can be returned per user (the flat index proposes " \
           "candidates=3 per user)" in err  # fmt: skip
    rows = out.read_text().splitlines()[1:]
    assert [r.split(",")[:2] for r in rows] == [["u0", "1"], ["u0", "2"], ["u0", "3"], ["u5", "1"], ["u5", "2"],
                                                ["u5", "3"]]  # fmt: skip
    user, item, seen = problem()
    with pytest.warns(ShortTopKWarning, match=r"k=5 but at most 3 items can be returned per user"):
        _, items = Retriever(user, item, seen, index="flat", candidates=3).top_k(torch.arange(5), 5)
    assert items.shape == (5, 5) and (items[:, :3] >= 0).all() and (items[:, 3:] == -1).all()  # padded, not filled


def test_k_above_the_catalogue_or_the_unseen_items_warns(run, tmp_path, capsys):
    out = tmp_path / "recs.jsonl"
    main([str(run), "--users", "u0", "u5", "--k", "7", "--format", "jsonl", "--out", str(out)])
    err = capsys.readouterr().err
    # k=7 <= 8 items, but u0 has seen 2: 6 left
    assert "recsys-recommend: warning: 1 of 2 user(s) got fewer than 7 items" in err
    assert [len(json.loads(x)["items"]) for x in out.read_text().splitlines()] == [6, 7]
    main([str(run), "--users", "u5", "--k", "20", "--out", str(out)])
    assert "warning: k=20 but at most 8 items can be returned per user (the catalogue has 8 items)" in (
        capsys.readouterr().err
    )
    assert len(out.read_text().splitlines()) == 1 + 8
    user, item, seen = problem(num_items=10)
    with pytest.warns(ShortTopKWarning, match=r"k=12 but at most 10 items .*the catalogue has 10 items"):
        Retriever(user, item, seen).top_k(torch.arange(1, 5), 12)
    with pytest.warns(ShortTopKWarning, match=r"1 of 5 user\(s\) got fewer than 10 items"):
        Retriever(user, item, seen).top_k(torch.arange(5), 10)  # user 0 has seen one of the 10
    with warnings.catch_warnings():
        warnings.simplefilter("error", ShortTopKWarning)
        Retriever(user, item, seen).top_k(torch.arange(5), 9)  # everyone gets 9: nothing to say
