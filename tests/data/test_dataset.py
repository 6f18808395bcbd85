"""Datasets through the configs: local copies, downloads with checksums, the paper protocol, any CSV."""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import shutil
import socket
import zipfile
from functools import partial
from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import open_dict

from recsys_pyg.data import Interactions, RecDataset, Split
from recsys_pyg.data.dataset import load_source
from recsys_pyg.data.files import DataFileError
from recsys_pyg.data.report import check
from recsys_pyg.train import train
from tests.helpers.configs import SHARED_DATA

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
# NGCF and PinSAGE take minutes here: the slow suite (each learning on synthetic data: tests/test_combinations.py)
@pytest.mark.parametrize("model", ["lightgcn", pytest.param("ngcf", marks=pytest.mark.slow),
                                   pytest.param("pinsage", marks=pytest.mark.slow)])  # fmt: skip
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
        "train.test_curve=true",
    )
    results = train(paper)
    logged = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert all(x["curve/test/recall@20"] == x["val/recall@20"] for x in logged if "val/recall@20" in x)
    assert len(instantiate(paper.dataset).split.val) == 0
    # with no validation part, selection uses the test split: the best "val" is a test value
    assert results["val/recall@20"] == pytest.approx(results["test/recall@20"])
    # the protocol alone, for a model with no embeddings (the baselines script runs GF-CF this way)
    fit_only = cfg_factory(
        "experiment=paper_protocol", "model=gfcf", "model.k=8",
        f"dataset.path={tmp_path / 'gowalla'}", f"paths.data_dir={tmp_path}",
    )  # fmt: skip
    assert fit_only.model._target_.endswith("GFCF") and fit_only.eval.ks == [20]
    fitted = train(fit_only)
    assert fitted["val/recall@20"] == pytest.approx(fitted["test/recall@20"])


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


# --- pinned downloads of the paper splits ----------------------------------------------------------------

LIGHTGCN_COMMIT = "b067ec05f16a24e0e1efe63cd82385f0c469af20"
PUBLISHED_MD5 = {  # reczoo's dataset cards (Gowalla_m1, Yelp18_m1, AmazonBooks_m1); also DeepHypergraph's loaders
    "gowalla": ("gowalla", "5eec1eb2edb8dd648377d348b8e136cf", "c04e2c4bcd2389f53ed8281816166149"),
    "yelp2018": ("yelp2018", "1b8b5d22a227e01d6de002c53d32b4c4", "0d57d7399862c32152b045ec5d2698e7"),
    "amazon_book": ("amazon-book", "c916ecac04ca72300a016228258b41ed", "30f8ccfea18d25007ba9fb9aba4e174d"),
}
GOWALLA = SHARED_DATA / "gowalla"


def _refused_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


def _gowalla_cfg(cfg_factory, base: str, data_dir: Path, md5: dict[str, str | None] | None = None, *more: str):
    cfg = cfg_factory("dataset=gowalla", f"dataset.download.base_url={base}", f"paths.data_dir={data_dir}", *more)
    with open_dict(cfg):
        for file_name, value in (md5 or {}).items():
            cfg.dataset.download.files[file_name].md5 = value
    return cfg


def _served_md5(folder: Path) -> dict[str, str | None]:
    return {n: hashlib.md5((folder / n).read_bytes()).hexdigest() for n in ("train.txt", "test.txt")}


@pytest.mark.parametrize("name", sorted(PUBLISHED_MD5))
def test_paper_splits_are_pinned_to_a_commit_and_checksums(cfg_factory, name):
    folder, train_md5, test_md5 = PUBLISHED_MD5[name]
    download = cfg_factory(f"dataset={name}").dataset.download
    assert download.commit == LIGHTGCN_COMMIT and download.verify is True
    assert download.base_url == f"https://raw.githubusercontent.com/kuandeng/LightGCN/{LIGHTGCN_COMMIT}/Data/{folder}"
    assert {n: f.md5 for n, f in download.files.items()} == {"train.txt": train_md5, "test.txt": test_md5}
    repinned = cfg_factory(f"dataset={name}", "dataset.download.commit=0123abcd").dataset.download
    assert "/LightGCN/0123abcd/Data/" in repinned.base_url


def test_pinned_download_matching_is_used_and_cached_once(cfg_factory, tmp_path, http_root):
    base, www = http_root
    write_lightgcn_files(www / "gowalla")
    cfg = _gowalla_cfg(cfg_factory, f"{base}/gowalla", tmp_path / "cache", _served_md5(www / "gowalla"))
    first: RecDataset = instantiate(cfg.dataset)
    assert (first.num_users, first.num_items) == (41, 30)
    shutil.rmtree(www / "gowalla")  # the second run checks the files on disk: no server needed
    second: RecDataset = instantiate(cfg.dataset)
    assert torch.equal(first.split.train.item, second.split.train.item)
    assert len(list((tmp_path / "cache" / "gowalla").glob("processed-*.pt"))) == 1  # the cache was hit


def test_pinned_download_mismatch_is_refused_before_use(cfg_factory, tmp_path, http_root):
    base, www = http_root
    write_lightgcn_files(www / "gowalla")  # not the published Gowalla: the pinned md5 cannot match
    cfg = _gowalla_cfg(cfg_factory, f"{base}/gowalla", tmp_path / "cache")
    with pytest.raises(Exception) as info:
        instantiate(cfg.dataset)
    cause = info.value.__cause__
    dest = tmp_path / "cache" / "gowalla" / "train.txt"
    assert isinstance(cause, DataFileError) and cause.path == dest
    msg = str(cause)
    assert "expected md5 5eec1eb2edb8dd648377d348b8e136cf" in msg
    assert f"got md5 {_served_md5(www / 'gowalla')['train.txt']}" in msg and "dataset.download" in msg
    assert not dest.exists() and not list(dest.parent.glob("processed-*"))


