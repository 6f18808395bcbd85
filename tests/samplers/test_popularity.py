"""PopularitySampler: draws follow (degree + 1)^beta over each user's non-positives."""

import pytest
import torch

from recsys_pyg.data import BipartiteGraph
from recsys_pyg.samplers import pairs
from recsys_pyg.samplers.popularity import PopularitySampler, popularity_probs
from recsys_pyg.samplers.shared import SharedSampler


@pytest.mark.parametrize("path", ["rejected", "block"])
def test_popularity_sampler_follows_degree_power(path, monkeypatch):
    """Both redraw schemes (the rejected entries alone on the CPU, the whole block on an accelerator)."""
    gen = torch.Generator().manual_seed(0)
    num_items, beta = 40, 0.75
    weight = torch.linspace(0.02, 0.9, num_items)  # item j chosen by each of 300 filler users w.p. weight[j]
    fill = torch.rand(300, num_items, generator=gen) < weight
    fill[0] = False
    fill[0, [3, 20, 39]] = True  # the tested user: three positives
    user, item = fill.nonzero(as_tuple=True)
    graph = BipartiteGraph(user, item, 300, num_items)
    sampler = PopularitySampler(graph, num_negatives=50, beta=beta, generator=torch.Generator().manual_seed(3))
    if path == "block":  # the accelerator's path, on the CPU
        monkeypatch.setattr(pairs, "HOST_FAST_PATHS", False)
    draws = sampler.sample(torch.zeros(2000, dtype=torch.long)).items.flatten()  # 100k draws for user 0
    counts = torch.bincount(draws, minlength=num_items).double()
    free = ~fill[0]
    assert counts[~free].sum() == 0

    def chi2(law: torch.Tensor) -> float:
        expected = draws.numel() * law[free] / law[free].sum()
        return float(((counts[free] - expected) ** 2 / expected).sum())

    dof = int(free.sum()) - 1  # 36; the statistic's mean is dof, its sd sqrt(2 dof) ~ 8.5
    assert chi2((graph.item_degree.double() + 1) ** beta) < dof + 6 * (2 * dof) ** 0.5
    assert chi2(torch.ones(num_items, dtype=torch.float64)) > 10 * dof  # the test can tell uniform apart


def test_one_popularity_law_keeps_degree_zero_items_drawable():
    degree = torch.tensor([0, 1, 3, 8])
    expected = torch.tensor([1.0, 2.0, 4.0, 9.0], dtype=torch.float64).sqrt()  # (d + 1)^0.5
    assert torch.allclose(popularity_probs(degree, 0.5), expected / expected.sum())
    assert torch.allclose(popularity_probs(degree, 0.0), torch.full((4,), 0.25, dtype=torch.float64))
    # both popularity-biased samplers use it, so a cold item (items 20.. here) is drawn by either
    graph = BipartiteGraph(torch.arange(25) % 7, torch.cat([torch.arange(0, 20), torch.arange(0, 5)]), 7, 60)
    law = popularity_probs(graph.item_degree, 0.75)
    assert torch.equal(PopularitySampler(graph, beta=0.75).probs, law)
    assert torch.equal(SharedSampler(graph, distribution="popularity", beta=0.75).probs, law)
    sampler = PopularitySampler(graph, num_negatives=20, generator=torch.Generator().manual_seed(0))
    assert (sampler.sample(torch.full((500,), 6)).items >= 20).any()
