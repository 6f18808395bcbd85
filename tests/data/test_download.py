"""Download, verification and extraction: file:// and loopback-HTTP URLs only, never the network."""

from __future__ import annotations

import gzip
import hashlib
import io
import logging
import shutil
import socket
import tarfile
import zipfile
from pathlib import Path

import pytest

from recsys_pyg.data.download import check_local_copy, content_digest, extract, fetch, fetch_archive, fetch_files
from recsys_pyg.data.files import DataFileError

PAYLOAD = b"user\titem\n" + b"1\t2\n" * 5000


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


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


def _md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def _refused_url() -> str:
    """A loopback URL where nothing listens: connection refused, as when offline or the server is down."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


TRAIN, TEST = b"0 1 2\n1 2 3\n", b"0 3\n1 0\n"


def _serve(www: Path) -> dict[str, dict[str, str]]:
    (www / "gowalla").mkdir()
    (www / "gowalla" / "train.txt").write_bytes(TRAIN)
    (www / "gowalla" / "test.txt").write_bytes(TEST)
    return {"train.txt": {"md5": _md5(TRAIN)}, "test.txt": {"md5": _md5(TEST)}}


def test_fetch_files_uses_files_that_match_their_checksums(http_root: tuple[str, Path], tmp_path: Path) -> None:
    base, www = http_root
    files = _serve(www)
    root = tmp_path / "cache" / "gowalla"
    assert fetch_files("gowalla", root, files, f"{base}/gowalla") == root
    assert (root / "train.txt").read_bytes() == TRAIN and (root / "test.txt").read_bytes() == TEST
    shutil.rmtree(www / "gowalla")  # later runs check the files on disk and need no server
    assert fetch_files("gowalla", root, files, f"{base}/gowalla") == root


def test_fetch_files_refuses_a_checksum_mismatch(http_root: tuple[str, Path], tmp_path: Path) -> None:
    base, www = http_root
    files = _serve(www)
    (www / "gowalla" / "train.txt").write_bytes(TRAIN + b"2 0\n")  # the publisher's file changed
    root = tmp_path / "cache" / "gowalla"
    with pytest.raises(DataFileError) as info:
        fetch_files("gowalla", root, files, f"{base}/gowalla")
    msg = str(info.value)
    assert msg.startswith(f"{root / 'train.txt'}: checksum mismatch for the download from {base}/gowalla/train.txt")
    assert f"expected md5 {_md5(TRAIN)}" in msg and f"got md5 {_md5(TRAIN + b'2 0' + bytes([10]))}" in msg
    assert "update the checksum in the dataset config" in msg
    assert not (root / "train.txt").exists() and not [p for p in root.iterdir() if p.name.startswith(".")]


def test_fetch_files_offline_names_the_url_and_where_to_put_the_file(tmp_path: Path) -> None:
    base = _refused_url()
    root = tmp_path / "cache" / "gowalla"
    with pytest.raises(RuntimeError) as info:
        fetch_files("gowalla", root, {"train.txt": {"md5": _md5(TRAIN)}}, f"{base}/gowalla")
    msg = str(info.value)
    assert msg.startswith(f"could not download {base}/gowalla/train.txt")
    assert f"put it at {root / 'train.txt'}" in msg and "dataset.path=" in msg


def test_offline_with_a_wrong_file_in_place_says_to_replace_it(tmp_path: Path) -> None:
    root = tmp_path / "gowalla"
    root.mkdir()
    (root / "train.txt").write_bytes(b"0 1\n")  # put there by hand, but not the published file
    with pytest.raises(RuntimeError) as info:
        fetch_files("gowalla", root, {"train.txt": {"md5": _md5(TRAIN)}}, _refused_url())
    assert f"already there has md5 {_md5(b'0 1' + bytes([10]))}, expected {_md5(TRAIN)}" in str(info.value)
    assert (root / "train.txt").read_bytes() == b"0 1\n"  # left for the user to inspect


def test_unverified_download_is_refused_unless_verify_is_false(
    http_root: tuple[str, Path], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    base, www = http_root
    _serve(www)
    files = {"train.txt": {"md5": None}, "test.txt": f"{base}/gowalla/test.txt"}
    root = tmp_path / "gowalla"
    with pytest.raises(ValueError, match="no pinned checksum.*dataset.download.verify=false"):
        fetch_files("gowalla", root, files, f"{base}/gowalla")
    assert not root.exists()  # refused before anything was downloaded
    with caplog.at_level(logging.WARNING):
        fetch_files("gowalla", root, files, f"{base}/gowalla", verify=False)
    assert (root / "train.txt").read_bytes() == TRAIN
    assert "unverified" in caplog.text and _md5(TRAIN) in caplog.text
    with pytest.raises(ValueError, match="no pinned checksum"):
        fetch_archive("ml100k", tmp_path / "ml", f"{base}/ml-100k.zip")


def test_fetch_archive_verifies_before_unpacking(http_root: tuple[str, Path], tmp_path: Path) -> None:
    base, www = http_root
    with zipfile.ZipFile(www / "ml-100k.zip", "w") as zf:
        zf.writestr("ml-100k/u.data", "1\t1\t5\t0\n")
    md5 = _md5((www / "ml-100k.zip").read_bytes())
    with pytest.raises(DataFileError, match="checksum mismatch"):
        fetch_archive("ml100k", tmp_path / "a", f"{base}/ml-100k.zip", md5="0" * 32, subdir="ml-100k")
    assert not (tmp_path / "a" / "ml-100k").exists()  # nothing unpacked
    folder = fetch_archive("ml100k", tmp_path / "b", f"{base}/ml-100k.zip", md5=md5, subdir="ml-100k")
    assert (folder / "u.data").read_text() == "1\t1\t5\t0\n"


def test_check_local_copy_compares_gzipped_content(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "train.txt.gz").write_bytes(gzip.compress(TRAIN))
    (tmp_path / "test.txt").write_bytes(TEST + b"9 9\n")
    files = {"train.txt": {"md5": _md5(TRAIN)}, "test.txt": {"md5": _md5(TEST)}}
    with caplog.at_level(logging.WARNING):
        assert not check_local_copy("gowalla", tmp_path, files)
    assert "train.txt.gz" not in caplog.text and f"published test.txt has {_md5(TEST)}" in caplog.text
    assert content_digest(tmp_path / "train.txt.gz") == _md5(TRAIN)
