"""The polynomial / ODE filters score more users than a CPU block in blocks of ``CPU_BLOCK``, exactly as in one
piece (each block against its dense formula: tests/models/test_chebycf.py, test_bspm.py)."""

from __future__ import annotations

import pytest
import torch

from recsys_pyg.models import gfcf
from recsys_pyg.models.bspm import BSPM
from recsys_pyg.models.chebycf import ChebyCF
from tests.helpers.graphs import random_graph


@pytest.mark.parametrize("cls", [ChebyCF, BSPM])
def test_more_users_than_a_cpu_block_score_as_one_piece(cls):
    g = random_graph(150, 25, 0.2, seed=3)  # 150 users: blocks of 64, 64 and 22
    model = cls(g.num_users, g.num_items, eta=6, block=8, steps=8)
    model.fit(g)
    users = torch.randperm(150, generator=torch.Generator().manual_seed(0))
    assert users.numel() > gfcf.CPU_BLOCK
    got = model.score(users)
    assert got.is_contiguous() and got.shape == (150, 25)
    whole = model._score(users)  # the same filter on all 150 at once
    assert torch.allclose(got, whole, atol=1e-5) and whole.abs().max() > 0.1
