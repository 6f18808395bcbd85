"""Negative samplers: given a batch of positives, items to contrast them with."""

from recsys_pyg.samplers.curriculum import CurriculumSampler
from recsys_pyg.samplers.in_batch import InBatchSampler
from recsys_pyg.samplers.negatives import Negatives
from recsys_pyg.samplers.popularity import PopularitySampler
from recsys_pyg.samplers.ppr import PPRHardSampler, personalized_pagerank
from recsys_pyg.samplers.shared import SharedSampler
from recsys_pyg.samplers.uniform import UniformSampler

__all__ = [
    "CurriculumSampler",
    "InBatchSampler",
    "Negatives",
    "PPRHardSampler",
    "PopularitySampler",
    "SharedSampler",
    "UniformSampler",
    "personalized_pagerank",
]
