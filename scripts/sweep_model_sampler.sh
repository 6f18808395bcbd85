#!/usr/bin/env bash
# Models x samplers x seeds on one dataset, then the comparison table and plot.
#   scripts/sweep_model_sampler.sh [extra overrides, e.g. dataset=ml100k dataset.path=~/ml-100k]
set -euo pipefail
dir=${SWEEP_DIR:-outputs/sweeps/model_sampler_$(date +%Y%m%d_%H%M%S)}
python -m recsys_pyg.train -m model=mf,lightgcn,ngcf sampler=uniform,ppr_hard seed=0,1,2 \
  hydra.sweep.dir="$dir" "$@"
python -m recsys_pyg.compare "$dir"
