"""Helpers live with their kind: data and samplers never reach up into the run record or training."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "recsys_pyg"
FORBIDDEN = ("recsys_pyg.run_record", "recsys_pyg.records", "recsys_pyg.train", "recsys_pyg.training",
             "recsys_pyg.checkpoint")  # fmt: skip


def imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


@pytest.mark.parametrize("path", sorted((PACKAGE / "data").glob("*.py")) + sorted((PACKAGE / "samplers").glob("*.py")),
                         ids=lambda p: f"{p.parent.name}/{p.name}")  # fmt: skip
def test_data_and_samplers_do_not_import_the_run_record_or_training(path):
    bad = sorted(m for m in imports(path) if m.startswith(FORBIDDEN))
    assert not bad, f"{path.relative_to(PACKAGE.parent)} imports {bad}"
