"""Config paths and the shrunk data/training overrides several tests train with."""

from __future__ import annotations

from pathlib import Path

CONF = str(Path(__file__).resolve().parents[2] / "conf")
SHARED_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"

# 500 users x 250 items x 15,000 interactions with strong tastes: learnable in seconds
DATA = [
    "dataset.source.num_users=500",
    "dataset.source.num_items=250",
    "dataset.source.num_interactions=15000",
    "dataset.source.strength=6.0",
]
TRAINED = ["optimizer.lr=0.005", "train.epochs=20", "train.eval_every=5", "train.batch_size=1024"]
SMALL = DATA + TRAINED