def test_pinned_download_offline_says_where_to_put_the_files(cfg_factory, tmp_path):
    url = _refused_url()
    with pytest.raises(Exception) as info:
        instantiate(_gowalla_cfg(cfg_factory, url, tmp_path / "cache").dataset)
    msg = str(info.value.__cause__)
    assert isinstance(info.value.__cause__, RuntimeError) and f"could not download {url}/train.txt" in msg
    assert str(tmp_path / "cache" / "gowalla" / "train.txt") in msg and "dataset.path=" in msg


def test_unverified_download_needs_verify_false(cfg_factory, tmp_path, http_root):
    base, www = http_root
    write_lightgcn_files(www / "gowalla")
    cfg = _gowalla_cfg(cfg_factory, f"{base}/gowalla", tmp_path / "a", {"train.txt": None, "test.txt": None})
    with pytest.raises(Exception) as info:
        instantiate(cfg.dataset)
    assert isinstance(info.value.__cause__, ValueError) and "dataset.download.verify=false" in str(info.value.__cause__)
    assert not (tmp_path / "a" / "gowalla" / "train.txt").exists()
    unchecked = _gowalla_cfg(cfg_factory, f"{base}/gowalla", tmp_path / "b", None, "dataset.download.verify=false")
    assert instantiate(unchecked.dataset).num_users == 41


@pytest.mark.skipif(not GOWALLA.is_dir(), reason="the LightGCN Gowalla split is not beside the project")
def test_published_gowalla_matches_its_pinned_checksums(cfg_factory, tmp_path, http_root, caplog):
    base, www = http_root
    (www / "gowalla").mkdir()
    for name in ("train.txt", "test.txt"):  # served from a temporary folder, never copied into the project
        (www / "gowalla" / name).write_bytes(gzip.decompress((GOWALLA / f"{name}.gz").read_bytes()))
    data: RecDataset = instantiate(_gowalla_cfg(cfg_factory, f"{base}/gowalla", tmp_path / "cache").dataset)
    assert (data.num_users, data.num_items) == (29_858, 40_981)
    assert (len(data.split.train) + len(data.split.val), len(data.split.test)) == (810_128, 217_242)
    local = cfg_factory("dataset=gowalla", f"dataset.path={GOWALLA}", f"paths.data_dir={tmp_path / 'local'}")
    with caplog.at_level(logging.WARNING):
        assert instantiate(local.dataset).num_users == 29_858
    assert "will not compare" not in caplog.text  # the gzipped local copy matches the published files


def test_a_local_copy_that_differs_is_used_with_a_warning(cfg_factory, tmp_path, caplog):
    write_lightgcn_files(tmp_path / "gowalla")
    cfg = cfg_factory("dataset=gowalla", f"dataset.path={tmp_path / 'gowalla'}", f"paths.data_dir={tmp_path}")
    with caplog.at_level(logging.WARNING):
        assert instantiate(cfg.dataset).num_users == 41
    assert "will not compare with published ones" in caplog.text and "5eec1eb2edb8dd648377d348b8e136cf" in caplog.text


# --- the processed-data cache -----------------------------------------------------------------------------


class _Payload:
    """Unpickled by a full unpickler, this creates ``marker``: a stand-in for arbitrary code."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return open, (str(self.marker), "w")


def test_a_crafted_cache_file_is_never_executed(cfg_factory, tmp_path, caplog):
    write_ml100k(tmp_path / "ml")
    cfg = cfg_factory("dataset=ml100k", f"dataset.path={tmp_path / 'ml'}", f"paths.data_dir={tmp_path / 'cache'}")
    clean: RecDataset = instantiate(cfg.dataset)
    (cache_file,) = (tmp_path / "cache" / "ml100k").glob("processed-*.pt")
    record = torch.load(cache_file, weights_only=True)  # tensors and plain containers only
    assert record["kind"] == "table" and isinstance(record["parts"]["data"]["user_ids"], list)

    marker = tmp_path / "pwned"
    torch.save(_Payload(marker), cache_file)
    with caplog.at_level(logging.WARNING):
        again: RecDataset = instantiate(cfg.dataset)
    assert not marker.exists()
    assert "ignoring cache" in caplog.text and str(cache_file) in caplog.text
    assert torch.equal(again.split.train.item, clean.split.train.item)
    assert torch.load(cache_file, weights_only=True)["format"] == record["format"]  # rebuilt safely

    torch.save(_Payload(marker), tmp_path / "payload.pt")
    torch.load(tmp_path / "payload.pt", weights_only=False)  # the payload is live: a full unpickler runs it
    assert marker.exists()


_CALLS: list[Path] = []


def _counting_loader(folder: Path, threshold: float) -> Split:
    _CALLS.append(folder)
    ids = torch.tensor([0, 1, 2])
    part = Interactions(ids, ids, 3, 3, rating=torch.tensor([threshold] * 3), user_ids=["a", "b", "c"])
    return Split(part, part.subset(ids < 0), part)


def test_cache_round_trip_and_reuse(tmp_path):
    _CALLS.clear()
    (tmp_path / "data.txt").write_text("x")
    source = partial(_counting_loader, threshold=4.0)
    built = load_source(source, tmp_path, tmp_path)
    cached = load_source(source, tmp_path, tmp_path)  # the cache file beside the data does not change the key
    assert len(_CALLS) == 1 and isinstance(cached, Split)
    assert cached.train.user_ids == ["a", "b", "c"] and torch.equal(cached.train.rating, built.train.rating)
    assert len(cached.val) == 0 and cached.test.num_items == 3
