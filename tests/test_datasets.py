"""Datasets through the configs: local copies, downloads, protocols, filters, the data command."""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate

from recsys_pyg.data import Interactions, RecDataset
from recsys_pyg.data.__main__ import main as data_main
from recsys_pyg.data.report import check
from recsys_pyg.data.split import Split, global_temporal_split, leave_one_out, random_split
from recsys_pyg.train import train
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


def test_ml100k_from_a_local_copy(cfg_factory, tmp_path):
    positives = write_ml100k(tmp_path / "ml")
    cfg = cfg_factory("dataset=ml100k", f"dataset.path={tmp_path / 'ml'}", f"paths.data_dir={tmp_path / 'cache'}")
    data: RecDataset = instantiate(cfg.dataset)
    assert (data.num_users, data.num_items) == (30, 40)
    assert sum(len(getattr(data.split, p)) for p in ("train", "val", "test")) == positives
    assert check(data) == []
    # the processed result is cached and reused
    assert list((tmp_path / "cache" / "ml100k").glob("processed-*.pt"))


@pytest.mark.skipif(not ML100K.exists(), reason="the real ML-100K is not beside the project")
@pytest.mark.parametrize("threshold,expected", [(4.0, 55_375), (None, 100_000)])
def test_real_ml100k_through_the_config(cfg_factory, tmp_path, threshold, expected):
    cfg = cfg_factory(
        "dataset=ml100k",
        f"dataset.path={ML100K}",
        f"dataset.source.threshold={threshold or 'null'}",
        f"paths.data_dir={tmp_path}",
    )
    data: RecDataset = instantiate(cfg.dataset)
    assert (data.num_users, data.num_items) == (943, 1682)
    assert sum(len(getattr(data.split, p)) for p in ("train", "val", "test")) == expected


@pytest.mark.skipif(not ML100K.exists(), reason="the real ML-100K is not beside the project")
@pytest.mark.parametrize("model", ["lightgcn", "ngcf", "pinsage"])
def test_graph_models_beat_mostpop_on_real_ml100k(cfg_factory, tmp_path, model):
    cfg = cfg_factory(
        f"model={model}",
        "dataset=ml100k",
        f"dataset.path={ML100K}",
        f"paths.data_dir={tmp_path}",
        "optimizer.lr=0.005",
        "train.epochs=30",
        "train.eval_every=10",
    )
    results = train(cfg)
    assert results["test/recall@20"] > 1.3 * results["mostpop/test/recall@20"]


def make_zip(www: Path) -> str:
    write_ml100k(www / "src" / "ml-100k")
    archive = www / "ml-100k.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(www / "src" / "ml-100k" / "u.data", "ml-100k/u.data")
    return hashlib.md5(archive.read_bytes()).hexdigest()


def test_download_verify_extract_and_reuse(cfg_factory, tmp_path, http_root):
    base, www = http_root
    md5 = make_zip(www)
    overrides = [
        "dataset=ml100k",
        f"dataset.download.url={base}/ml-100k.zip",
        f"dataset.download.md5={md5}",
        f"paths.data_dir={tmp_path / 'cache'}",
    ]
    first: RecDataset = instantiate(cfg_factory(*overrides).dataset)
    assert (tmp_path / "cache" / "ml100k" / "ml-100k" / "u.data").exists()
    (www / "ml-100k.zip").unlink()  # the second run must not need the server
    second: RecDataset = instantiate(cfg_factory(*overrides).dataset)
    assert torch.equal(first.split.train.item, second.split.train.item)


def test_checksum_mismatch_and_offline_errors(cfg_factory, tmp_path, http_root):
    base, www = http_root
    make_zip(www)
    bad = cfg_factory(
        "dataset=ml100k",
        f"dataset.download.url={base}/ml-100k.zip",
        "dataset.download.md5=" + "0" * 32,
        f"paths.data_dir={tmp_path / 'a'}",
    )
    with pytest.raises(Exception, match="checksum mismatch .* expected md5 0000"):
        instantiate(bad.dataset)
    offline = cfg_factory(
        "dataset=ml100k", "dataset.download.url=http://127.0.0.1:9/ml-100k.zip", f"paths.data_dir={tmp_path / 'b'}"
    )
    with pytest.raises(Exception, match="could not download .*dataset.path=") as err:
        instantiate(offline.dataset)
    assert str(tmp_path / "b" / "ml100k" / "ml-100k.zip") in str(err.value)


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


