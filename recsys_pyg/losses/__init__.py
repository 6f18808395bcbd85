"""Losses: functions of scores (:mod:`.functional`), modules scoring a :class:`ScoredBatch`
(:mod:`.ranking`, :mod:`.contrastive`), and the objective that adds the L2 penalty (:mod:`.objective`).

Configs name the defining module (``recsys_pyg.losses.ranking.BPRLoss``); :func:`build_loss` builds one.
"""

from recsys_pyg.losses.batch import ScoredBatch
from recsys_pyg.losses.contrastive import CCLLoss, DirectAULoss
from recsys_pyg.losses.functional import (
    alignment,
    binary_loss,
    bpr_loss,
    bsl_loss,
    ccl_loss,
    info_nce,
    logq_softmax_loss,
    margin_loss,
    softmax_loss,
    uniformity,
)
from recsys_pyg.losses.objective import Objective, build_loss, check_sampler_for
from recsys_pyg.losses.ranking import BinaryLoss, BPRLoss, BSLLoss, LogQSoftmaxLoss, MarginLoss, SoftmaxLoss

__all__ = [
    "BPRLoss",
    "BSLLoss",
    "BinaryLoss",
    "CCLLoss",
    "DirectAULoss",
    "LogQSoftmaxLoss",
    "MarginLoss",
    "Objective",
    "ScoredBatch",
    "SoftmaxLoss",
    "alignment",
    "binary_loss",
    "bpr_loss",
    "bsl_loss",
    "build_loss",
    "ccl_loss",
    "check_sampler_for",
    "info_nce",
    "logq_softmax_loss",
    "margin_loss",
    "softmax_loss",
    "uniformity",
]
