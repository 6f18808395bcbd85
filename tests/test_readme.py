"""The README is true to the code: every option under conf/<group>/ is documented there."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.configs import CONF

README = (Path(CONF).parent / "README.md").read_text()
GROUPS = ["dataset", "dataset/split", "dataset/features", "model", "sampler", "loss", "optimizer", "scheduler", "eval",
          "logger", "experiment", "debug", "hparams_search", "hydra/launcher"]  # fmt: skip


def options() -> list[tuple[str, str]]:
    return [(g, p.stem) for g in GROUPS for p in sorted((Path(CONF) / g).glob("*.yaml"))]


@pytest.mark.parametrize("group,option", options(), ids=lambda x: x)
def test_every_config_option_is_in_the_readme(group, option):
    assert f"`{option}`" in README or f"{group}={option}" in README, (
        f"conf/{group}/{option}.yaml is not documented in README.md: add it to the table of `{group}` options"
    )


def test_the_groups_are_all_checked():
    groups = {str(p.parent.relative_to(CONF)) for p in Path(CONF).rglob("*.yaml") if p.parent != Path(CONF)}
    assert groups <= set(GROUPS) | {"hydra", "paths"}, groups - set(GROUPS)
