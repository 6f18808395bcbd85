"""Using a trained run: its exported embeddings, top-K recommendations, two-stage retrieval with an ANN index."""

from recsys_pyg.serving.export import Exported, export_run, load_export
from recsys_pyg.serving.retrieval import INDEXES, Retriever

__all__ = ["INDEXES", "Exported", "Retriever", "export_run", "load_export"]