def test_given_split_and_the_paper_protocol(cfg_factory, tmp_path):
    write_lightgcn_files(tmp_path / "gowalla")
    cfg = cfg_factory("dataset=gowalla", f"dataset.path={tmp_path / 'gowalla'}", f"paths.data_dir={tmp_path}")
    data: RecDataset = instantiate(cfg.dataset)
    assert (data.num_users, data.num_items) == (41, 30)
    assert len(data.split.test) == 40 * 3 and len(data.split.val) > 0 and check(data) == []
    paper = cfg_factory(
        "experiment=lightgcn_paper",
        f"dataset.path={tmp_path / 'gowalla'}",
        f"paths.data_dir={tmp_path}",
        "train.epochs=2",
        "train.eval_every=1",
    )
    results = train(paper)
    assert len(instantiate(paper.dataset).split.val) == 0
    # with no validation part, selection uses the test split: the best "val" is a test value
    assert results["val/recall@20"] == pytest.approx(results["test/recall@20"])


def test_any_csv_with_string_ids(cfg_factory, tmp_path):
    rows = ["user,item,timestamp"]
    gen = torch.Generator().manual_seed(2)
    for u in range(25):
        for t, i in enumerate(torch.randperm(20, generator=gen)[:8].tolist()):
            rows.append(f"u{u},item-{i},{1000 + t}")
    (tmp_path / "log.csv").write_text("\n".join(rows) + "\n")
    out = tmp_path / "run"
    cfg = cfg_factory(
        "dataset=interactions", f"dataset.path={tmp_path / 'log.csv'}", f"paths.data_dir={tmp_path}", "train.epochs=1"
    )
    cfg.paths.output_dir = str(out)
    train(cfg)
    users = json.loads((out / "user_ids.json").read_text())
    assert users[:3] == ["u0", "u1", "u2"] and len(users) == 25
    recorded = json.loads((out / "config.json").read_text())["dataset"]
    assert recorded["split"]["_target_"].endswith("temporal_split") and recorded["source"]["time_col"] == "timestamp"


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


def test_random_and_leave_one_out_protocols():
    data = events()
    split = random_split(data, 0.1, 0.3, seed=4)
    assert_disjoint(split, len(data))
    assert torch.bincount(split.test.user, minlength=40).tolist() == [3] * 40
    assert not torch.equal(split.test.item, random_split(data, 0.1, 0.3, seed=5).test.item)
    loo = leave_one_out(data, mode="last")
    assert_disjoint(loo, len(data))
    assert torch.bincount(loo.test.user, minlength=40).tolist() == [1] * 40
    for u in range(40):  # the test event is the user's latest, the validation event the one before
        t = data.timestamp[data.user == u].sort().values
        assert loo.test.timestamp[loo.test.user == u].item() == t[-1]
        assert loo.val.timestamp[loo.val.user == u].item() == t[-2]
    assert len(leave_one_out(data, mode="random", validation=False).val) == 0
    with pytest.raises(ValueError, match="mode must be"):
        leave_one_out(data, mode="first")


def test_global_temporal_split_and_cold_start():
    data = events()
    split = global_temporal_split(data, val_fraction=0.1, test_fraction=0.2)
    assert_disjoint(split, len(data))
    assert (
        split.train.timestamp.max()
        < split.val.timestamp.min()
        <= split.val.timestamp.max()
        < split.test.timestamp.min()
    )
    assert abs(len(split.test) - 0.2 * len(data)) <= 5
    late = Interactions(torch.tensor([0, 0, 1]), torch.tensor([0, 1, 2]), 2, 3, timestamp=torch.tensor([1, 2, 9]))
    cut = global_temporal_split(late, 0.0, 0.0, test_cutoff=5)
    assert cut.cold_start("test").tolist() == [1]


def test_filters_from_the_config(cfg_factory):
    cfg = cfg_factory("dataset.filters.user_core=30", "dataset.filters.item_core=30")
    data: RecDataset = instantiate(cfg.dataset)
    full = torch.cat([getattr(data.split, p).user for p in ("train", "val", "test")])
    items = torch.cat([getattr(data.split, p).item for p in ("train", "val", "test")])
    assert torch.bincount(full).min() >= 30 and torch.bincount(items).min() >= 30
    assert data.num_users < 1000 and data.num_items < 1700


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
