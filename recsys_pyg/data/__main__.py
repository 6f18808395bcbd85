"""``python -m recsys_pyg.data [overrides]`` (console script ``recsys-data``): a dataset's statistics and checks.

Takes the same overrides as training, e.g. ``recsys-data dataset=ml100k dataset.path=~/ml-100k
dataset/split=leave_one_out``. Exits 1 when a check fails.
"""

from __future__ import annotations

import sys
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

from recsys_pyg.data.report import check, report

CONF = Path(__file__).resolve().parents[2] / "conf"


def main(argv: list[str] | None = None) -> int:
    overrides = sys.argv[1:] if argv is None else argv
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("config", overrides=overrides)
    data = instantiate(cfg.dataset)
    print(report(data))
    problems = check(data)
    for problem in problems:
        print(f"CHECK FAILED: {problem}")
    if not problems:
        print("checks passed: no pair in two parts, every id in range")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
