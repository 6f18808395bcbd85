"""Bad data files: each error names the file, the line where there is one, and what to do."""

from __future__ import annotations

import gzip
import io
import tarfile
import zipfile
from pathlib import Path

import pytest
import torch

from recsys_pyg.data.download import extract
from recsys_pyg.data.files import DataFileError, open_text
from recsys_pyg.data.interactions import Interactions
from recsys_pyg.data.lightgcn_format import load_lightgcn_split, parse_adjacency_lines
from recsys_pyg.data.movielens import load_ml1m, load_ml100k
from recsys_pyg.data.table import load_table


def _split_folder(folder: Path, train: bytes | str, test: bytes | str = "0 3\n1 0\n") -> Path:
    folder.mkdir(exist_ok=True)
    for name, body in (("train.txt", train), ("test.txt", test)):
        (folder / name).write_bytes(body if isinstance(body, bytes) else body.encode())
    return folder


def _u_data(folder: Path, text: str) -> Path:
    folder.mkdir(exist_ok=True)
    (folder / "u.data").write_text(text)
    return folder


def _message(info: pytest.ExceptionInfo) -> str:
    return str(info.value)


# --- LightGCN-format train.txt / test.txt ---------------------------------------------------------


def test_lightgcn_non_integer_id_names_file_line_and_token(tmp_path: Path) -> None:
    folder = _split_folder(tmp_path, "0 1 2\n1 3 4\n2 5 x7\n")
    with pytest.raises(DataFileError) as info:
        load_lightgcn_split(folder)
    assert info.value.path == folder / "train.txt" and info.value.line == 3
    assert _message(info).startswith(f"{folder / 'train.txt'}, line 3: non-integer id 'x7'")
    assert "download the file again" in _message(info)


def test_lightgcn_negative_id_names_file_and_line(tmp_path: Path) -> None:
    folder = _split_folder(tmp_path, "0 1 2\n", test="0 3\n1 -4\n")
    with pytest.raises(DataFileError) as info:
        load_lightgcn_split(folder)
    assert _message(info).startswith(f"{folder / 'test.txt'}, line 2: negative id -4")


@pytest.mark.parametrize("body", ["", "\n\n  \n"])
def test_lightgcn_empty_file(tmp_path: Path, body: str) -> None:
    folder = _split_folder(tmp_path, body)
    with pytest.raises(DataFileError) as info:
        load_lightgcn_split(folder)
    assert _message(info).startswith(f"{folder / 'train.txt'}: empty file") and "Download it again" in _message(info)


