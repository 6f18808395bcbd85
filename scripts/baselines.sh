#!/usr/bin/env bash
# Every baseline on one dataset and protocol, each in its own folder, then one comparison table.
#
#   scripts/baselines.sh experiment=paper_protocol dataset.path=../shared/data/gowalla
#   BUDGET_MIN=60 ONLY="gfcf lightgcn_bpr" scripts/baselines.sh dataset=ml100k dataset.path=../shared/data/ml-100k
#
# The arguments (the dataset and its protocol) go to every run; BUDGET_MIN caps each trained model's
# training time in minutes (train.time_budget_min, evaluation excluded; default 60); ONLY picks models.
# MostPop is evaluated and reported beside every run. Results: $OUT (default outputs/baselines/<time>),
# then `python -m recsys_pyg.compare $OUT` prints and writes the table (runs.md, runs.csv, compare.png).
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
OUT=${OUT:-outputs/baselines/$(date +%Y-%m-%d_%H-%M-%S)}
BUDGET_MIN=${BUDGET_MIN:-60}
# the protocol may come as an experiment preset: the model's preset is listed after it
protocol=() experiment=()
for arg in "$@"; do
  case "$arg" in experiment=*) experiment+=("${arg#experiment=}") ;; *) protocol+=("$arg") ;; esac
done
declare -A MODELS=(
  [itemknn]="model=itemknn" [ease]="model=ease" [gfcf]="model=gfcf"
  [mf_bpr]="mf_bpr" [simplex]="mf_ccl" [lightgcn_bpr]="lightgcn_bpr" [lightgcn_softmax]="lightgcn_softmax"
  [simgcl]="simgcl" [xsimgcl]="xsimgcl" [directau]="directau"
)
ORDER="itemknn ease gfcf mf_bpr simplex lightgcn_bpr lightgcn_softmax simgcl xsimgcl directau"
for name in ${ONLY:-$ORDER}; do
  spec=${MODELS[$name]}
  if [[ $spec == model=* ]]; then  # fit-only: no preset, the protocol's experiment alone
    presets=("${experiment[@]}") extra=("$spec")
  else
    presets=("${experiment[@]}" "$spec") extra=()
  fi
  list=$(IFS=,; echo "${presets[*]}")
  echo "== $name" >&2
  "$PY" -m recsys_pyg.train ${list:+"experiment=[$list]"} "${extra[@]}" "${protocol[@]}" \
    "train.time_budget_min=$BUDGET_MIN" "hydra.run.dir=$OUT/$name" || echo "$name failed" >&2
done
"$PY" -m recsys_pyg.compare "$OUT"
