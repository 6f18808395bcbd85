"""``recsys-compare <sweep or runs dir>``: runs side by side from their local records, offline.

Reads every run folder under the given directory (``config.json``, ``summary.json``,
``metrics.jsonl``, ``status.json``; failed jobs' ``failed.json``), finds the config keys that vary
between runs, and writes (a file that cannot be read is listed with its reason, never fatal; a run
whose status says running while no process holds its folder is shown as dead):

- a table, one row per run: the varied keys, validation and test metrics, epochs, time
  (printed as Markdown, saved as ``runs.csv`` and ``runs.md``);
- a table per group of runs that differ only by ``seed``: mean ± std of each metric
  (``groups.csv``, ``groups.md``);
- ``compare.png``: learning curves of the validation metric per run, and a bar chart of
  the final test metric by group (with the std across seeds).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import statistics
import sys
from pathlib import Path
from typing import Any

from recsys_pyg.records.folder import lock_held
from recsys_pyg.records.record import RecordError, read_json, read_metrics_file
from recsys_pyg.utils import flatten

IGNORED = (
    "paths.",
    "hydra.",
    "logger.",
    "protocol.",
    "tags",
    "train.progress",
    "train.num_threads",
    "train.resume",
    "dataset.path",
    "dataset.data_dir",
    "task_name",
    "optimized_metric",
)


RECORD_NAMES = ("config.json", "summary.json", "status.json", "failed.json", "metrics.jsonl")


def load_runs(root: Path) -> list[dict[str, Any]]:
    """Every run folder under ``root`` (one that holds a record file), sorted by path. A file that cannot be
    read (a torn metrics line, a truncated summary, garbage in ``status.json``) is listed under the run's
    ``problems`` with its reason; what can be read is still shown, and nothing aborts the comparison."""
    folders = sorted({p.parent for name in RECORD_NAMES for p in root.rglob(name) if p.is_file()})
    runs = [read_run(folder, root) for folder in folders]
    for run in runs:  # a fit-only model has no loss, sampler or optimiser: their defaults are not its settings
        if fit_only(run["config"].get("model._target_")):
            run["config"] = {k: v for k, v in run["config"].items() if not k.startswith(UNUSED_BY_FIT_ONLY)}
    return runs


def read_run(folder: Path, root: Path) -> dict[str, Any]:
    """One run's record as the tables use it: config (flattened), summary, status, error, history, problems."""
    problems: list[str] = []

    def read(name: str, default: Any) -> Any:
        path = folder / name
        if not path.exists():
            return default
        try:
            return read_json(path)
        except (OSError, RecordError) as err:
            problems.append(f"{name}: {reason(err, path)}")
            return default

    config, summary, recorded = read("config.json", {}), read("summary.json", {}), read("status.json", {})
    failed = read("failed.json", None)  # a sweep job that failed (maybe before it wrote its config)
    history: list[dict[str, Any]] = []
    try:
        history, torn = read_metrics_file(folder / "metrics.jsonl")
        if torn:
            problems.append(f"metrics.jsonl: {reason(RecordError(torn), folder / 'metrics.jsonl')}")
    except (OSError, RecordError) as err:
        problems.append(f"metrics.jsonl: {reason(err, folder / 'metrics.jsonl')}")
    status, error = run_status(folder, summary, recorded, failed)
    return {"run": str(folder.relative_to(root)) or ".", "config": flatten(config), "summary": summary,
            "status": status, "error": error, "history": history, "problems": problems}  # fmt: skip


def reason(err: BaseException, path: Path) -> str:
    """``err``'s message without the path it starts with (the table names the file already)."""
    return str(err).removeprefix(f"{path}: ").removeprefix(f"{path}")


