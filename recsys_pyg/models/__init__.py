"""Recommender models: embedding models scored by a dot product; fit-only models (EASE, graph filters) score."""

from recsys_pyg.models.bspm import BSPM
from recsys_pyg.models.chebycf import ChebyCF
from recsys_pyg.models.ease import EASE
from recsys_pyg.models.gfcf import GFCF
from recsys_pyg.models.lightgcn import LightGCN
from recsys_pyg.models.lightgcn_conv import LightGCNConv
from recsys_pyg.models.mean_concat_conv import MeanConcatConv
from recsys_pyg.models.mf import MF
from recsys_pyg.models.ngcf import NGCF
from recsys_pyg.models.ngcf_conv import NGCFConv
from recsys_pyg.models.pinsage import PinSAGE
from recsys_pyg.models.pinsage_conv import PinSAGEConv
from recsys_pyg.models.simgcl import SimGCL
from recsys_pyg.models.simplex import SimpleX
from recsys_pyg.models.turbocf import TurboCF
from recsys_pyg.models.xsimgcl import XSimGCL

__all__ = [
    "BSPM",
    "ChebyCF",
    "EASE",
    "GFCF",
    "MF",
    "LightGCN",
    "LightGCNConv",
    "MeanConcatConv",
    "NGCF",
    "NGCFConv",
    "PinSAGE",
    "PinSAGEConv",
    "SimGCL",
    "SimpleX",
    "TurboCF",
    "XSimGCL",
]
