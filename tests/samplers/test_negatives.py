"""Negatives: rows of per-row negatives, and which samplers may be chunked."""

import pytest
import torch

from recsys_pyg.samplers import UniformSampler
from tests.samplers.graphs import dense_adversarial_graph


def test_negatives_split_by_row_and_which_samplers_allow_it(tmp_path):
    from recsys_pyg.samplers import Negatives, SharedSampler
    from recsys_pyg.samplers.curriculum import CurriculumSampler
    from recsys_pyg.samplers.popularity import PopularitySampler
    from recsys_pyg.samplers.ppr import PPRHardSampler

    graph, positives = dense_adversarial_graph()
    users = torch.arange(50).repeat(4)  # 200 rows, drawn in one call, used as 4 batches of 50
    neg = PPRHardSampler(graph, num_easy=2, num_hard=1, cache_dir=str(tmp_path)).sample(users)
    parts = [neg.rows(s, s + 50) for s in range(0, 200, 50)]
    assert torch.equal(torch.cat([p.items for p in parts]), neg.items)
    assert torch.equal(torch.cat([p.hard for p in parts]), neg.hard)
    for p, s in zip(parts, range(0, 200, 50), strict=True):
        assert p.items.shape == (50, 2) and p.full_mask(50).shape == (50, 3)
        assert not positives[users[s : s + 50, None], p.items].any()  # still never a positive of its row
    shared = SharedSampler(graph, 8).sample(users)
    with pytest.raises(ValueError, match="cannot be split by row"):
        shared.rows(0, 50)
    assert isinstance(shared, Negatives) and not SharedSampler(graph, 8).chunkable
    assert UniformSampler(graph).chunkable and PopularitySampler(graph).chunkable
    assert not PPRHardSampler(graph, shared=True, cache_dir=str(tmp_path)).chunkable
    assert CurriculumSampler(graph, cache_dir=str(tmp_path)).chunkable
