#!/usr/bin/env bash
# Embedding size for MF and LightGCN over three seeds.
set -euo pipefail
dir=${SWEEP_DIR:-outputs/sweeps/embedding_dim_$(date +%Y%m%d_%H%M%S)}
python -m recsys_pyg.train -m model=mf,lightgcn model.embedding_dim=16,32,64,128 seed=0,1,2 hydra.sweep.dir="$dir" "$@"
python -m recsys_pyg.compare "$dir"
