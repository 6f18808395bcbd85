"""Generic CSV / TSV / Parquet interaction tables: id mapping, separators, error messages."""

from __future__ import annotations

import gzip
import json
import re
import sys
from pathlib import Path

import pytest
import torch

from recsys_pyg.data.files import DataFileError
from recsys_pyg.data.table import load_table, save_id_maps

CSV = "user,item,timestamp,rating\nalice,i9,30,5\nbob,i3,10,2\nalice,i3,20,4\ncarol,i7,40,1\n"


def test_csv_string_ids_in_order_of_first_appearance(tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    path.write_text(CSV)
    data = load_table(path, rating_col="rating")
    assert data.user_ids == ["alice", "bob", "carol"] and data.item_ids == ["i9", "i3", "i7"]
    assert data.user.tolist() == [0, 1, 0, 2] and data.item.tolist() == [0, 1, 1, 2]
    assert data.timestamp.dtype == torch.long and data.timestamp.tolist() == [30, 10, 20, 40]
    assert data.rating.tolist() == [5.0, 2.0, 4.0, 1.0]


def test_threshold_keeps_the_id_space(tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    path.write_text(CSV)
    data = load_table(path, rating_col="rating", threshold=4)
    assert (data.num_users, data.num_items, len(data)) == (3, 3, 2)
    assert data.user.tolist() == [0, 0] and data.item.tolist() == [0, 1]
    with pytest.raises(ValueError, match="rating_col"):
        load_table(path, threshold=4)


def test_tsv_gzipped_with_integer_ids_and_float_times(tmp_path: Path) -> None:
    path = tmp_path / "events.tsv.gz"
    path.write_bytes(gzip.compress(b"u\ti\tt\n10\t7\t1.5\n3\t7\t2.0\n10\t007\t3\n"))
    data = load_table(path, user_col="u", item_col="i", time_col="t")
    assert data.user_ids == [10, 3]  # all canonical integers: kept as ints
    assert data.item_ids == ["7", "007"]  # '007' is not canonical: strings, never merged with '7'
    assert data.timestamp.dtype == torch.float64 and data.timestamp.tolist() == [1.5, 2.0, 3.0]


def test_no_header_positions_and_multichar_separator(tmp_path: Path) -> None:
    path = tmp_path / "ratings.dat"
    path.write_text("1::10::5::100\n2::10::3::200\n1::20::4::300")
    data = load_table(path, user_col=0, item_col=1, time_col=3, rating_col="2", sep="::", header=False)
    assert data.user_ids == [1, 2] and data.item_ids == [10, 20]
    assert data.rating.tolist() == [5.0, 3.0, 4.0] and data.timestamp.tolist() == [100, 200, 300]


def test_missing_column_lists_the_columns_found(tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    path.write_text("uid,iid,ts\n1,2,3\n")
    with pytest.raises(DataFileError) as info:
        load_table(path)
    msg = str(info.value)
    assert msg.startswith(f"{path}: no column 'user'") and "['uid', 'iid', 'ts']" in msg and "user_col=" in msg
    with pytest.raises(DataFileError, match=r"no column 'timestamp'.*time_col=.*or null"):
        load_table(path, user_col="uid", item_col="iid")
    assert len(load_table(path, user_col="uid", item_col="iid", time_col=None)) == 1


def test_non_numeric_value_names_file_line_and_value(tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    path.write_text("user,item,timestamp\n1,2,3\n\n1,3,yesterday\n")
    with pytest.raises(DataFileError) as info:
        load_table(path)
    assert str(info.value) == f"{path}, line 4: timestamp (timestamp) 'yesterday' is not a number; fix or drop the row"
    path.write_text("user,item,timestamp,stars\n1,2,3,4\n1,3,5,five\n")
    with pytest.raises(DataFileError, match=r"events\.csv, line 3: rating \(stars\) 'five' is not a number"):
        load_table(path, rating_col="stars")


def test_short_row_and_missing_id(tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    path.write_text("user,item,timestamp\n1,2,3\n1,2\n")
    with pytest.raises(DataFileError, match=r"events\.csv, line 3: row has 2 fields"):
        load_table(path)
    path.write_text("user,item,timestamp\n1,,3\n")
    with pytest.raises(DataFileError, match=r"events\.csv, line 2: missing user or item id"):
        load_table(path)


def test_empty_file_and_header_only(tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    path.write_text("")
    with pytest.raises(DataFileError, match="^" + re.escape(f"{path}: empty file")):
        load_table(path)
    path.write_text("user,item,timestamp\n\n")
    with pytest.raises(DataFileError, match="^" + re.escape(f"{path}: no data rows after the header")):
        load_table(path)


def test_unknown_extension_and_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "events.dat"
    path.write_text("1 2\n")
    with pytest.raises(ValueError, match="pass sep="):
        load_table(path)
    with pytest.raises(FileNotFoundError, match="dataset.path"):
        load_table(tmp_path / "absent.csv")


def test_save_id_maps(tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    path.write_text(CSV)
    data = load_table(path)
    user_file, item_file = save_id_maps(data, tmp_path / "maps")
    assert json.loads(user_file.read_text()) == ["alice", "bob", "carol"]
    assert json.loads(item_file.read_text()) == ["i9", "i3", "i7"]


def test_parquet_without_pyarrow_says_how_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    path = tmp_path / "events.parquet"
    path.write_bytes(b"PAR1")
    with pytest.raises(ImportError, match="pip install pyarrow"):
        load_table(path)


def test_parquet(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    path = tmp_path / "events.parquet"
    table = pa.table({"user": [5, 6, 5], "item": ["a", "b", "b"], "timestamp": [1, 2, 3], "r": [1.0, 5.0, 4.5]})
    pq.write_table(table, path)
    data = load_table(path, rating_col="r", threshold=4)
    assert data.user_ids == [5, 6] and data.item_ids == ["a", "b"]
    assert data.user.tolist() == [1, 0] and data.item.tolist() == [1, 1] and data.timestamp.tolist() == [2, 3]
