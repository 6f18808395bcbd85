#!/usr/bin/env bash
# Negatives per positive with BPR and sampled softmax.
set -euo pipefail
dir=${SWEEP_DIR:-outputs/sweeps/negatives_$(date +%Y%m%d_%H%M%S)}
python -m recsys_pyg.train -m model=lightgcn loss=bpr,softmax sampler.num_negatives=1,4,16,64 seed=0,1,2 \
  hydra.sweep.dir="$dir" "$@"
python -m recsys_pyg.compare "$dir"
