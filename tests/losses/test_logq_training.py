"""The log-Q correction earns its place: with popularity-drawn negatives, plain sampled softmax pushes
popular items down (they are drawn often) while the corrected one learns the full softmax's ranking."""

from __future__ import annotations

from recsys_pyg.train import train
from tests.helpers.configs import DATA

RUN = [*DATA, "model=mf", "sampler=popularity", "sampler.num_negatives=32", "sampler.beta=1.0", "optimizer.lr=0.005",
       "train.epochs=20", "train.eval_every=10", "train.batch_size=1024", "train.checkpoint_every=0"]  # fmt: skip


def test_logq_softmax_beats_plain_softmax_with_popularity_negatives(cfg_factory, tmp_path):
    plain = train(cfg_factory(*RUN, "loss=softmax", f"paths.data_dir={tmp_path / 'c'}"))
    corrected = train(cfg_factory(*RUN, "loss=logq_softmax", f"paths.data_dir={tmp_path / 'c'}"))
    print(f"test recall@20: softmax {plain['test/recall@20']:.4f}, logq_softmax {corrected['test/recall@20']:.4f}, "
          f"MostPop {plain['mostpop/test/recall@20']:.4f}")  # fmt: skip
    assert corrected["test/recall@20"] > 1.1 * plain["test/recall@20"]
    assert corrected["test/recall@20"] > corrected["mostpop/test/recall@20"]
