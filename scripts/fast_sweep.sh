#!/usr/bin/env bash
# The validation sweep behind experiment=gowalla_fast_lightgcn: trained presets on Gowalla compared by
# validation Recall@20 after the same minutes of training (one thread each, two processes side by side),
# never on test. dataset=gowalla carves its validation part from train (val_fraction 0.1, seed 0).
#
#   scripts/fast_sweep.sh dataset.path=../shared/data/gowalla
#   BUDGET_MIN=15 scripts/fast_sweep.sh dataset.path=../shared/data/gowalla
#
# Then `python -m recsys_pyg.compare $OUT/train/multiruns` lists every run with its val/recall@20.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
OUT=${OUT:-outputs/sweeps/$(date +%Y-%m-%d_%H-%M-%S)}
BUDGET_MIN=${BUDGET_MIN:-8}
common=(dataset=gowalla "train.time_budget_min=$BUDGET_MIN" "train.eval_every_min=$(( (BUDGET_MIN + 1) / 2 ))"
  train.eval_every=1000 train.patience=0 train.num_threads=1 train.progress=false train.checkpoint_every=0
  "paths.log_dir=$OUT" "$@")
export OMP_NUM_THREADS=1
(  # LightGCN + sampled softmax (256 shared negatives): learning rate, then batch size
  "$PY" -m recsys_pyg.train -m experiment=lightgcn_softmax optimizer.lr=1e-3,5e-3 "${common[@]}"
  "$PY" -m recsys_pyg.train -m experiment=lightgcn_softmax train.batch_size=8192 optimizer.lr=5e-3,1e-2 "${common[@]}"
) &
(  # MF with SimpleX's CCL (1000 shared negatives), and MF + sampled softmax
  "$PY" -m recsys_pyg.train -m experiment=mf_ccl optimizer.lr=1e-3,5e-3 "${common[@]}"
  "$PY" -m recsys_pyg.train -m model=mf loss=softmax sampler=shared optimizer.lr=5e-3,1e-2 "${common[@]}"
) &
wait
