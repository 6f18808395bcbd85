"""The old home of the run record, now :mod:`recsys_pyg.records`; kept for one reason.

A checkpoint saved before the split holds its config, whose ``logger._target_`` is
``recsys_pyg.run_record.WandbLogger``; ``train.resume`` instantiates that config, so the name must resolve.
New code imports from :mod:`recsys_pyg.records`.
"""

from recsys_pyg.records.wandb_logger import WandbLogger

__all__ = ["WandbLogger"]
