"""Recommender models: each gives user and item embeddings scored by a dot product."""

from recsys_pyg.models.lightgcn import LightGCN
from recsys_pyg.models.lightgcn_conv import LightGCNConv
from recsys_pyg.models.mf import MF

__all__ = ["MF", "LightGCN", "LightGCNConv"]
