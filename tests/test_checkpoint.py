"""Checkpoints load safely and are checked before anything on disk changes; a damaged one falls back."""

from __future__ import annotations

import json
import logging
import random
from pathlib import Path

import numpy as np
import pytest
import torch

from recsys_pyg.checkpoint import CheckpointError, resolve_checkpoint, rng_state, set_rng_state
from recsys_pyg.train import train

RUN = ["debug=default", "train.epochs=4", "train.checkpoint_every=1", "train.save_checkpoint=true"]


class Exploit:
    """Unpickling this creates a marker file: what a crafted checkpoint could do with weights_only=False."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def finished_run(cfg_factory, tmp_path) -> dict:
    return train(cfg_factory(*RUN))


def test_a_crafted_pickle_as_checkpoint_is_refused_and_runs_nothing(cfg_factory, tmp_path):
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pt"
    torch.save({"model": Exploit(marker)}, evil)
    with pytest.raises(CheckpointError, match=f"{evil}.*could run code when loaded; it was not loaded"):
        train(cfg_factory("debug=default", f"train.resume={evil}"))
    assert not marker.exists()


def test_best_pt_is_not_resumable_and_the_finished_record_is_untouched(cfg_factory, tmp_path):
    finished_run(cfg_factory, tmp_path)
    record = {name: (tmp_path / name).read_text() for name in ("metrics.jsonl", "summary.json", "config.json")}
    with pytest.raises(CheckpointError, match="best-weights file .*Resume from the run folder"):
        train(cfg_factory("debug=default", f"train.resume={tmp_path / 'checkpoints' / 'best.pt'}"))
    assert record == {name: (tmp_path / name).read_text() for name in record}


def test_damaged_last_falls_back_to_the_previous_checkpoint(cfg_factory, tmp_path, caplog):
    results = finished_run(cfg_factory, tmp_path)
    last = tmp_path / "checkpoints" / "last.pt"
    assert (tmp_path / "checkpoints" / "last.prev.pt").exists()
    last.write_bytes(last.read_bytes()[:1000])  # a write cut short
    (tmp_path / "status.json").write_text('{"status": "interrupted"}')  # killed before it finished: resumable
    with caplog.at_level(logging.WARNING):
        resumed = train(cfg_factory(f"train.resume={tmp_path}"))
    assert "resuming from the previous checkpoint" in caplog.text and str(last) in caplog.text
    assert resumed["test/recall@20"] == results["test/recall@20"]  # epoch 4 redone from epoch 3's checkpoint
    epochs = [json.loads(x).get("epoch") for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [e for e in epochs if e] == [1, 2, 3, 4]


@pytest.mark.parametrize(
    "content,message",
    [
        (b"not a checkpoint at all", "is damaged or not a torch checkpoint"),
        (None, "is not a recsys_pyg checkpoint \\(a list"),
        ({"model": {}}, "is not a resumable checkpoint \\(it lacks"),
    ],
    ids=["text", "a-list", "missing-keys"],
)
def test_files_that_are_not_checkpoints_are_named(cfg_factory, tmp_path, content, message):
    path = tmp_path / "x.pt"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        torch.save([1, 2] if content is None else content, path)
    with pytest.raises(CheckpointError, match=f"{path} {message}"):
        resolve_checkpoint(path)


def test_missing_checkpoint_names_the_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint at .*checkpoints/last.pt"):
        resolve_checkpoint(tmp_path)
    with pytest.raises(FileNotFoundError, match="no such run folder or checkpoint file"):
        resolve_checkpoint(tmp_path / "nope")


def test_rng_state_round_trips_through_a_weights_only_load(tmp_path):
    gen = torch.Generator().manual_seed(3)
    random.seed(1), np.random.seed(2), torch.manual_seed(4)
    torch.save(rng_state(gen), tmp_path / "rng.pt")
    expected = (random.random(), np.random.rand(), torch.rand(1).item(), torch.rand(1, generator=gen).item())
    set_rng_state(torch.load(tmp_path / "rng.pt", weights_only=True), gen)
    assert (random.random(), np.random.rand(), torch.rand(1).item(), torch.rand(1, generator=gen).item()) == expected
