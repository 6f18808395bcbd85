"""Recommender models: each gives user and item embeddings scored by a dot product."""

from recsys_pyg.models.lightgcn import LightGCN
from recsys_pyg.models.lightgcn_conv import LightGCNConv
from recsys_pyg.models.mean_concat_conv import MeanConcatConv
from recsys_pyg.models.mf import MF
from recsys_pyg.models.ngcf import NGCF
from recsys_pyg.models.ngcf_conv import NGCFConv
from recsys_pyg.models.pinsage import PinSAGE
from recsys_pyg.models.pinsage_conv import PinSAGEConv

__all__ = ["MF", "LightGCN", "LightGCNConv", "MeanConcatConv", "NGCF", "NGCFConv", "PinSAGE", "PinSAGEConv"]
