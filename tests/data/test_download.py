"""Download, extraction and file opening: file:// and loopback-HTTP URLs only, never the network."""

from __future__ import annotations

import gzip
import hashlib
import io
import tarfile
import zipfile
from pathlib import Path

import pytest

from recsys_pyg.data.download import DataFileError, extract, fetch, open_text, resolve_file

PAYLOAD = b"user\titem\n" + b"1\t2\n" * 5000


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_data_file_error_message() -> None:
    err = DataFileError(Path("/d/u.data"), "non-numeric id 'x'", 7)
    assert str(err) == "/d/u.data:7: non-numeric id 'x'"
    assert isinstance(err, ValueError) and err.line == 7
    assert str(DataFileError("/d/empty.csv", "empty file")) == "/d/empty.csv: empty file"


def test_fetch_file_url_verifies_checksum(tmp_path: Path) -> None:
    src = tmp_path / "src.txt"
    src.write_bytes(PAYLOAD)
    dest = tmp_path / "cache" / "data.txt"
    assert fetch(src.as_uri(), dest, _sha(PAYLOAD)) == dest
    assert dest.read_bytes() == PAYLOAD
    assert [p.name for p in dest.parent.iterdir()] == ["data.txt"]  # no temp file left


def test_fetch_reuses_matching_file_without_downloading(tmp_path: Path) -> None:
    dest = tmp_path / "data.txt"
    dest.write_bytes(PAYLOAD)
    missing = (tmp_path / "nowhere.txt").as_uri()  # would fail if fetch tried to download
    assert fetch(missing, dest, _sha(PAYLOAD)) == dest
    assert fetch(missing, dest, None) == dest


def test_fetch_replaces_a_corrupt_existing_file(tmp_path: Path) -> None:
    src = tmp_path / "src.txt"
    src.write_bytes(PAYLOAD)
    dest = tmp_path / "data.txt"
    dest.write_bytes(b"truncated")
    fetch(src.as_uri(), dest, _sha(PAYLOAD))
    assert dest.read_bytes() == PAYLOAD


def test_fetch_checksum_mismatch_deletes_and_names_both_sums(tmp_path: Path) -> None:
    src = tmp_path / "src.txt"
    src.write_bytes(PAYLOAD)
    dest = tmp_path / "cache" / "data.txt"
    wrong = "0" * 64
    with pytest.raises(ValueError) as info:
        fetch(src.as_uri(), dest, wrong)
    msg = str(info.value)
    assert str(dest) in msg and wrong in msg and _sha(PAYLOAD) in msg
    assert not dest.exists() and list(dest.parent.iterdir()) == []


def test_fetch_over_loopback_http(http_root: tuple[str, Path], tmp_path: Path) -> None:
    base, root = http_root
    (root / "ml.zip").write_bytes(PAYLOAD)
    dest = tmp_path / "dl" / "ml.zip"
    fetch(f"{base}/ml.zip", dest, _sha(PAYLOAD), timeout=5)
    assert dest.read_bytes() == PAYLOAD


def test_fetch_http_404_is_runtime_error(http_root: tuple[str, Path], tmp_path: Path) -> None:
    base, _ = http_root
    dest = tmp_path / "absent.zip"
    with pytest.raises(RuntimeError, match="absent.zip") as info:
        fetch(f"{base}/absent.zip", dest, None, timeout=5)
    assert str(dest) in str(info.value) and not dest.exists()


def test_fetch_offline_says_where_to_put_the_file(tmp_path: Path) -> None:
    url = "http://127.0.0.1:9/ml-100k.zip"  # discard port: nothing listens
    dest = tmp_path / "data" / "ml-100k.zip"
    with pytest.raises(RuntimeError) as info:
        fetch(url, dest, None, timeout=2)
    msg = str(info.value)
    assert url in msg and str(dest) in msg and "dataset.path=" in msg
    assert not dest.exists() and list(dest.parent.iterdir()) == []


def test_extract_zip_and_tar_gz(tmp_path: Path) -> None:
    zpath = tmp_path / "a.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        zf.writestr("ml/u.data", "1\t1\t5\t0\n")
    assert extract(zpath, tmp_path / "z") == tmp_path / "z"
    assert (tmp_path / "z" / "ml" / "u.data").read_text() == "1\t1\t5\t0\n"

    tpath = tmp_path / "a.tar.gz"
    with tarfile.open(tpath, "w:gz") as tf:
        info = tarfile.TarInfo("gowalla/train.txt")
        body = b"0 1 2\n"
        info.size = len(body)
        tf.addfile(info, io.BytesIO(body))
    extract(tpath, tmp_path / "t")
    assert (tmp_path / "t" / "gowalla" / "train.txt").read_bytes() == b"0 1 2\n"


def test_extract_refuses_path_traversal(tmp_path: Path) -> None:
    zpath = tmp_path / "evil.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        zf.writestr("../escaped.txt", "x")
    with pytest.raises(DataFileError, match="outside"):
        extract(zpath, tmp_path / "out")
    assert not (tmp_path / "escaped.txt").exists()

    tpath = tmp_path / "evil.tar.gz"
    with tarfile.open(tpath, "w:gz") as tf:
        link = tarfile.TarInfo("data/link")
        link.type, link.linkname = tarfile.SYMTYPE, "../../outside"
        tf.addfile(link)
    with pytest.raises(DataFileError, match="outside"):
        extract(tpath, tmp_path / "out2")
    assert not (tmp_path / "out2" / "data").exists()


def test_extract_unknown_format(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"\.zip, \.tar\.gz"):
        extract(tmp_path / "a.rar", tmp_path / "out")


@pytest.mark.parametrize("gz", [False, True])
def test_open_text_plain_or_gzipped(tmp_path: Path, gz: bool) -> None:
    text = "1|Café (1995)\n"
    path = tmp_path / ("u.item.gz" if gz else "u.item")
    raw = text.encode("latin-1")
    path.write_bytes(gzip.compress(raw) if gz else raw)
    with open_text(path, encoding="latin-1") as f:
        assert f.read() == text


def test_resolve_file_prefers_plain_then_gz(tmp_path: Path) -> None:
    assert resolve_file(tmp_path, "u.data") is None
    (tmp_path / "u.data.gz").write_bytes(gzip.compress(b""))
    assert resolve_file(tmp_path, "u.data") == tmp_path / "u.data.gz"
    (tmp_path / "u.data").write_text("")
    assert resolve_file(tmp_path, "u.data") == tmp_path / "u.data"
