"""Datasets through the configs: local copies, downloads with checksums, the paper protocol, any CSV."""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate

from recsys_pyg.data import RecDataset
from recsys_pyg.data.report import check
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
