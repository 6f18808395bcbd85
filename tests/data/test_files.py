"""Opening data files: plain or gzipped, and the error every parser raises (bad input: test_bad_input.py)."""

from __future__ import annotations

import copy
import gzip
import pickle
from pathlib import Path

import pytest

from recsys_pyg.data.files import DataFileError, open_text, resolve_file


def test_data_file_error_message() -> None:
    err = DataFileError(Path("/d/u.data"), "non-numeric id 'x'", 7)
    assert str(err) == "/d/u.data, line 7: non-numeric id 'x'"
    assert isinstance(err, ValueError) and err.line == 7
    assert str(DataFileError("/d/empty.csv", "empty file")) == "/d/empty.csv: empty file"


def test_data_file_error_pickles_and_copies_whole() -> None:
    err = DataFileError(Path("/d/u.data"), "non-numeric id 'x'", 7)
    err.add_note("while loading ml100k")
    for clone in (copy.copy(err), copy.deepcopy(err), pickle.loads(pickle.dumps(err))):
        assert type(clone) is DataFileError and str(clone) == str(err)
        assert (clone.path, clone.problem, clone.line) == (err.path, err.problem, err.line)
        assert clone.__notes__ == ["while loading ml100k"]


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
