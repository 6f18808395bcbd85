"""Every sampler: never a training positive unmasked, deterministic under a seed."""

import pytest
import torch

from recsys_pyg.samplers.curriculum import CurriculumSampler
from recsys_pyg.samplers.in_batch import InBatchSampler
from recsys_pyg.samplers.popularity import PopularitySampler
from recsys_pyg.samplers.ppr import PPRHardSampler
from recsys_pyg.samplers.shared import SharedSampler
from tests.samplers.graphs import PPR_SMALL, dense_adversarial_graph, random_graph

FACTORIES = {
    "shared_uniform": lambda g, gen: SharedSampler(g, 16, gen),
    "shared_popularity": lambda g, gen: SharedSampler(g, 16, gen, distribution="popularity"),
    "popularity": lambda g, gen: PopularitySampler(g, 4, generator=gen, max_rounds=3),
    "ppr_hard": lambda g, gen: PPRHardSampler(g, gen, num_easy=2, num_hard=3, **PPR_SMALL),
    "ppr_hard_shared": lambda g, gen: PPRHardSampler(g, gen, num_hard=2, shared=True, num_shared=12, **PPR_SMALL),
    "curriculum": lambda g, gen: CurriculumSampler(g, gen, num_easy=1, max_hard=4, **PPR_SMALL),
    "in_batch": lambda g, gen: InBatchSampler(g, gen),
}


@pytest.mark.parametrize("name", list(FACTORIES))
def test_never_returns_a_training_positive(name):
    graph, mask = dense_adversarial_graph()
    sampler = FACTORIES[name](graph, torch.Generator().manual_seed(1))
    users = torch.arange(graph.num_users).repeat(40)
    pos = graph.item[graph.user_items.indptr[users]]  # each user's first positive
    for epoch in range(1, 4):
        neg = sampler.sample(users, pos, epoch)
        if neg.shared:
            assert neg.items.dim() == 1 and neg.mask.shape == (users.numel(), neg.items.numel())
            assert torch.equal(neg.mask, ~mask[users[:, None], neg.items[None, :]])  # False exactly at positives
        else:
            assert not mask[users[:, None], neg.items].any()
        if neg.hard is not None:
            assert not mask[users[:, None], neg.hard].any()
            # users 0 and 1 have one non-positive, ranked 0: outside the window, so the uniform fallback
            assert (neg.hard[users == 0] == 17).all() and (neg.hard[users == 1] == 39).all()
    if name == "popularity":  # rejection fails for them almost surely: the uniform fallback answers
        assert (neg.items[users == 0] == 17).all() and (neg.items[users == 1] == 39).all()


@pytest.mark.parametrize("name", [n for n in FACTORIES if n != "in_batch"])  # in_batch draws nothing
def test_deterministic_under_a_seed(name):
    graph, _ = random_graph(30, 50, 0.3)
    users = torch.arange(30).repeat(3)

    def run(seed):
        sampler = FACTORIES[name](graph, torch.Generator().manual_seed(seed))
        out = []
        for epoch in (1, 2, 3):
            neg = sampler.sample(users, graph.item[graph.user_items.indptr[users]], epoch)
            out += [t for t in (neg.items, neg.mask, neg.hard) if t is not None]
        return out

    a, b, c = run(7), run(7), run(8)
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert not all(torch.equal(x, y) for x, y in zip(a, c))