def run_status(folder: Path, summary: dict[str, Any], recorded: dict[str, Any], failed: Any) -> tuple[str, str]:
    """The run's status and error as the table shows them: ``ok``, ``failed``, ``interrupted (resumable)``,
    ``running``, ``dead (not running; last status running)``, or ``unfinished``."""
    said = recorded.get("status")
    error = str(recorded.get("error") or "")
    if isinstance(failed, dict):
        return "failed", str(failed.get("error") or error or "failed.json")
    if said == "failed":
        return "failed", error
    if said == "interrupted":
        resumable = any((folder / "checkpoints" / n).is_file() for n in ("last.pt", "last.prev.pt"))
        return ("interrupted (resumable)" if resumable else "interrupted (no checkpoint to resume)"), ""
    if said == "running":
        held = lock_held(folder)
        return ("running", "") if held or held is None else ("dead (not running; last status running)", "")
    if summary:
        return "ok", ""
    return "unfinished", ""


UNUSED_BY_FIT_ONLY = ("loss.", "sampler.", "optimizer.", "scheduler.", "train.batch_size", "train.sample_batches")


def fit_only(target: Any) -> bool:
    """Whether the model class ``target`` (a ``_target_`` path) is fitted, not trained."""
    if not isinstance(target, str):
        return False
    try:
        from hydra.utils import get_class

        return bool(getattr(get_class(target), "fit_only", False))
    except Exception:  # a class this version does not have: keep every key
        return False


def varied_keys(runs: list[dict[str, Any]]) -> list[str]:
    """Config keys whose value differs between runs (bookkeeping keys left out)."""
    keys = sorted({k for r in runs for k in r["config"]})
    out = []
    for key in keys:
        if key.startswith(IGNORED):
            continue
        values = {json.dumps(r["config"].get(key), sort_keys=True, default=str) for r in runs if r["config"]}
        if len(values) > 1:
            out.append(key)
    return [k for k in out if not _follows_choice(k, out, runs)]


def _follows_choice(key: str, varied: list[str], runs: list[dict[str, Any]]) -> bool:
    """True for an option's own default (e.g. ``sampler.alpha`` when ``sampler`` varies): a key of a
    config group whose choice varies, constant among the runs that made the same choice."""
    group = key.split(".", 1)[0]
    target = f"{group}._target_"
    if key == target or target not in varied:
        return False
    seen: dict[str, set[str]] = {}
    for r in runs:
        choice = json.dumps(r["config"].get(target), default=str)
        seen.setdefault(choice, set()).add(json.dumps(r["config"].get(key), sort_keys=True, default=str))
    return all(len(v) == 1 for v in seen.values())


def short(key: str) -> str:
    """``model._target_`` -> ``model``; ``sampler.num_negatives`` stays."""
    return key[: -len("._target_")] if key.endswith("._target_") else key


def value_text(value: Any) -> str:
    if isinstance(value, str) and value.startswith("recsys_pyg."):
        return value.rsplit(".", 1)[-1]
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def fmt(value: Any) -> str:
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) >= 1 else f"{value:.4f}"
    return str(value)


