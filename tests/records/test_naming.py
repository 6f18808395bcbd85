"""A sweep's runs are named by what the sweep varies."""

from __future__ import annotations

from omegaconf import OmegaConf

from recsys_pyg.records.naming import swept_keys


def write_multirun(folder, task: list[str]) -> None:
    OmegaConf.save(OmegaConf.create({"hydra": {"overrides": {"task": task}}}), folder / "multirun.yaml")


def test_swept_keys_are_the_overrides_with_several_values(tmp_path):
    write_multirun(tmp_path, ["debug=default", "model=mf,lightgcn", "seed=range(3)", "+train.x=1,2", "train.epochs=5",
                              "loss=choice(bpr,softmax)", "model.num_layers=[1,2]"])  # fmt: skip
    assert swept_keys(tmp_path) == {"model", "seed", "train.x", "loss"}  # a list value is one value, not a sweep


def test_without_a_readable_sweep_every_override_names_the_run(tmp_path):
    assert swept_keys(tmp_path) == set()  # no multirun.yaml
    write_multirun(tmp_path, ["hparams_search=lightgcn_optuna"])  # Optuna picks the values itself
    assert swept_keys(tmp_path) == set()
