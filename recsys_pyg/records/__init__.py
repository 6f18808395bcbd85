"""Where a run's results go: its own folder on disk, always, and W&B and/or MLflow when enabled.

One module per concern: :mod:`~recsys_pyg.records.stamps` (Hydra resolvers naming the run folder,
registered on import), :mod:`~recsys_pyg.records.folder` (the folder's lock), :mod:`~recsys_pyg.records.record`
(the local record), :mod:`~recsys_pyg.records.wandb_logger` (W&B), :mod:`~recsys_pyg.records.mlflow_logger`
(MLflow, into the store of :mod:`~recsys_pyg.records.mlflow_store`), :mod:`~recsys_pyg.records.backends` (the
trackers ``cfg.logger`` names, started each on its own), :mod:`~recsys_pyg.records.naming` (the run's protocol,
name and group) and :mod:`~recsys_pyg.records.recorder` (:class:`Recorder`, which writes all with one call,
and :func:`open_recorder`, which sets it up for a run).
"""

from recsys_pyg.records.folder import RECORD_FILES, RunFolder, RunFolderError
from recsys_pyg.records.mlflow_logger import MlflowLogger
from recsys_pyg.records.naming import is_multirun, protocol, run_name
from recsys_pyg.records.record import RunRecord, strict
from recsys_pyg.records.recorder import Recorder, open_recorder, outcome
from recsys_pyg.records.stamps import register_resolvers, run_stamp
from recsys_pyg.records.wandb_logger import WandbLogger

register_resolvers()  # before Hydra composes the run folder's name

__all__ = [
    "RECORD_FILES",
    "MlflowLogger",
    "Recorder",
    "RunFolder",
    "RunFolderError",
    "RunRecord",
    "WandbLogger",
    "is_multirun",
    "open_recorder",
    "outcome",
    "protocol",
    "register_resolvers",
    "run_name",
    "run_stamp",
    "strict",
]
