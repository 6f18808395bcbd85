"""CurriculumSampler: hard negatives per positive follow the schedule."""

import torch

from recsys_pyg.samplers.curriculum import CurriculumSampler
from recsys_pyg.samplers.ppr import PPRHardSampler
from tests.samplers.graphs import PPR_SMALL, random_graph


def test_curriculum_follows_the_schedule():
    graph, mask = random_graph(30, 50, 0.3)
    sampler = CurriculumSampler(graph, torch.Generator().manual_seed(0), num_easy=2, max_hard=3, pace=2, **PPR_SMALL)
    users = torch.arange(30)
    expected = [0, 0, 0, 1, 1, 2, 2, 3, 3, 3, 3]  # epochs 0..10: min(3, (n - 1) // 2)
    for epoch, h in enumerate(expected):
        assert sampler.hard_count(epoch) == h
        neg = sampler.sample(users, None, epoch)
        assert neg.items.shape == (30, 2)
        assert (neg.hard is None) if h == 0 else neg.hard.shape == (30, h)
        assert neg.full_mask(30) is None or neg.full_mask(30).shape == (30, 2 + h)
    pinsage = CurriculumSampler(graph, max_hard=6, **PPR_SMALL)
    assert [pinsage.hard_count(n) for n in range(1, 10)] == [0, 1, 2, 3, 4, 5, 6, 6, 6]
    fixed = PPRHardSampler(graph, num_hard=2, **PPR_SMALL)
    assert all(fixed.hard_count(n) == 2 for n in range(1, 5))
    assert fixed.sample(users, None, 1).hard.shape == (30, 2)
