"""The data command (recsys-data): sizes and checks printed, exit status on a broken split."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import torch
from hydra.utils import instantiate

from recsys_pyg.data import Interactions, RecDataset
from recsys_pyg.data.__main__ import main as data_main
from recsys_pyg.data.report import check
from recsys_pyg.data.split import Split
from tests.conftest import SHARED_DATA

ML100K = SHARED_DATA / "ml-100k"


def write_ml100k(folder: Path, num_users: int = 30, num_items: int = 40, seed: int = 0) -> int:
    """A u.data in the GroupLens format (tab-separated, 1-based ids); returns the positives (rating >= 4)."""
    gen = torch.Generator().manual_seed(seed)
    folder.mkdir(parents=True, exist_ok=True)
    lines, positives = [], 0
    for u in range(1, num_users + 1):
        for i in torch.randperm(num_items, generator=gen)[:12].tolist():
            rating = int(torch.randint(1, 6, (1,), generator=gen))
            positives += rating >= 4
            lines.append(f"{u}\t{i + 1}\t{rating}\t{880000000 + u * 1000 + i}")
    (folder / "u.data").write_text("\n".join(lines) + "\n")
    return positives


def make_zip(www: Path) -> str:
    write_ml100k(www / "src" / "ml-100k")
    archive = www / "ml-100k.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(www / "src" / "ml-100k" / "u.data", "ml-100k/u.data")
    return hashlib.md5(archive.read_bytes()).hexdigest()


def write_lightgcn_files(folder: Path) -> None:
    folder.mkdir(parents=True)
    gen = torch.Generator().manual_seed(1)
    train_lines, test_lines = [], []
    for u in range(40):
        items = torch.randperm(30, generator=gen)[:10].tolist()
        train_lines.append(" ".join(map(str, [u, *items[:7]])))
        test_lines.append(" ".join(map(str, [u, *items[7:]])))
    train_lines.append("40")  # a user with no items: accepted
    (folder / "train.txt").write_text("\n".join(train_lines))  # no trailing newline
    (folder / "test.txt").write_text("\n".join(test_lines) + "\n")


def events(num_users=40, per_user=10, seed=0) -> Interactions:
    gen = torch.Generator().manual_seed(seed)
    user = torch.arange(num_users).repeat_interleave(per_user)
    item = torch.stack([torch.randperm(50, generator=gen)[:per_user] for _ in range(num_users)]).flatten()
    time = torch.randint(0, 10_000, (num_users * per_user,), generator=gen)
    return Interactions(user, item, num_users, 50, timestamp=time)


def pairs(part: Interactions) -> set:
    return set(zip(part.user.tolist(), part.item.tolist()))


def assert_disjoint(split: Split, total: int) -> None:
    parts = [pairs(split.train), pairs(split.val), pairs(split.test)]
    assert not (parts[0] & parts[1]) and not (parts[0] & parts[2]) and not (parts[1] & parts[2])
    assert sum(len(p) for p in parts) == total


def test_data_command_reports_and_checks(capsys):
    assert (
        data_main(["dataset.source.num_users=50", "dataset.source.num_items=60", "dataset.source.num_interactions=600"])
        == 0
    )
    out = capsys.readouterr().out
    assert "50 users x 60 items" in out and "checks passed" in out and "| test |" in out
    data = instantiate(
        __import__("tests.conftest", fromlist=["make_cfg"]).make_cfg(["debug=default"], Path("/tmp")).dataset
    )
    leaked = Split(data.split.train, data.split.val, data.split.train.subset(torch.arange(3)))
    assert any("in both train and test" in p for p in check(RecDataset("x", leaked)))
