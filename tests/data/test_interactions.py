"""Interactions: validation of ids and sizes, repeated pairs collapsed to their earliest event."""

import pytest
import torch

from recsys_pyg.data import Interactions, prepare_dataset, temporal_split


def test_interactions_validation_and_dedup():
    with pytest.raises(ValueError, match="item index out of range"):
        Interactions(torch.tensor([0]), torch.tensor([3]), 1, 3)
    with pytest.raises(ValueError, match="at least one user"):
        Interactions(torch.tensor([], dtype=torch.long), torch.tensor([], dtype=torch.long), 0, 3)
    data = Interactions(
        torch.tensor([0, 0, 1, 0]), torch.tensor([1, 1, 0, 2]), 2, 3, timestamp=torch.tensor([9, 4, 1, 2])
    )
    dedup = data.deduplicate()
    assert sorted(zip(dedup.user.tolist(), dedup.item.tolist(), dedup.timestamp.tolist())) == [
        (0, 1, 4),
        (0, 2, 2),
        (1, 0, 1),
    ]
    empty = Interactions(torch.tensor([], dtype=torch.long), torch.tensor([], dtype=torch.long), 2, 3)
    with pytest.raises(ValueError, match="has no interactions"):
        prepare_dataset("empty", empty, temporal_split)