def test_truncated_gzip_says_truncated_and_to_download_again(tmp_path: Path) -> None:
    full = gzip.compress(b"".join(f"{u} 1 2 3\n".encode() for u in range(5000)))
    path = tmp_path / "train.txt.gz"
    path.write_bytes(full[: len(full) // 2])
    with pytest.raises(DataFileError) as info:
        parse_adjacency_lines(path)
    msg = _message(info)
    assert msg.startswith(f"{path}: ") and "truncated" in msg and "download it again, or delete it" in msg
    assert isinstance(info.value.__cause__, EOFError)


def test_corrupt_gzip_says_corrupt(tmp_path: Path) -> None:
    body = bytearray(gzip.compress(b"0 1 2\n" * 1000))
    body[-8] ^= 0xFF  # the CRC
    path = tmp_path / "train.txt.gz"
    path.write_bytes(bytes(body))
    with pytest.raises(DataFileError, match=r"train\.txt\.gz: the file is corrupt .*download it again"):
        parse_adjacency_lines(path)


def test_not_utf8_text_names_the_line(tmp_path: Path) -> None:
    folder = _split_folder(tmp_path, b"0 1 2\n1 3\n2 \xe9\xff 4\n")
    with pytest.raises(DataFileError) as info:
        load_lightgcn_split(folder)
    assert _message(info).startswith(f"{folder / 'train.txt'}, line 3: not utf-8 text (byte 0xe9")
    assert info.value.line == 3


def test_binary_file_is_not_text(tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    with pytest.raises(DataFileError) as info:
        load_table(path)
    assert _message(info).startswith(f"{path}, line 1: not utf-8 text") and "encoding" in _message(info)


# --- archives -------------------------------------------------------------------------------------


def test_bad_zip_says_so_and_to_download_again(tmp_path: Path) -> None:
    archive = tmp_path / "ml-100k.zip"
    archive.write_bytes(b"PK\x03\x04 this is not really a zip archive")
    with pytest.raises(DataFileError) as info:
        extract(archive, tmp_path / "out")
    msg = _message(info)
    assert msg.startswith(f"{archive}: the file is not a valid zip archive") and "download it again" in msg


def test_truncated_tar_gz(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tf:
        body = bytes(range(256)) * 4000  # incompressible enough that half the archive lacks data
        info = tarfile.TarInfo("data/train.txt")
        info.size = len(body)
        tf.addfile(info, io.BytesIO(body))
    archive = tmp_path / "data.tar.gz"
    archive.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    with pytest.raises(DataFileError, match=r"data\.tar\.gz: the file is (truncated|corrupt)"):
        extract(archive, tmp_path / "out")


@pytest.mark.parametrize("member", ["../escaped.txt", "/abs/escaped.txt", "ml/../../escaped.txt", "..\\escaped.txt"])
def test_zip_member_outside_the_folder_is_refused_before_writing(tmp_path: Path, member: str) -> None:
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("ml/u.data", "1\t1\t5\t0\n")
        zf.writestr(zipfile.ZipInfo(member), "x")
    assert member in zipfile.ZipFile(archive).namelist()  # the crafted name survives as written
    out = tmp_path / "deep" / "out"
    with pytest.raises(DataFileError, match="would extract outside") as info:
        extract(archive, out)
    assert str(archive) in str(info.value)
    assert list(out.iterdir()) == []  # nothing written, not even the good member
    assert not list(tmp_path.rglob("escaped.txt")) and not Path("/abs/escaped.txt").exists()


# --- MovieLens --------------------------------------------------------------------------------------


def test_movielens_too_few_fields(tmp_path: Path) -> None:
    folder = _u_data(tmp_path / "ml", "1\t1\t5\t881250949\n1\t2\t3\n")
    with pytest.raises(DataFileError) as info:
        load_ml100k(folder)
    assert _message(info).startswith(f"{folder / 'u.data'}, line 2: expected 4 fields (user, item, rating, timestamp)")
    assert "got 3" in _message(info) and "fix or delete the line" in _message(info)


def test_movielens_rating_not_a_number(tmp_path: Path) -> None:
    folder = _u_data(tmp_path / "ml", "1\t1\t5\t881250949\n1\t2\tfive\t881250950\n")
    with pytest.raises(DataFileError) as info:
        load_ml100k(folder)
    assert _message(info).startswith(f"{folder / 'u.data'}, line 2: rating 'five' is not a number")


@pytest.mark.parametrize("rating", ["nan", "inf", "-inf", "NaN"])
def test_movielens_rating_not_finite(tmp_path: Path, rating: str) -> None:
    folder = _u_data(tmp_path / "ml", f"1\t1\t5\t881250949\n2\t1\t4\t881250950\n1\t2\t{rating}\t881250951\n")
    with pytest.raises(DataFileError) as info:
        load_ml100k(folder)
    assert _message(info).startswith(f"{folder / 'u.data'}, line 3: rating '{rating}' is not a finite number")


def test_movielens_timestamp_nan(tmp_path: Path) -> None:
    (tmp_path / "ratings.dat").write_text("1::10::5::978300760\n1::20::3::nan\n")
    with pytest.raises(DataFileError) as info:
        load_ml1m(tmp_path)
    assert _message(info).startswith(f"{tmp_path / 'ratings.dat'}, line 2: timestamp 'nan' is not an integer")


def test_movielens_user_file_age_not_finite(tmp_path: Path) -> None:
    folder = _u_data(tmp_path / "ml", "1\t1\t5\t881250949\n")
    (folder / "u.user").write_text("1|inf|M|writer|12345\n")
    with pytest.raises(DataFileError, match=r"u\.user, line 1: age 'inf' is not a finite number"):
        load_ml100k(folder)


# --- CSV / TSV / Parquet tables ---------------------------------------------------------------------


def test_csv_missing_configured_column_lists_the_present_ones(tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    path.write_text("user,item,time\n1,2,3\n")
    with pytest.raises(DataFileError) as info:
        load_table(path)  # time_col defaults to 'timestamp'
    msg = _message(info)
    assert msg.startswith(f"{path}: no column 'timestamp' for time_col")
    assert "['user', 'item', 'time']" in msg and "dataset.source.time_col=" in msg


def test_csv_non_numeric_timestamp(tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    path.write_text("user,item,timestamp\n1,2,3\n1,3,2021-05-01\n")
    with pytest.raises(DataFileError) as info:
        load_table(path)
    assert _message(info).startswith(f"{path}, line 3: timestamp (timestamp) '2021-05-01' is not a number")


@pytest.mark.parametrize(
    "column,value", [("timestamp", "nan"), ("timestamp", "inf"), ("stars", "NaN"), ("stars", "-inf")]
)
def test_csv_value_not_finite(tmp_path: Path, column: str, value: str) -> None:
    path = tmp_path / "events.tsv"
    rows = ["user\titem\ttimestamp\tstars", "1\t2\t3\t4", "1\t3\t4\t5"]
    rows.append("2\t3\t" + (f"{value}\t4" if column == "timestamp" else f"5\t{value}"))
    path.write_text("\n".join(rows) + "\n")
    with pytest.raises(DataFileError) as info:
        load_table(path, rating_col="stars")
    assert _message(info).startswith(f"{path}, line 4: ") and f"'{value}' is not a finite number" in _message(info)


def test_csv_field_over_the_size_limit(tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    path.write_text("user,item,timestamp\n1,2,3\n" + '1,"' + "x" * 200_000 + '",4\n')
    with pytest.raises(DataFileError, match=r"events\.csv, line 3: malformed delimited text"):
        load_table(path)


def test_parquet_that_is_not_parquet(tmp_path: Path) -> None:
    pytest.importorskip("pyarrow.parquet")
    path = tmp_path / "events.parquet"
    path.write_text("user,item,timestamp\n1,2,3\n")
    with pytest.raises(DataFileError) as info:
        load_table(path)
    assert _message(info).startswith(f"{path}: not a readable Parquet file") and ".csv" in _message(info)


def test_parquet_nan_rating_names_the_row(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    path = tmp_path / "events.parquet"
    pq.write_table(pa.table({"user": [1, 2], "item": [3, 4], "timestamp": [1, 2], "r": [4.0, float("nan")]}), path)
    with pytest.raises(DataFileError, match=r"events\.parquet, line 2: rating \(r\) nan is not a finite number"):
        load_table(path, rating_col="r")


# --- files that are missing, or folders ---------------------------------------------------------------


def test_directory_given_where_a_file_is_expected(tmp_path: Path) -> None:
    (tmp_path / "events.csv").mkdir()
    with pytest.raises(IsADirectoryError, match="is a folder; point dataset.path at the interaction table file"):
        load_table(tmp_path / "events.csv")
    folder = _split_folder(tmp_path / "split", "0 1\n")
    (folder / "test.txt").unlink()
    (folder / "test.txt").mkdir()
    with pytest.raises(IsADirectoryError) as info:
        load_lightgcn_split(folder)
    assert str(folder / "test.txt") in str(info.value) and "expected the file test.txt" in str(info.value)
    with pytest.raises(IsADirectoryError, match="expected a file"):
        open_text(folder)


def test_missing_file_says_which_file_to_put_where(tmp_path: Path) -> None:
    folder = _split_folder(tmp_path / "gowalla", "0 1\n")
    (folder / "test.txt").unlink()
    with pytest.raises(FileNotFoundError) as info:
        load_lightgcn_split(folder)
    msg = str(info.value)
    assert msg.startswith(f"test.txt is missing from {folder}") and "put test.txt (plain or gzipped) there" in msg
    with pytest.raises(FileNotFoundError, match=r"absent\.csv does not exist; put the interaction table there"):
        load_table(tmp_path / "absent.csv")


def test_a_file_given_where_the_folder_is_expected(tmp_path: Path) -> None:
    folder = _split_folder(tmp_path / "gowalla", "0 1\n")
    with pytest.raises(NotADirectoryError, match="point dataset.path at the folder holding train.txt"):
        load_lightgcn_split(folder / "train.txt")


# --- values handed to Interactions directly ---------------------------------------------------------------


def test_interactions_refuse_non_finite_ratings_and_times() -> None:
    user, item = torch.tensor([0, 1, 1]), torch.tensor([1, 0, 2])
    with pytest.raises(ValueError, match=r"rating has 1 NaN or infinite values \(the first at row 2\)"):
        Interactions(user, item, 2, 3, rating=torch.tensor([1.0, 2.0, float("nan")]))
    with pytest.raises(ValueError, match="timestamp has 2 NaN or infinite"):
        Interactions(user, item, 2, 3, timestamp=torch.tensor([float("inf"), 1.0, float("-inf")]))
    with pytest.raises(ValueError, match="item ids must be integers"):
        Interactions(user, torch.tensor([1.0, 0.5, 2.0]), 2, 3)
    ok = Interactions(user.double(), item.float(), 2, 3, timestamp=torch.tensor([1.5, 2.0, 3.0]))
    assert ok.user.dtype == torch.long and ok.item.tolist() == [1, 0, 2]
