"""Feature files: each kind encoded with training statistics, every bad file named by file, row and column."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from recsys_pyg.data import Interactions
from recsys_pyg.data.dataset import prepare_dataset
from recsys_pyg.data.feature_encoders import Categories, HashingText, Standardize, TfidfText
from recsys_pyg.data.features import FeatureFileError, FeatureRows, align, encode, infer_kind, read_feature_file
from recsys_pyg.data.split import Split


def _split(num_items: int = 4) -> Split:
    """Users 0, 1; items 0..2 in training, item 3 only in test (a cold item); raw item ids 10, 11, ..."""
    train = Interactions(torch.tensor([0, 0, 1, 1]), torch.tensor([0, 1, 1, 2]), 2, num_items,
                         item_ids=[10 + i for i in range(num_items)])  # fmt: skip
    empty = train.subset(torch.zeros(4, dtype=torch.bool))
    test = Interactions(torch.tensor([0]), torch.tensor([3]), 2, num_items, item_ids=train.item_ids)
    return Split(train, empty, test)


def _write(tmp_path, text: str, name: str = "items.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


GOOD = """item,price,brand,title,emb
10,1.0,acme,the red big shoe,1 0
11,2.0,acme,a blue small hat,0 1
12,3.0,zeta,the red small shoe,1 1
13,100.0,nova,a green hat,2 2
"""


def test_each_kind_is_encoded_with_training_statistics(tmp_path):
    rows = read_feature_file(_write(tmp_path, GOOD))
    assert rows.kinds == {"price": "numeric", "brand": "categorical", "title": "text", "emb": "vector"}
    data = prepare_dataset("toy", _split(), item_features=str(tmp_path / "items.csv"))
    feats = data.features["item"]
    assert [(c.name, c.width) for c in feats.columns] == [("price", 1), ("brand", 3), ("title", 7), ("emb", 2)]
    # price: mean 2, std sqrt(2/3) of the training items 10, 11, 12 only (item 13 is never in training)
    std = (2 / 3) ** 0.5
    torch.testing.assert_close(feats.dense[:, 0], torch.tensor([-1 / std, 0.0, 1 / std, 98 / std]))
    # brand: acme 1, zeta 2; nova was never seen in training: the reserved 0
    assert feats.categorical[:, 0].tolist() == [1, 1, 2, 0] and data.item_categories.shape == (4, 1)
    # the title vocabulary is the training titles' (7 terms: 'a' is dropped by the tokeniser); green is unknown
    title = feats.columns[2].encoder
    assert sorted(title.vectorizer.vocabulary_) == ["big", "blue", "hat", "red", "shoe", "small", "the"]
    torch.testing.assert_close(feats.dense[:, -2:], torch.tensor([[1.0, 0], [0, 1], [1, 1], [2, 2]]))
    assert data.item_features is feats.dense and data.item_features.shape == (4, 1 + 7 + 2)


def test_encoders_round_trip_through_their_state():
    texts = ["red shoe", "blue hat", "red hat"]
    for enc in (Standardize(), Categories(), TfidfText(max_features=3), HashingText(n_features=8)):
        values = [1.0, 2.0, 4.0] if isinstance(enc, Standardize) else texts
        enc.fit(values)
        config, tensors = enc.state()
        again = type(enc).from_state(config, tensors)
        new = [3.0] if isinstance(enc, Standardize) else ["red boot", "green"]
        assert torch.equal(again.transform(new), enc.transform(new))
    std = Standardize()
    std.fit([1.0, 3.0])
    torch.testing.assert_close(std.transform([5.0]), torch.tensor([[3.0]]))  # (5 - 2) / 1


def test_kinds_are_inferred_and_can_be_declared(tmp_path):
    assert infer_kind(["1", "2.5"]) == "numeric" and infer_kind(["0 1", "1 0"]) == "vector"
    assert infer_kind(["x", "y z"]) == "categorical" and infer_kind(["one two three", "four five six"]) == "text"
    rows = read_feature_file(_write(tmp_path, "id,zip\n1,90210\n2,10001\n"), types={"zip": "categorical"})
    assert rows.kinds == {"zip": "categorical"} and rows.columns["zip"] == ["90210", "10001"]


def test_parquet_and_npy_files(tmp_path):
    pa, pq = pytest.importorskip("pyarrow"), pytest.importorskip("pyarrow.parquet")
    table = pa.table({"item": [10, 11, 12, 13], "emb": [[0.0, 1.0], [1.0, 0.0], [1.0, 1.0], [0.5, 0.5]]})
    pq.write_table(table, tmp_path / "f.parquet")
    np.save(tmp_path / "f.npy", np.array([[10, 0, 1], [11, 1, 0], [12, 1, 1], [13, 0.5, 0.5]]))
    for name in ("f.parquet", "f.npy"):
        data = prepare_dataset("toy", _split(), item_features=str(tmp_path / name))
        torch.testing.assert_close(data.item_features[3], torch.tensor([0.5, 0.5]))


def _error(tmp_path, text: str, name: str = "items.csv", **kwargs) -> FeatureFileError:
    path = _write(tmp_path, text, name)
    with pytest.raises(FeatureFileError) as info:
        prepare_dataset("toy", _split(), item_features=str(path), **kwargs)
    assert str(path) in str(info.value)
    return info.value


@pytest.mark.parametrize(
    ("text", "line", "column", "says"),
    [
        ("item,price\n10,1\n11,2\n12,3\n", None, "item", "1 item id(s) of the data have no row: '13'"),
        ("item,price\n10,1\n,2\n12,3\n13,4\n", 3, "item", "no id"),
        ("item,price\n10,1\n11,2\n12,3\n13,4\n99,5\n", 6, "item", "item id '99' is not in the data"),
        ("item,price\n10,1\n11,2\n11,3\n12,3\n13,4\n", 4, "item", "'11' is duplicated (also on line 3)"),
        ("item,price\n10,1\n11,nan\n12,3\n13,4\n", 3, "price", "missing"),
        ("item,price\n10,1\n11,\n12,3\n13,4\n", 3, "price", "missing"),
        ("item,emb\n10,1 0\n11,0 1\n12,1 1 1\n13,0 0\n", 4, "emb", "3 values, expected 2"),
        ("item,emb\n10,1 0\n11,nan 1\n12,1 1\n13,0 0\n", 3, "emb", "NaN"),
        ("item,brand\n10,a\n11,\n12,b\n13,c\n", 3, "brand", "missing"),
    ],
    ids=[
        "id-without-row",
        "row-without-id",
        "unknown-id",
        "duplicate-id",
        "nan",
        "empty",
        "vector-width",
        "vector-nan",
        "categorical-missing",
    ],  # fmt: skip
)
def test_bad_csv_names_file_row_and_column(tmp_path, text, line, column, says):
    err = _error(tmp_path, text)
    assert err.row == line and err.column == column and says in str(err)
    if line is not None:
        assert f"line {line}, column '{column}'" in str(err)
    else:
        assert f"column '{column}'" in str(err)


def test_bad_numeric_declared_column_names_row(tmp_path):
    err = _error(tmp_path, "item,price\n10,1\n11,cheap\n12,3\n13,4\n", features={"types": {"price": "numeric"}})
    assert (err.row, err.column) == (3, "price") and "'cheap' is not a number" in str(err)


def test_bad_parquet_and_npy_name_the_row(tmp_path):
    pa, pq = pytest.importorskip("pyarrow"), pytest.importorskip("pyarrow.parquet")
    pq.write_table(pa.table({"item": [10, 11, 12, 13], "price": [1.0, float("nan"), 2.0, 3.0]}), tmp_path / "b.parquet")
    with pytest.raises(FeatureFileError, match=r"b\.parquet, row 2, column 'price': the value is missing"):
        prepare_dataset("toy", _split(), item_features=str(tmp_path / "b.parquet"))
    np.save(tmp_path / "b.npy", np.array([[10, 0, 1], [11, 1, 0], [12, 1, 1], [12, 0.5, 0.5]]))
    with pytest.raises(FeatureFileError, match=r"b\.npy, row 4, column 'id': id '12' is duplicated \(also on row 3\)"):
        prepare_dataset("toy", _split(), item_features=str(tmp_path / "b.npy"))
    np.save(tmp_path / "c.npy", np.array([[10, 0, 1], [11, np.nan, 0], [12, 1, 1], [13, 0.5, 0.5]]))
    with pytest.raises(FeatureFileError, match=r"c\.npy, row 2, column 'vector': the vector holds nan"):
        prepare_dataset("toy", _split(), item_features=str(tmp_path / "c.npy"))


def test_wrong_width_against_the_trained_model_and_short_rows(tmp_path):
    path = _write(tmp_path, "item,emb\n20,1 0 0\n")
    with pytest.raises(FeatureFileError, match=r"line 2, column 'emb': the vector has 3 values, expected 2"):
        read_feature_file(path, widths={"emb": 2})
    with pytest.raises(FeatureFileError, match=r"line 3: the row has 1 fields"):
        read_feature_file(_write(tmp_path, "item,emb\n20,1 0\n21\n"))


def test_a_row_for_a_filtered_node_is_dropped_not_refused():
    fr = FeatureRows(path=Path("f.csv"), id_column="item", ids=["10", "11"], rows=[2, 3],
                     unit="line", columns={"x": [1.0, 2.0]}, kinds={"x": "numeric"})  # fmt: skip
    assert align(fr, [10, 11], [11], "item") == {"x": [2.0]}


def test_encode_fits_on_training_nodes_only():
    feats = encode({"x": [0.0, 2.0, 100.0]}, {"x": "numeric"}, torch.tensor([0, 1]))
    torch.testing.assert_close(feats.dense[:, 0], torch.tensor([-1.0, 1.0, 99.0]))  # mean 1, std 1 of rows 0, 1


def test_user_features_file(tmp_path):
    path = _write(tmp_path, "user,age,job\n0,20,a\n1,40,b\n", "users.csv")
    data = prepare_dataset("toy", _split(), user_features=str(path))
    torch.testing.assert_close(data.user_features[:, 0], torch.tensor([-1.0, 1.0]))  # mean 30, std 10
    assert data.user_categories[:, 0].tolist() == [1, 2] and data.item_categories is None
