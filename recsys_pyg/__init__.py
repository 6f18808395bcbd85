"""recsys_pyg: graph-neural-network recommenders on PyTorch Geometric."""

__version__ = "0.1.0"
