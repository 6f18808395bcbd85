#!/usr/bin/env bash
# The cold-start measurements of README "Cold-start items": on one dataset (the arguments after the name), one run at
# a time, one thread each, every model chosen on validation by scripts/cold_start_table.py OUT:
#   inductive PinSAGE (on val/cold/recall@20): id_embedding false | dropout with
#     bpr     BPR, uniform negatives among training items, lr 0.001 | 0.005
#     bpr_cd  the same with cold_dropout 0.3 (a batch item embedded as a cold one: DropoutNet's input dropout), lr 0.001
#     cos_cd  in-batch negatives, cosine softmax (tau 0.1), the popularity prior at ranking (eval_popularity = tau:
#             in-batch negatives' logQ correction applied at inference), cold_dropout 0.3, lr 0.001
#   ID PinSAGE (on val/warm/recall@20): bpr and cos (as above, no cold_dropout), lr 0.001 | 0.005
#   LightGCN (on val/warm/recall@20): bpr, lr 0.001 | 0.005
# Content-only, random and MostPop come with every run (summary.json).
#   scripts/cold_start_sweep.sh synthetic
#   scripts/cold_start_sweep.sh ml100k dataset=ml100k dataset.path=../shared/data/ml-100k
set -euo pipefail
name=$1; shift
out=${OUT:-outputs/cold_start}/$name
epochs=${EPOCHS:-60}            # PinSAGE; LightGCN (seconds per epoch) gets LIGHTGCN_EPOCHS
common=(dataset/split=cold_items logger=none train.num_threads=1 train.progress=false train.eval_every=5
        train.patience=3 "$@")
# sampler.only_seen_items: the held-out items do not exist at training time, not even as negatives (in-batch
# negatives are training positives: never a held-out item)
bpr=(loss=bpr sampler=uniform sampler.only_seen_items=true)
cos=(loss=softmax loss.similarity=cosine loss.temperature=0.1 loss.eval_popularity=0.1 sampler=in_batch)
py=${PYTHON:-python}
sweep() {  # sweep <folder> <overrides...>: one Hydra multirun into $out/<folder>/<job>
  local folder=$1; shift
  $py -m recsys_pyg.train -m "${common[@]}" "$@" hydra.sweep.dir="$out/$folder" 'hydra.sweep.subdir=${hydra.job.num}'
}
ind=(model=pinsage model.id_embedding=false,dropout train.epochs=$epochs train.monitor=val/cold/recall@20)
sweep inductive/bpr "${ind[@]}" "${bpr[@]}" optimizer.lr=0.001,0.005
sweep inductive/bpr_cd "${ind[@]}" "${bpr[@]}" model.cold_dropout=0.3 optimizer.lr=0.001
sweep inductive/cos_cd "${ind[@]}" "${cos[@]}" model.cold_dropout=0.3 optimizer.lr=0.001
idp=(model=pinsage model.id_embedding=true train.epochs=$epochs train.monitor=val/warm/recall@20 optimizer.lr=0.001,0.005)
sweep id_pinsage/bpr "${idp[@]}" "${bpr[@]}"
sweep id_pinsage/cos "${idp[@]}" "${cos[@]}"
sweep lightgcn/bpr model=lightgcn optimizer.lr=0.001,0.005 train.epochs=${LIGHTGCN_EPOCHS:-300} \
    train.monitor=val/warm/recall@20 "${bpr[@]}"
