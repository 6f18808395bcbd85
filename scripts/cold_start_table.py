"""The cold-start table from scripts/cold_start_sweep.sh's runs: each model chosen on validation.

    python scripts/cold_start_table.py outputs/cold_start/synthetic

For each sweep folder (inductive, id_pinsage, lightgcn) the job with the best validation value of its
monitor (the run's ``train.monitor``) is kept; its test cold/warm Recall@20 and NDCG@20 are printed, then
the baselines every run records (content-only, random; MostPop on warm items only).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

METRICS = ("recall@20", "ndcg@20")


def jobs(folder: Path) -> list[tuple[dict, dict]]:
    found = []
    for summary in sorted(folder.rglob("summary.json")):  # job folders may nest (a "/" in an override)
        config = json.loads((summary.parent / "config.json").read_text())
        found.append((config, json.loads(summary.read_text())))
    return found


def setting(config: dict) -> str:
    """What a job varies: loss (with its negatives), learning rate, and PinSAGE's id_embedding / cold_dropout."""
    loss = config["loss"]["_target_"].rsplit(".", 1)[-1].removesuffix("Loss").lower()
    sampler = config["sampler"]["_target_"].rsplit(".", 1)[-1].removesuffix("Sampler")
    parts = [f"{loss} ({sampler}" + (f", {config['loss']['similarity']}" if config["loss"].get("similarity") else "")
             + (f", popularity {config['loss']['eval_popularity']}" if config["loss"].get("eval_popularity") else "")
             + ")", f"lr {config['optimizer']['lr']}"]  # fmt: skip
    model = config["model"]
    if "id_embedding" in model:
        parts.append(f"id_embedding={model['id_embedding']}")
    if model.get("cold_dropout"):
        parts.append(f"cold_dropout={model['cold_dropout']}")
    return ", ".join(parts)


def cell(summary: dict, key: str) -> str:
    value = summary.get(key)
    return "—" if value is None else f"{value:.4f}"


def main(root: str) -> None:
    rows = ["| model (chosen on) | setting | val | cold R@20 | cold N@20 | warm R@20 | warm N@20 |",
            "|---|---|---:|---:|---:|---:|---:|"]  # fmt: skip
    baseline = None
    for name in ("inductive", "id_pinsage", "lightgcn"):
        found = jobs(Path(root) / name)
        if not found:
            continue
        monitor = found[0][0]["train"]["monitor"]
        config, best = max(found, key=lambda job: job[1].get(monitor, float("-inf")))
        baseline = baseline or best
        cold = [cell(best, f"test/cold/{m}") if best.get("test/cold/scored") else "cannot" for m in METRICS]
        warm = [cell(best, f"test/warm/{m}") for m in METRICS]
        rows.append(f"| {name} ({monitor}) | {setting(config)} | {cell(best, monitor)} | {' | '.join(cold)} | "
                    f"{' | '.join(warm)} |")  # fmt: skip
        for other_config, other in found:  # every job of the sweep, for the record
            print(f"  {name}: {setting(other_config)}: {monitor}={cell(other, monitor)} "
                  f"test/cold/recall@20={cell(other, 'test/cold/recall@20')} "
                  f"test/warm/recall@20={cell(other, 'test/warm/recall@20')}", file=sys.stderr)  # fmt: skip
    if baseline is not None:
        for name in ("content", "random", "mostpop"):
            cold = [cell(baseline, f"{name}/test/cold/{m}") if name != "mostpop" else "cannot" for m in METRICS]
            warm = [cell(baseline, f"{name}/test/warm/{m}") for m in METRICS]
            rows.append(f"| {name} | — | — | {' | '.join(cold)} | {' | '.join(warm)} |")
    print("\n".join(rows))


if __name__ == "__main__":
    main(sys.argv[1])
