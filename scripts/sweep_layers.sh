#!/usr/bin/env bash
# LightGCN depth 1-4 (and MF as K=0) over three seeds.
set -euo pipefail
dir=${SWEEP_DIR:-outputs/sweeps/layers_$(date +%Y%m%d_%H%M%S)}
python -m recsys_pyg.train -m model=lightgcn model.num_layers=1,2,3,4 seed=0,1,2 hydra.sweep.dir="$dir" "$@"
python -m recsys_pyg.compare "$dir"
