#!/usr/bin/env bash
# LightGCN with every negative sampler and BPR vs sampled softmax (the samplers study).
set -euo pipefail
dir=${SWEEP_DIR:-outputs/sweeps/samplers_losses_$(date +%Y%m%d_%H%M%S)}
python -m recsys_pyg.train -m model=lightgcn sampler=uniform,shared,ppr_hard,curriculum loss=bpr,softmax seed=0 \
  hydra.sweep.dir="$dir" "$@"
python -m recsys_pyg.compare "$dir"
