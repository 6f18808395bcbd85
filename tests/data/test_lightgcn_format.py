"""The NGCF/LightGCN adjacency-list splits: whitespace quirks, empty users, validation carving."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
import torch

from recsys_pyg.data.files import DataFileError
from recsys_pyg.data.lightgcn_format import load_lightgcn_split, parse_adjacency_lines


def _pairs(user: torch.Tensor, item: torch.Tensor) -> list[tuple[int, int]]:
    return sorted(zip(user.tolist(), item.tolist(), strict=True))


@pytest.mark.parametrize(
    "text",
    [
        "0 1 2\n1\t3\t4\n\n2 0\n",  # spaces, tabs, a blank line, trailing newline
        "0 1 2\r\n1 \t3  4\r\n2 0",  # CRLF, mixed runs of whitespace, no trailing newline
        "\n0   1 2   \n1 3 4\n\n\n2\t0\t\n\n",  # leading/trailing blanks and spaces
    ],
)
def test_parse_adjacency_whitespace_variants(tmp_path: Path, text: str) -> None:
    path = tmp_path / "train.txt"
    path.write_bytes(text.encode())
    user, item = parse_adjacency_lines(path)
    assert user.dtype == torch.long and item.dtype == torch.long
    assert _pairs(user, item) == [(0, 1), (0, 2), (1, 3), (1, 4), (2, 0)]


def test_parse_adjacency_gzipped(tmp_path: Path) -> None:
    path = tmp_path / "train.txt.gz"
    path.write_bytes(gzip.compress(b"0 1 2\n1 3\n"))
    assert _pairs(*parse_adjacency_lines(path)) == [(0, 1), (0, 2), (1, 3)]


def test_parse_adjacency_bad_token_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "train.txt"
    path.write_text("0 1 2\n\n1 3 x7\n")
    with pytest.raises(DataFileError) as info:
        parse_adjacency_lines(path)
    assert str(info.value).startswith(f"{path}, line 3: non-integer id 'x7'")
    path.write_text("0 1\n1 -2\n")
    with pytest.raises(DataFileError, match=r"train\.txt, line 2: negative id -2"):
        parse_adjacency_lines(path)


def _write_split(folder: Path, train: str, test: str) -> Path:
    folder.mkdir(exist_ok=True)
    (folder / "train.txt").write_text(train)
    (folder / "test.txt").write_text(test)
    return folder


def test_load_split_sizes_and_empty_users(tmp_path: Path) -> None:
    # user 3 has no training items, user 4 appears only in test with no items: both still count.
    folder = _write_split(tmp_path, "0 0 1 2\n1 2\t3\n2 1\n3\n", "0 5\n1 0\n4\n")
    split = load_lightgcn_split(folder)
    assert (split.train.num_users, split.train.num_items) == (5, 6)
    assert _pairs(split.train.user, split.train.item) == [(0, 0), (0, 1), (0, 2), (1, 2), (1, 3), (2, 1)]
    assert _pairs(split.test.user, split.test.item) == [(0, 5), (1, 0)]
    assert len(split.val) == 0 and split.val.num_users == 5
    assert split.train.timestamp is None


def test_load_split_validation_is_seeded_per_user(tmp_path: Path) -> None:
    gen = torch.Generator().manual_seed(1)
    lines = []
    for u in range(30):
        items = torch.randperm(40, generator=gen)[: 1 + u % 9].tolist()
        lines.append(" ".join(map(str, [u, *items])))
    folder = _write_split(tmp_path, "\n".join(lines), "0 39\n")
    full = load_lightgcn_split(folder)
    a = load_lightgcn_split(folder, val_fraction=0.25, seed=3)
    b = load_lightgcn_split(folder, val_fraction=0.25, seed=3)
    c = load_lightgcn_split(folder, val_fraction=0.25, seed=4)
    assert torch.equal(a.val.item, b.val.item) and torch.equal(a.train.item, b.train.item)
    assert not torch.equal(a.val.item, c.val.item)
    # train and val partition the original training pairs
    assert sorted(_pairs(a.train.user, a.train.item) + _pairs(a.val.user, a.val.item)) == _pairs(
        full.train.user, full.train.item
    )
    n = torch.bincount(full.train.user, minlength=30)
    n_val = torch.bincount(a.val.user, minlength=30)
    assert torch.equal(n_val, torch.minimum(torch.round(n * 0.25).long(), n - 1))
    assert (torch.bincount(a.train.user, minlength=30) >= 1).all()


def test_load_split_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="train.txt"):
        load_lightgcn_split(tmp_path)
    folder = _write_split(tmp_path, "0\n1\n", "0 1\n")
    with pytest.raises(DataFileError, match="no interactions"):
        load_lightgcn_split(folder)
    with pytest.raises(ValueError, match="val_fraction"):
        load_lightgcn_split(folder, val_fraction=1.0)
