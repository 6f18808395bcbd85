"""Two-stage retrieval against exact full ranking, on a finished run: quality kept and users per second.

    python scripts/two_stage.py outputs/baselines/gowalla/lightgcn_bpr
    python scripts/two_stage.py <run> --indexes flat ivfpq hnsw --candidates 50 100 200 500

For the run's test users (the data rebuilt from the run's ``config.json``), ranks with the exported
embeddings: exactly (every item scored, seen items masked: the evaluator's computation), then with
each MIPS index proposing ``candidates`` unseen items that are re-ranked by the exact score. Prints
and writes (``<run>/two_stage.md``, ``.json``) per row: test Recall@20, its ratio to exact, the
overlap of the top-20 with exact's, users per second of the query (index build timed apart), and
one thread's worth of both (``--threads``, default 1) so rows compare alike.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from recsys_pyg.data.graph import CSR
from recsys_pyg.serving import Retriever, load_export

K = 20


def recall(top: torch.Tensor, users: torch.Tensor, truth: CSR) -> float:
    """Mean Recall@K of ``top (B, K)`` item lists against ``truth`` rows of ``users``."""
    local, item = truth.gather_rows(users)
    keys = set(zip(local.tolist(), item.tolist(), strict=True))
    hits = torch.tensor([[(b, i) in keys for i in row] for b, row in enumerate(top.tolist())], dtype=torch.float)
    return float((hits.sum(1) / truth.degree()[users].float()).mean())


def overlap(a: torch.Tensor, b: torch.Tensor) -> float:
    return sum(len(set(x.tolist()) & set(y.tolist())) for x, y in zip(a, b, strict=True)) / a.numel()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path, help="a finished run folder (with export/ and config.json)")
    parser.add_argument("--indexes", nargs="+", default=["flat", "ivfpq", "hnsw"])
    parser.add_argument("--candidates", nargs="+", type=int, default=[50, 200, 1000])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--nprobe", type=int, default=16, help="ivfpq: inverted lists visited per query")
    parser.add_argument("--ef-search", type=int, default=256, help="hnsw: candidate list size while searching")
    parser.add_argument("--batch-size", type=int, default=1024)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    exported = load_export(args.run)
    config = json.loads((args.run / "config.json").read_text())
    config.pop("protocol", None)
    data = instantiate(OmegaConf.create(config).dataset)
    truth = data.test_items
    users = torch.nonzero(truth.degree() > 0).flatten()
    rows = []

    def measure(name: str, index: str, candidates: int | None) -> torch.Tensor:
        t = time.time()
        retriever = Retriever(exported.user, exported.item, exported.seen, index, candidates or 1, args.batch_size,
                              nprobe=args.nprobe, ef_search=args.ef_search)  # fmt: skip
        build = time.time() - t
        t = time.time()
        _, top = retriever.top_k(users, K)
        query = time.time() - t
        rows.append({"name": name, "index": index, "candidates": candidates, "build_s": build,
                     "users_per_s": users.numel() / query, "recall@20": recall(top, users, truth)})  # fmt: skip
        print(f"  {rows[-1]}", flush=True)
        return top

    exact = measure("exact", "exact", None)
    rows[-1]["overlap"] = 1.0
    for index in args.indexes:
        for c in args.candidates:
            top = measure(f"{index} C={c}", index, c)
            rows[-1]["overlap"] = overlap(top, exact)
    base = rows[0]
    lines = [
        f"{args.run}: {exported.manifest['model']} on {exported.manifest['dataset']}, {users.numel()} test users x "
        f"{exported.item.shape[0]} items, d = {exported.item.shape[1]}, {args.threads} thread(s), K = {K}",
        "",
        "| retrieval | candidates | Recall@20 | vs exact | top-20 overlap | users/s | speed vs exact | build (s) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['index']} | {r['candidates'] or 'all'} | {r['recall@20']:.4f} | "
            f"{r['recall@20'] / base['recall@20']:.3f} | {r['overlap']:.3f} | {r['users_per_s']:.0f} | "
            f"{r['users_per_s'] / base['users_per_s']:.2f} | {r['build_s']:.2f} |"
        )
    text = "\n".join(lines)
    print(text)
    (args.run / "two_stage.md").write_text(text + "\n")
    (args.run / "two_stage.json").write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
