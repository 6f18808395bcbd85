#!/usr/bin/env bash
# The cold-start measurements of README "Cold-start items": on one dataset (the arguments after the name),
# inductive PinSAGE (id_embedding false | dropout x lr, chosen on val/cold/recall@20), ID PinSAGE and
# LightGCN (lr, chosen on val/warm/recall@20), one run at a time, one thread each; content-only, random and
# MostPop come with every run (summary.json). Then scripts/cold_start_table.py OUT prints the table.
#   scripts/cold_start_sweep.sh synthetic
#   scripts/cold_start_sweep.sh ml100k dataset=ml100k dataset.path=../shared/data/ml-100k
set -euo pipefail
name=$1; shift
out=${OUT:-outputs/cold_start}/$name
epochs=${EPOCHS:-60}            # PinSAGE; LightGCN (seconds per epoch) gets LIGHTGCN_EPOCHS
# sampler.only_seen_items: the held-out items do not exist at training time, not even as negatives
common=(dataset/split=cold_items sampler.only_seen_items=true logger=none train.num_threads=1 train.progress=false
        train.eval_every=5 train.patience=3 "$@")
py=${PYTHON:-python}
$py -m recsys_pyg.train -m "${common[@]}" model=pinsage model.id_embedding=false,dropout optimizer.lr=0.001,0.005 train.epochs=$epochs \
    train.monitor=val/cold/recall@20 hydra.sweep.dir="$out/inductive" 'hydra.sweep.subdir=${hydra.job.num}'
$py -m recsys_pyg.train -m "${common[@]}" model=pinsage model.id_embedding=true optimizer.lr=0.001,0.005 train.epochs=$epochs \
    train.monitor=val/warm/recall@20 hydra.sweep.dir="$out/id_pinsage" 'hydra.sweep.subdir=${hydra.job.num}'
$py -m recsys_pyg.train -m "${common[@]}" model=lightgcn optimizer.lr=0.001,0.005 train.epochs=${LIGHTGCN_EPOCHS:-300} \
    train.monitor=val/warm/recall@20 hydra.sweep.dir="$out/lightgcn" 'hydra.sweep.subdir=${hydra.job.num}'
