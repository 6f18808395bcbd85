"""Atomic writes: all or nothing, and temporary files of dead writers cleaned on the next write."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

from recsys_pyg.io import atomic_save, atomic_write, atomic_write_text


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "summary.json"
    atomic_write_text(path, "old")

    def half(f):
        f.write(b"new but cut")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(path, half)
    assert path.read_text() == "old" and list(tmp_path.iterdir()) == [path]


def test_temporaries_of_dead_writers_are_removed_and_live_ones_kept(tmp_path):
    path = tmp_path / "last.pt"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = tmp_path / f".last.pt.{int(dead.stdout)}.abc123.tmp"  # a writer killed mid-write
    live = tmp_path / f".last.pt.{os.getpid()}.def456.tmp"  # a write in progress in a live process
    stale.write_bytes(b"partial")
    live.write_bytes(b"partial")
    atomic_save({"x": torch.ones(2)}, path)
    assert not stale.exists() and live.exists()
    assert torch.equal(torch.load(path, weights_only=True)["x"], torch.ones(2))