def markdown(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(fmt(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def run_table(runs: list[dict[str, Any]], keys: list[str], metrics: list[str]) -> tuple[list[str], list[list[Any]]]:
    header = ["run", *map(short, keys)] + [f"{p}/{m}" for p in ("val", "test") for m in metrics]
    header += ["mostpop test/" + metrics[0], "best_epoch", "epochs", "time_s", "status"]
    rows = []
    for r in runs:
        s = r["summary"]
        row: list[Any] = [r["run"], *(value_text(r["config"].get(k, "")) for k in keys)]
        row += [s.get(f"{p}/{m}", "") for p in ("val", "test") for m in metrics]
        row += [
            s.get(f"mostpop/test/{metrics[0]}", ""),
            s.get("best_epoch", ""),
            s.get("epochs", ""),
            round(s["time"], 1) if "time" in s else "",
            status_text(r),
        ]
        rows.append(row)
    return header, rows


def status_text(run: dict[str, Any]) -> str:
    """The status column: ``failed: <error>``, ``interrupted (resumable)``, ..., then any unreadable file."""
    text = f"failed: {run['error']}" if run["status"] == "failed" and run["error"] else run["status"]
    problems = run.get("problems") or []
    return text + "".join(f"; unreadable {p}" for p in problems)


def group_table(runs: list[dict[str, Any]], keys: list[str], metrics: list[str]) -> tuple[list[str], list[list[Any]]]:
    """Mean ± std over runs that differ only by ``seed``."""
    group_keys = [k for k in keys if k != "seed"]
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for r in runs:
        if r["status"] == "ok":
            groups.setdefault(tuple(value_text(r["config"].get(k, "")) for k in group_keys), []).append(r)
    header = [*map(short, group_keys), "runs"] + [f"test/{m}" for m in metrics] + [f"val/{m}" for m in metrics]
    rows = []
    for key, members in groups.items():
        row: list[Any] = [*key, len(members)]
        for p in ("test", "val"):
            for m in metrics:
                values = [x["summary"][f"{p}/{m}"] for x in members if f"{p}/{m}" in x["summary"]]
                std = statistics.stdev(values) if len(values) > 1 else 0.0
                row.append(f"{statistics.fmean(values):.4f} ± {std:.4f}" if values else "")
        rows.append(row)
    return header, rows


def plot(runs: list[dict[str, Any]], keys: list[str], metric: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (curves, bars) = plt.subplots(1, 2, figsize=(14, 5))
    for r in runs:
        points = [(h["epoch"], h[f"val/{metric}"]) for h in r["history"] if f"val/{metric}" in h and "epoch" in h]
        if points:
            label = ", ".join(f"{short(k)}={value_text(r['config'].get(k, ''))}" for k in keys) or r["run"]
            curves.plot(*zip(*points), marker="o", markersize=3, label=label)
    curves.set(xlabel="epoch", ylabel=f"val/{metric}", title=f"validation {metric} per run")
    if curves.lines:
        curves.legend(fontsize=7)
    header, rows = group_table(runs, keys, [metric])
    names = [", ".join(str(v) for v in row[: len(header) - 3]) or "all" for row in rows]
    means = [float(row[-2].split(" ± ")[0]) if row[-2] else math.nan for row in rows]
    stds = [float(row[-2].split(" ± ")[1]) if row[-2] else 0.0 for row in rows]
    bars.bar(range(len(rows)), means, yerr=stds, capsize=4)
    bars.set_xticks(range(len(rows)), names, rotation=30, ha="right", fontsize=7)
    bars.set(ylabel=f"test/{metric}", title=f"final test {metric} by group (mean ± std over seeds)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_csv(path: Path, header: list[str], rows: list[list[Any]]) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="recsys-compare", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("root", type=Path, help="a sweep folder or any folder holding run folders")
    parser.add_argument("--metrics", default="recall@20,ndcg@20", help="comma-separated, e.g. recall@20,ndcg@20")
    parser.add_argument("--out", type=Path, default=None, help="where to write the tables and plot (default ROOT)")
    args = parser.parse_args(argv)
    if not args.root.is_dir():
        parser.error(f"{args.root} is not a folder")
    runs = load_runs(args.root)
    if not runs:
        parser.error(f"no run folders (with config.json, status.json or summary.json) under {args.root}")
    metrics = [m.strip() for m in args.metrics.split(",") if m.strip()]
    keys = varied_keys(runs)
    out = args.out or args.root
    out.mkdir(parents=True, exist_ok=True)
    header, rows = run_table(runs, keys, metrics)
    g_header, g_rows = group_table(runs, keys, metrics)
    write_csv(out / "runs.csv", header, rows)
    write_csv(out / "groups.csv", g_header, g_rows)
    (out / "runs.md").write_text(markdown(header, rows) + "\n")
    (out / "groups.md").write_text(markdown(g_header, g_rows) + "\n")
    try:
        plot(runs, keys, metrics[0], out / "compare.png")
    except Exception as err:  # a value the plot cannot draw must not cost the tables
        print(f"warning: compare.png not drawn ({type(err).__name__}: {err})", file=sys.stderr)
    print(markdown(header, rows))
    print()
    print(markdown(g_header, g_rows))
    unreadable = [(r["run"], p) for r in runs for p in r["problems"]]
    if unreadable:
        print("\nunreadable files (shown with what could be read):")
        for run, problem in unreadable:
            print(f"  {run}/{problem}")
    print(f"\nwrote {out / 'runs.csv'}, runs.md, groups.csv, groups.md, compare.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
