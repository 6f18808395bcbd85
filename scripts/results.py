"""The results table, generated from run records: ``python scripts/results.py <runs dir> [--copy results/]``.

Reads every finished run under ``<runs dir>`` (a folder with ``summary.json``, ``config.json`` and
``status.json`` saying ``finished``) and writes ``RESULTS.md``: per dataset, one row per run with test
Recall@20 / NDCG@20, the protocol (``paper``: no validation part, selection on test, as the NGCF/LightGCN
papers report; ``honest``: validation carved from train, test at the best validation epoch), epochs,
training minutes, peak memory, the published number beside it, the record's folder and the command that
made it (from the run's ``.hydra/overrides.yaml``).

``--copy DIR`` first copies each run's small text records (``config.json``, ``summary.json``,
``metrics.jsonl``, ``status.json``, ``.hydra/overrides.yaml``) to ``DIR/<dataset>/<run name>/`` and
tables those copies, so the table and the records it was made from can be committed together.
Run folders are named by their last path component; give runs meaningful folder names
(``hydra.run.dir=outputs/results/gowalla/chebycf_paper``).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path
from typing import Any

# Published test Recall@20 / NDCG@20 on the LightGCN papers' splits, by dataset and model (the papers' tables).
PUBLISHED: dict[tuple[str, str], tuple[float, float | None, str]] = {
    ("gowalla", "LightGCN"): (0.1830, 0.1554, "He et al., SIGIR 2020"),
    ("gowalla", "MF"): (0.1291, 0.1109, "LightGCN paper, MF-BPR"),
    ("gowalla", "NGCF"): (0.1570, 0.1327, "Wang et al., SIGIR 2019"),
    ("gowalla", "GFCF"): (0.1849, 0.1518, "Shen et al., CIKM 2021"),
    ("gowalla", "BSPM"): (0.1920, 0.1597, "Choi et al., SIGIR 2023"),
    ("gowalla", "ChebyCF"): (0.1941, 0.1616, "Kim et al., SIGIR 2025"),
    ("gowalla", "LightGCN+BSL"): (0.1892, 0.1590, "Wu et al., ICDE 2024 (authors' best log, tau2 0.84)"),
    ("gowalla", "SimpleX"): (0.1872, 0.1557, "Mao et al., CIKM 2021"),
    ("gowalla", "TurboCF"): (0.1835, None, "Park et al., SIGIR 2024"),
    ("gowalla", "MF+BSL"): (0.1882, 0.1584, "Wu et al., ICDE 2024 (authors' log, best)"),
}
RECORDS = ("config.json", "summary.json", "metrics.jsonl", "status.json", ".hydra/overrides.yaml")


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise ValueError(f"{path}: {err}") from None


def model_name(config: dict[str, Any]) -> str:
    """The model's class, with the loss where it names a recipe (``LightGCN+BSL``)."""
    name = str(config.get("model", {}).get("_target_", "?")).rsplit(".", 1)[-1]
    loss = str(config.get("loss", {}).get("_target_", "")).rsplit(".", 1)[-1]
    return f"{name}+BSL" if loss == "BSLLoss" else name


def command(run: Path) -> str:
    overrides = run / ".hydra" / "overrides.yaml"
    if not overrides.exists():
        return ""
    lines = [ln.strip()[2:].strip() for ln in overrides.read_text().splitlines() if ln.strip().startswith("- ")]
    quoted = [f"'{x}'" if any(c in x for c in "[],") else x for x in lines if not x.startswith("hydra.run.dir")]
    return "python -m recsys_pyg.train " + " ".join(quoted)


def finished(run: Path) -> bool:
    """Whether the run's ``status.json`` says ``finished`` (an unreadable one raises, naming the file)."""
    return (run / "status.json").exists() and read_json(run / "status.json").get("status") == "finished"


def readable_and_finished(run: Path) -> bool:
    """:func:`finished`, False for an unreadable status (the table then names the file)."""
    try:
        return finished(run)
    except ValueError:
        return False


