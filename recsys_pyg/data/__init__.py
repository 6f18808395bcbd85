"""Data: interaction tables, splits, the training graph."""

from recsys_pyg.data.dataset import RecDataset, prepare_dataset
from recsys_pyg.data.graph import CSR, BipartiteGraph, normalized_adjacency
from recsys_pyg.data.interactions import Interactions
from recsys_pyg.data.split import Split, temporal_split
from recsys_pyg.data.synthetic import make_synthetic

__all__ = [
    "CSR",
    "BipartiteGraph",
    "Interactions",
    "RecDataset",
    "Split",
    "make_synthetic",
    "normalized_adjacency",
    "prepare_dataset",
    "temporal_split",
]
