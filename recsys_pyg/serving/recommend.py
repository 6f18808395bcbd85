"""``recsys-recommend <run dir>``: top-K unseen items for users given in the data's original ids.

    recsys-recommend outputs/2026-11-29_10-00-00-000000_ab12cd --users 196 186 --k 10
    recsys-recommend <run> --users-file users.txt --format jsonl --out recs.jsonl --skip-unknown
    recsys-recommend <run> --all-users --index ivfpq --candidates 200 --out all.csv

Reads the run's export (``<run dir>/export/``: safetensors and JSON, nothing executable). Items the
user has seen (training and validation: what the test evaluation excludes) are never recommended.
``--index exact`` (default) ranks every item, the evaluator's own computation; ``flat``/``ivfpq``/
``hnsw`` take ``--candidates`` items from a faiss MIPS index and re-rank them exactly
(``pip install 'recsys_pyg[ann]'``). CSV rows are ``user,rank,item,score``; JSON Lines rows are
``{"user": ..., "items": [...], "scores": [...]}``.

``--add-items new.csv [--edges edges.csv]`` (an inductive PinSAGE's export) embeds new items from their
features (and the known users' interactions with them) with the export's item tower and adds them to the
index before serving: they are recommended like any item, without retraining (the time it took on stderr).

The export is checked on load (finite embeddings, the manifest's shapes, a well-formed seen-items CSR,
unique non-null ids) and so are the index options; a bad one exits with status 1 and one line,
``recsys-recommend: error: <file or option>: ...``. A user who can get fewer than ``--k`` items (``--k``
above the catalogue or ``--candidates``, or too few unseen items left) gets the rows there are, and a
``recsys-recommend: warning: ...`` line on stderr says so.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
import warnings
from pathlib import Path
from typing import IO

import torch
from tqdm import tqdm

from recsys_pyg.data.files import DataFileError
from recsys_pyg.serving.add_items import embed_new_items
from recsys_pyg.serving.export import Exported, ExportError, load_export
from recsys_pyg.serving.retrieval import INDEXES, Retriever, ShortTopKWarning, short_rows_message

PROG = "recsys-recommend"


def fail(message: str) -> SystemExit:
    """Exit status 1 with one line on stderr, no traceback: the input, not the program, is wrong."""
    return SystemExit(f"{PROG}: error: {' '.join(str(message).split())}")


def warn(message: str) -> None:
    print(f"{PROG}: warning: {message}", file=sys.stderr)


def read_user_file(path: Path) -> list[str]:
    """One user id per line (blank lines and ``#`` comments skipped); a CSV's first column."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as err:
        raise fail(f"{path}: cannot read the users file ({err.strerror})") from err
    except UnicodeDecodeError as err:
        raise fail(f"{path}: not UTF-8 text ({err.reason} at byte {err.start})") from err
    ids = [line.split(",")[0].strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
    if not ids:
        raise fail(f"{path}: no user ids in it (one per line)")
    return ids


def write(out: IO[str], fmt: str, exported: Exported, users: torch.Tensor, scores, items, header: bool) -> None:
    """Rows of one batch of users in ``fmt``; padding (``-1``: nothing more to return) is left out."""
    writer = csv.writer(out) if fmt == "csv" else None
    if writer is not None and header:
        writer.writerow(["user", "rank", "item", "score"])
    for u, s_row, i_row in zip(users.tolist(), scores.tolist(), items.tolist(), strict=True):
        kept = [(i, s) for i, s in zip(i_row, s_row, strict=True) if i >= 0]
        if writer is not None:
            for rank, (i, s) in enumerate(kept, start=1):
                writer.writerow([exported.user_id(u), rank, exported.item_id(i), f"{s:.6g}"])
        else:
            row = {"user": exported.user_id(u), "items": [exported.item_id(i) for i, _ in kept],
                   "scores": [round(s, 6) for _, s in kept]}  # fmt: skip
            out.write(json.dumps(row) + "\n")


def add_new_items(exported: Exported, retriever: Retriever, features: Path, edges: Path | None) -> Exported:
    """Embed the new items of ``features`` and add them to ``retriever``; their time goes to stderr."""
    started = time.perf_counter()
    try:
        new = embed_new_items(exported, features, edges)
    except (DataFileError, ValueError, FileNotFoundError, IsADirectoryError) as err:
        raise fail(str(err)) from err
    embedded = time.perf_counter()
    exported = exported.with_items(new.ids, new.emb, new.seen_users, new.seen_items)
    retriever.add_items(new.emb, exported.seen)
    done = time.perf_counter()
    print(f"{PROG}: added {len(new.ids)} new item(s) in {done - started:.3f} s (embedding {embedded - started:.3f} s, "
          f"index {done - embedded:.3f} s)", file=sys.stderr)  # fmt: skip
    return exported


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path, help="a run folder (or its export/ folder)")
    who = parser.add_mutually_exclusive_group(required=True)
    who.add_argument("--users", nargs="+", help="original user ids")
    who.add_argument("--users-file", type=Path, help="a file with one original user id per line")
    who.add_argument("--all-users", action="store_true", help="every user of the run's data, in batches")
    parser.add_argument("--k", type=int, default=20, help="items per user (default 20)")
    parser.add_argument("--format", choices=["csv", "jsonl"], default="csv")
    parser.add_argument("--out", type=Path, help="output file (default: standard output)")
    parser.add_argument("--skip-unknown", action="store_true", help="list unknown user ids on stderr and go on")
    parser.add_argument("--index", choices=INDEXES, default="exact", help="exact ranking or a faiss MIPS index")
    parser.add_argument("--candidates", type=int, default=200, help="first-stage candidates per user (index)")
    parser.add_argument("--batch-size", type=int, default=1024, help="users scored at once")
    parser.add_argument("--nprobe", type=int, default=16, help="ivfpq: inverted lists visited per query")
    parser.add_argument("--ef-search", type=int, default=256, help="hnsw: candidate list size while searching")
    parser.add_argument("--add-items", type=Path, help="a feature file of new items (inductive PinSAGE exports): "
                        "embedded with the export's item tower and added to the index, no retraining")  # fmt: skip
    parser.add_argument("--edges", type=Path, help="with --add-items: user,item pairs of known users and new items")
    args = parser.parse_args(argv)
    if args.edges and not args.add_items:
        parser.error("--edges goes with --add-items")
    if args.k < 1 or args.batch_size < 1 or args.candidates < 1:
        parser.error("--k, --batch-size and --candidates must be positive")
    try:
        exported = load_export(args.run)
    except ExportError as err:
        raise fail(str(err)) from err
    if args.all_users:
        users = torch.arange(exported.user.shape[0])
    else:
        raw = args.users if args.users else read_user_file(args.users_file)
        try:
            users, unknown = exported.user_index(raw, skip_unknown=args.skip_unknown)
        except KeyError as err:
            raise fail(err.args[0]) from err
        if unknown:
            print(f"skipped {len(unknown)} unknown user id(s): {', '.join(map(str, unknown))}", file=sys.stderr)
    try:
        retriever = Retriever(exported.user, exported.item, exported.seen, args.index, args.candidates, args.batch_size,
                              nprobe=args.nprobe, ef_search=args.ef_search)  # fmt: skip
    except (ImportError, ValueError) as err:  # faiss missing, or an index option out of range
        raise fail(f"--index {args.index}: {err}") from err
    if args.add_items:
        exported = add_new_items(exported, retriever, args.add_items, args.edges)
    limit = retriever.k_limit(args.k)
    if limit:  # said once, before the rows
        warn(limit)
    out = args.out.open("w", newline="", encoding="utf-8") if args.out else sys.stdout
    short = 0
    try:
        starts = range(0, users.numel(), args.batch_size)
        bar = tqdm(starts, desc="users", unit="batch", disable=not args.all_users, file=sys.stderr)
        for n, start in enumerate(bar):
            batch = users[start : start + args.batch_size]
            with warnings.catch_warnings():  # the Retriever's per-batch warnings, summed up below instead
                warnings.simplefilter("ignore", ShortTopKWarning)
                scores, items = retriever.top_k(batch, args.k)
            short += int(retriever.short_rows(items, args.k).sum())
            write(out, args.format, exported, batch, scores, items, header=n == 0)
    finally:
        if args.out:
            out.close()
    if short:
        warn(short_rows_message(short, users.numel(), min(args.k, retriever.max_k)))


if __name__ == "__main__":
    main()