def row(run: Path) -> dict[str, Any] | None:
    if not finished(run):
        return None
    config, summary = read_json(run / "config.json"), read_json(run / "summary.json")
    if any(key.endswith("cold/scored") for key in summary):  # cold-start runs: scripts/cold_start_table.py's table
        raise ValueError("a cold-start run (dataset/split=cold_items): its table is scripts/cold_start_table.py's")
    protocol = config.get("protocol", {})
    dataset, model = str(protocol.get("dataset", "?")), model_name(config)
    published = PUBLISHED.get((dataset, model))
    return {
        "dataset": dataset,
        "run": run.name,
        "model": model,
        "protocol": "paper" if protocol.get("selection") == "test" else "honest",
        "recall": summary.get("test/recall@20"),
        "ndcg": summary.get("test/ndcg@20"),
        "mostpop": summary.get("mostpop/test/recall@20"),
        "epochs": summary.get("epochs"),
        "train_min": (summary.get("train_time") or 0.0) / 60,
        "peak_mib": summary.get("peak_rss_mib"),
        "published": published,
        "folder": run,
        "command": command(run),
    }


def fmt(x: float | None, digits: int = 4) -> str:
    return "–" if x is None else f"{x:.{digits}f}"


def table(rows: list[dict[str, Any]], root: Path) -> str:
    lines = ["# Results", "", "Generated by `scripts/results.py` from the run records beside it; every row links its "
             "record. `paper`: no validation part, model selection on test (as the LightGCN-split papers report); "
             "`honest`: validation carved from train, test at the best validation epoch.", ""]  # fmt: skip
    for dataset in sorted({r["dataset"] for r in rows}):
        lines += [f"## {dataset}", "",
                  "| run | model | protocol | test R@20 | test N@20 | published R@20 / N@20 | MostPop R@20 | epochs "
                  "| train min | peak MiB | command |",
                  "|---|---|---|---:|---:|---|---:|---:|---:|---:|---|"]  # fmt: skip
        for r in sorted((r for r in rows if r["dataset"] == dataset), key=lambda r: (r["model"], r["protocol"])):
            pub = r["published"]
            published = "–" if pub is None else f"{pub[0]:.4f} / {fmt(pub[1])} ({pub[2]})"
            link = r["folder"].relative_to(root) if r["folder"].is_relative_to(root) else r["folder"]
            lines.append(
                f"| [{r['run']}]({link}) | {r['model']} | {r['protocol']} | {fmt(r['recall'])} | {fmt(r['ndcg'])} "
                f"| {published} | {fmt(r['mostpop'])} | {fmt(r['epochs'], 0)} | {fmt(r['train_min'], 1)} "
                f"| {fmt(r['peak_mib'], 0)} | `{r['command']}` |"
            )
        lines.append("")
    return "\n".join(lines)


def copy_records(run: Path, dest_root: Path) -> Path:
    dataset = str(read_json(run / "config.json").get("protocol", {}).get("dataset", "unknown"))
    dest = dest_root / dataset / run.name
    for name in RECORDS:
        if (run / name).exists():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(run / name, dest / name)
    return dest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", type=Path, nargs="+", help="folders holding run folders (searched recursively)")
    parser.add_argument("--copy", type=Path, help="copy each run's text records here and table the copies")
    parser.add_argument("--out", type=Path, default=Path("RESULTS.md"))
    args = parser.parse_args(argv)
    runs = sorted({p.parent for root in args.runs for p in root.rglob("summary.json")})
    if args.copy is not None:  # finished runs only: a failed one's record is no result
        runs = [copy_records(run, args.copy) if readable_and_finished(run) else run for run in runs]
    rows, skipped = [], []
    for run in runs:
        try:
            found = row(run)
        except ValueError as err:
            skipped.append(f"{run}: {err}")
            continue
        (rows if found else skipped).append(found or f"{run}: not finished")
    for line in skipped:
        print(f"skipped {line}", file=sys.stderr)
    if not rows:
        print("no finished runs found", file=sys.stderr)
        return 1
    args.out.write_text(table(rows, args.out.resolve().parent) + "\n")
    print(f"{args.out}: {len(rows)} runs over {len({r['dataset'] for r in rows})} dataset(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
