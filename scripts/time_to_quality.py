"""Time to quality: test Recall@20 / NDCG@20 against minutes of training, configs side by side.

    python scripts/time_to_quality.py --budget-min 60 --every-min 6 --jobs 2 \
        --config paper="experiment=lightgcn_paper" \
        --config fast="experiment=[paper_protocol,gowalla_fast_lightgcn]" \
        -- dataset.path=../shared/data/gowalla train.num_threads=1
    make ttq ARGS="--budget-min 10 --every-min 2 -- dataset=ml100k dataset.path=../shared/data/ml-100k"

Each config is one ordinary run of ``python -m recsys_pyg.train`` (its own record and W&B run) with
``train.time_budget_min`` (training time; evaluation excluded), ``train.eval_every_min`` (validation at
the first epoch end past every multiple of that many training minutes: epochs are not cut, so a point
lands at the end of the epoch that crosses it, its real training time reported) and
``train.test_curve=true`` (the current weights tested at every validation; selection never sees it).
The arguments after ``--`` go to every config (the dataset and its protocol), before the config's own.
Training stops only on the budget (``train.patience=0``), unless a config sets otherwise. ``--jobs N``
trains N configs at once (give each ``train.num_threads`` so that they share the cores alike; each
one's output then goes to ``<out>/<name>.out``).

Writes ``<out>/<name>/`` (the run), ``<out>/<name>.csv`` (one row per evaluation: training minutes,
epoch, test and validation metrics, the evaluation's seconds and the cumulative share of wall time
spent evaluating), ``<out>/curves.png`` (test Recall@20 against training minutes, every config), and
``<out>/ttq.md`` (the table at each point, with peak memory per config); prints the table.
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIELDS = ["train_min", "epoch", "test_recall@20", "test_ndcg@20", "val_recall@20", "eval_s", "eval_share"]


def parse_config(spec: str) -> tuple[str, list[str]]:
    """``name=override override ...`` -> (name, overrides)."""
    name, sep, rest = spec.partition("=")
    overrides = rest.split()
    if not sep or not name.isidentifier() or not overrides or not all("=" in o or o.startswith("~") for o in overrides):
        example = "paper=experiment=lightgcn_paper"
        raise SystemExit(f'--config {spec!r}: expected NAME="override override ...", e.g. {example}')
    return name, rest.split()


def command(name: str, overrides: list[str], common: list[str], args: argparse.Namespace) -> list[str]:
    """The ``python -m recsys_pyg.train`` command line of one config (its own folder under ``--out``)."""
    return [
        sys.executable, "-m", "recsys_pyg.train", *overrides, *common,
        f"train.time_budget_min={args.budget_min}", f"train.eval_every_min={args.every_min}",
        "train.test_curve=true", "train.epochs=100000", "train.eval_every=100000",
        *([] if any(o.startswith("train.patience=") for o in overrides + common) else ["train.patience=0"]),
        f"hydra.run.dir={args.out / name}", "train.overwrite=true",
    ]  # fmt: skip


def run_configs(configs: dict[str, list[str]], common: list[str], args: argparse.Namespace) -> None:
    """Train every config, each its own process (its own folder, its own peak memory), ``--jobs`` at a
    time side by side: configs compared on one machine should share it alike."""

    def run(name: str, overrides: list[str]) -> None:
        cmd = command(name, overrides, common, args)
        print(f"== {name}: {' '.join(cmd[3:])}", flush=True)
        started = time.time()
        if args.jobs == 1:
            code = subprocess.call(cmd, cwd=ROOT)
        else:  # interleaved output is unreadable: each its own file
            with (args.out / f"{name}.out").open("w") as log:
                code = subprocess.call(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        print(f"== {name}: exit {code} after {(time.time() - started) / 60:.1f} min", flush=True)

    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        list(pool.map(run, configs, configs.values()))


def curve(folder: Path) -> list[dict[str, float]]:
    """One row per evaluation of a run, from its ``metrics.jsonl``."""
    path = folder / "metrics.jsonl"
    if not path.exists():
        return []
    lines = [json.loads(x) for x in path.read_text().splitlines() if x.strip()]
    rows, evaluating, started = [], 0.0, None
    for line in lines:
        started = line["time"] if started is None else started
        if "curve/test/recall@20" not in line:
            continue
        evaluating += line["eval/time"]
        wall = line["time"] - started  # the record's clock: training, evaluation and the rest so far
        rows.append({
            "train_min": line["train/time"] / 60, "epoch": line["step"],
            "test_recall@20": line["curve/test/recall@20"], "test_ndcg@20": line["curve/test/ndcg@20"],
            "val_recall@20": line.get("val/recall@20"), "eval_s": line["eval/time"],
            "eval_share": evaluating / wall if wall > 0 else float("nan"),
        })  # fmt: skip
    return rows


def write_csv(rows: list[dict[str, float]], path: Path) -> None:
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=FIELDS)
        writer.writeheader()
        writer.writerows(rows)


def table(curves: dict[str, list[dict[str, float]]], peaks: dict[str, float | None]) -> str:
    """Markdown: test Recall@20 (training minutes, epoch) at each evaluation, one column per config."""
    names = list(curves)
    depth = max((len(c) for c in curves.values()), default=0)
    lines = ["| point | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
    for i in range(depth):
        cells = []
        for name in names:
            row = curves[name][i] if i < len(curves[name]) else None
            where = "" if row is None else f" ({row['train_min']:.1f} min, ep {row['epoch']})"
            cells.append("" if row is None else f"{row['test_recall@20']:.4f}{where}")
        lines.append(f"| {i + 1} | " + " | ".join(cells) + " |")
    lines.append("| eval share of wall time | " + " | ".join(
        f"{curves[n][-1]['eval_share']:.2f}" if curves[n] else "" for n in names) + " |")  # fmt: skip
    peak = ["" if peaks[n] is None else f"{peaks[n]:.0f}" for n in names]
    lines.append("| peak RSS (MiB) | " + " | ".join(peak) + " |")
    return "\n".join(lines)


def plot(curves: dict[str, list[dict[str, float]]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, rows in curves.items():
        if rows:
            ax.plot([r["train_min"] for r in rows], [r["test_recall@20"] for r in rows], marker="o", label=name)
    ax.set_xlabel("training time (min, evaluation excluded)")
    ax.set_ylabel("test Recall@20")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    common = argv[argv.index("--") + 1 :] if "--" in argv else []
    own = argv[: argv.index("--")] if "--" in argv else argv
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", action="append", required=True, help='NAME="override ..." (repeat per config)')
    parser.add_argument("--budget-min", type=float, default=60.0, help="training minutes per config")
    parser.add_argument("--every-min", type=float, default=5.0, help="training minutes between evaluations")
    parser.add_argument("--jobs", type=int, default=1, help="configs trained at once, side by side")
    parser.add_argument("--out", type=Path, default=Path("outputs/ttq") / time.strftime("%Y-%m-%d_%H-%M-%S"))
    args = parser.parse_args(own)
    if args.budget_min <= 0 or args.every_min <= 0 or args.jobs < 1:
        parser.error("--budget-min and --every-min must be > 0, --jobs >= 1")
    configs = dict(parse_config(c) for c in args.config)
    args.out = args.out.resolve()
    args.out.mkdir(parents=True, exist_ok=True)
    run_configs(configs, common, args)
    curves, peaks = {}, {}
    for name in configs:
        folder = args.out / name
        curves[name] = curve(folder)
        summary = folder / "summary.json"
        peaks[name] = json.loads(summary.read_text()).get("peak_rss_mib") if summary.exists() else None
        write_csv(curves[name], args.out / f"{name}.csv")
    text = table(curves, peaks)
    (args.out / "ttq.md").write_text(text + "\n")
    plot(curves, args.out / "curves.png")
    print(text)
    print(f"\n{args.out}: ttq.md, curves.png, one CSV and one run folder per config")
    if not all(curves.values()):
        raise SystemExit(f"no curve for {[n for n, c in curves.items() if not c]}: see their run folders")


if __name__ == "__main__":
    main()
