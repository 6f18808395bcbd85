"""Negative samplers: given a batch of positives, items to contrast them with."""

from recsys_pyg.samplers.negatives import Negatives
from recsys_pyg.samplers.uniform import UniformSampler

__all__ = ["Negatives", "UniformSampler"]
