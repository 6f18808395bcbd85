"""Seconds to add new items to an export and serve them: ``recsys-recommend --add-items`` timed.

    python scripts/bench_add_items.py <run dir of an inductive PinSAGE> --n 1000 --edges-per-item 3

Writes ``--n`` new items (copies of existing items' raw feature columns, rebuilt from the run's own
dataset config, with new ids) and, with ``--edges-per-item``, that many interactions of random known users
with each; then, for each ``--index``, runs ``recsys-recommend --all-users --k 20 --add-items ...`` in this
process and reports the seconds to embed the items, to add them to the index, and the whole command (load,
index build, add, serve every user).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import json
import re
import tempfile
import time
from pathlib import Path

import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from recsys_pyg.serving.recommend import main as recommend


def write_new_items(run: Path, n: int, edges_per_item: int, folder: Path) -> tuple[Path, Path | None]:
    config = json.loads((run / "config.json").read_text())
    data = instantiate(OmegaConf.create(config["dataset"]))
    train = data.split.train
    columns: dict[str, list] = {}
    if train.item_features is not None:
        columns["features"] = [" ".join(f"{x:.7g}" for x in row) for row in train.item_features.tolist()]
    columns.update({k: list(v) for k, v in (train.item_columns or {}).items()})
    gen = torch.Generator().manual_seed(0)
    source = torch.randint(train.num_items, (n,), generator=gen).tolist()
    ids = [f"new-{j}" for j in range(n)]
    features = folder / "new_items.csv"
    with open(features, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["item", *columns])
        for j, i in zip(ids, source, strict=True):
            writer.writerow([j, *(columns[c][i] for c in columns)])
    if not edges_per_item:
        return features, None
    id_file = run / "export" / "user_ids.json"
    user_ids = json.loads(id_file.read_text()) if id_file.exists() else list(range(train.num_users))
    users = torch.randint(len(user_ids), (n, edges_per_item), generator=gen)
    edges = folder / "new_edges.csv"
    lines = ["user,item"] + [f"{user_ids[u]},{j}" for j, row in zip(ids, users.tolist(), strict=True) for u in set(row)]
    edges.write_text("\n".join(lines) + "\n")
    return features, edges


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path)
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--edges-per-item", type=int, default=0)
    parser.add_argument("--index", nargs="+", default=["exact", "hnsw"])
    args = parser.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        features, edges = write_new_items(args.run, args.n, args.edges_per_item, Path(tmp))
        print("| index | new items | edges | embed s | index add s | whole command s (load, build, add, serve all) |")
        print("|---|---:|---:|---:|---:|---:|")
        for kind in args.index:
            argv = [str(args.run), "--all-users", "--k", "20", "--index", kind, "--add-items", str(features),
                    "--out", str(Path(tmp) / "out.csv")]  # fmt: skip
            if edges is not None:
                argv += ["--edges", str(edges)]
            err = io.StringIO()
            started = time.perf_counter()
            with contextlib.redirect_stderr(err):
                recommend(argv)
            total = time.perf_counter() - started
            found = re.search(r"embedding ([\d.]+) s, index ([\d.]+) s", err.getvalue())
            embed, add = (found.group(1), found.group(2)) if found else ("?", "?")
            n_edges = 0 if edges is None else len(edges.read_text().splitlines()) - 1
            print(f"| {kind} | {args.n} | {n_edges} | {embed} | {add} | {total:.2f} |")


if __name__ == "__main__":
    main()
