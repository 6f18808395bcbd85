import re
from pathlib import Path

import pytest
import torch
from hydra.errors import MissingConfigException
from hydra.utils import instantiate
from omegaconf import OmegaConf

from recsys_pyg.contracts import is_fit_only
from recsys_pyg.data import RecDataset
from recsys_pyg.losses import build_loss
from recsys_pyg.train import train
from recsys_pyg.training import check_config
from recsys_pyg.training.schedules import step_schedule
from recsys_pyg.utils import flatten
from tests.helpers.configs import CONF

TINY = ["dataset.source.num_users=60", "dataset.source.num_items=80", "dataset.source.num_interactions=900"]
GROUPS = ["model", "sampler", "loss", "optimizer", "scheduler", "eval", "logger", "dataset/split"]


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (Path(CONF) / group).glob("*.yaml"))


@pytest.mark.parametrize("name", options("dataset"))
def test_every_dataset_composes(cfg_factory, name):
    """Real datasets need files (tested in test_datasets.py); here: each composes into a prepare_dataset call."""
    cfg = cfg_factory(f"dataset={name}")
    assert cfg.dataset._target_ == "recsys_pyg.data.dataset.prepare_dataset" and cfg.dataset.name == name
    assert cfg.dataset.source._target_.startswith("recsys_pyg.data.")
    if name not in ("synthetic", "interactions"):  # downloadable, with a pinned checksum or a logged one
        assert cfg.dataset.download.get("url") or cfg.dataset.download.get("files")


@pytest.mark.parametrize("group,option", [(g, o) for g in GROUPS for o in options(g)])
def test_every_group_option_composes_and_instantiates(cfg_factory, group, option):
    cfg = cfg_factory(f"{group}={option}", *TINY)
    data = instantiate(cfg.dataset)
    assert isinstance(data, RecDataset)
    model = instantiate(cfg.model)(num_users=data.num_users, num_items=data.num_items)
    assert isinstance(model, torch.nn.Module)
    users = data.graph.user[:4]
    neg = instantiate(cfg.sampler)(graph=data.graph).sample(users, data.graph.item[:4], 1)
    assert neg.full_mask(4) is None or neg.full_mask(4).shape[0] == 4
    if is_fit_only(model):  # fitted, not optimised: no parameters
        assert not list(model.parameters())
        return
    optimizer = instantiate(cfg.optimizer)(params=model.parameters())
    if cfg.get("scheduler"):
        step_schedule(instantiate(cfg.scheduler)(optimizer=optimizer), {"val/recall@20": 0.1}, "val/recall@20", 0.0)
    instantiate(cfg.eval)
    assert build_loss(cfg.loss).l2_weight == cfg.loss.get("l2_weight", 0.0)
    if group == "logger" and option == "none":
        assert cfg.logger._target_ is None


@pytest.mark.parametrize(
    "preset", [f"experiment={o}" for o in options("experiment")] + [f"debug={o}" for o in options("debug")]
)
def test_presets_compose(cfg_factory, preset):
    """Each preset composes into a valid config that holds every value the preset file sets, and the
    values of a preset it includes (``experiment/lightgcn_paper`` includes ``paper_protocol``) unless it sets them."""
    cfg = cfg_factory(preset)
    check_config(cfg)
    group, name = preset.split("=")
    for key, value in preset_values(group, name).items():
        assert OmegaConf.select(cfg, key) == value, (preset, key)


def preset_values(group: str, name: str) -> dict:
    """Every value a preset sets (its included presets' first, so its own win), each group it overrides
    checked to hold that option's ``_target_`` under the key ``"<group>._target_"``."""
    spec = OmegaConf.load(Path(CONF) / group / f"{name}.yaml")
    values = {}
    for entry in spec.get("defaults", []):
        if isinstance(entry, str):  # another preset of the same group
            values.update(preset_values(group, entry))
            continue
        for key, option in entry.items():  # e.g. "override /model": "lightgcn"
            chosen = key.split("/", 1)[1]
            want = OmegaConf.load(Path(CONF) / chosen / f"{option}.yaml").get("_target_")
            values[chosen.replace("/", ".") + "._target_"] = want
    own = flatten(OmegaConf.to_container(spec, resolve=False))
    own = {k: v for k, v in own.items() if not k.startswith("defaults")}
    assert own, f"{group}/{name} sets nothing"
    return {**values, **own}


def test_unknown_names_list_the_valid_ones(cfg_factory):
    with pytest.raises(MissingConfigException) as err:
        cfg_factory("model=nope")
    assert "lightgcn" in str(err.value) and "mf" in str(err.value)
    with pytest.raises(MissingConfigException) as err:
        cfg_factory("dataset=nope")
    assert "synthetic" in str(err.value)


@pytest.mark.parametrize(
    "override,message",
    [
        ("eval.ks=[0,20]", "eval.ks (every K) must be a positive integer"),
        ("model.embedding_dim=0", "embedding_dim must be a positive integer"),
        ("train.epochs=0", "train.epochs must be a positive integer"),
        ("train.monitor=val/recall@7", "train.monitor=val/recall@7 is not a validation metric"),
        ("dataset.source.num_interactions=10", "num_interactions=10 is impossible"),
    ],
)
def test_impossible_values_say_what_is_wrong(cfg_factory, override, message):
    cfg = cfg_factory(*TINY, override)
    with pytest.raises(ValueError, match=re.escape(message)):
        train(cfg)
