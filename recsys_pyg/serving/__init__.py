"""Using a trained run: its exported embeddings, top-K recommendations, two-stage retrieval with an ANN index."""

from recsys_pyg.serving.export import Exported, ExportError, export_run, load_export
from recsys_pyg.serving.retrieval import INDEXES, Retriever, ShortTopKWarning

__all__ = ["INDEXES", "ExportError", "Exported", "Retriever", "ShortTopKWarning", "export_run", "load_export"]
