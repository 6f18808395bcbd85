"""Read back what W&B logged offline: the history rows stored in ``offline-run-*/run-*.wandb``.

W&B (0.31) ships no reader for its offline files; they are a LevelDB-style log (a 7-byte
``:W&B`` header, then 32 KiB blocks of records with a 7-byte header: checksum, length,
type FULL/FIRST/MIDDLE/LAST) of ``wandb_internal_pb2.Record`` protobufs. This reads the
``history`` records, so a run's logged metrics can be checked without a server.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

_BLOCK = 32768
_HEADER = 7


def _records(path: Path) -> Iterator[bytes]:
    data = path.read_bytes()
    if not data.startswith(b":W&B"):
        raise ValueError(f"{path}: not a W&B offline run file (no ':W&B' header)")
    pos, pending = _HEADER, b""
    while pos + _HEADER <= len(data):
        room = _BLOCK - pos % _BLOCK
        if room < _HEADER:  # the rest of a block too small for a header is padding
            pos += room
            continue
        length = int.from_bytes(data[pos + 4 : pos + 6], "little")
        kind = data[pos + 6]
        if kind == 0 and length == 0:
            pos += room
            continue
        chunk = data[pos + _HEADER : pos + _HEADER + length]
        pos += _HEADER + length
        if kind == 1:
            yield chunk
        elif kind == 2:
            pending = chunk
        elif kind == 3:
            pending += chunk
        elif kind == 4:
            yield pending + chunk


def offline_history(run_folder: str | Path) -> list[dict[str, Any]]:
    """The history rows (``wandb.log`` calls) of an offline run folder or ``.wandb`` file, in order."""
    from wandb.proto import wandb_internal_pb2

    path = Path(run_folder)
    if path.is_dir():
        files = sorted(path.glob("run-*.wandb"))
        if not files:
            raise FileNotFoundError(f"no run-*.wandb file in {path}")
        path = files[0]
    rows = []
    for raw in _records(path):
        record = wandb_internal_pb2.Record()
        record.ParseFromString(raw)
        if record.WhichOneof("record_type") == "history":
            rows.append(
                {item.key or "/".join(item.nested_key): json.loads(item.value_json) for item in record.history.item}
            )
    return rows
