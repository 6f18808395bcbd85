"""Every sampler in ``conf/sampler/`` (found there, not listed): never a training positive unmasked,
deterministic under a seed, and a declared proposal ``log_q`` that is the law its draws follow."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from tests.helpers.configs import CONF
from tests.samplers.graphs import PPR_SMALL, dense_adversarial_graph, random_graph

# Small settings for small graphs (the YAML's own values otherwise); variants run beside the YAML's.
SMALL = {"shared": {"num_negatives": 16}, "popularity": {"num_negatives": 4, "max_rounds": 3},
         "uniform": {"num_negatives": 4}, "ppr_hard": {"num_easy": 2, "num_hard": 3, **PPR_SMALL},
         "curriculum": {"num_easy": 1, "max_hard": 4, **PPR_SMALL}}  # fmt: skip
VARIANTS = {
    "shared_popularity": ("shared", {"distribution": "popularity"}),
    "ppr_hard_shared": ("ppr_hard", {"num_hard": 2, "shared": True, "num_shared": 12}),
}
NAMES = sorted(p.stem for p in (Path(CONF) / "sampler").glob("*.yaml"))
ALL = NAMES + sorted(VARIANTS)


def build(name: str, graph, seed: int):
    base, extra = VARIANTS.get(name, (name, {}))
    spec = OmegaConf.load(Path(CONF) / "sampler" / f"{base}.yaml")
    for key, value in {**SMALL.get(base, {}), **extra, **({"cache_dir": None} if "cache_dir" in spec else {})}.items():
        spec[key] = value
    return instantiate(spec)(graph=graph, generator=torch.Generator().manual_seed(seed))


def test_every_yaml_is_covered():
    assert {"uniform", "popularity", "shared", "in_batch", "ppr_hard", "curriculum"} <= set(NAMES)


@pytest.mark.parametrize("name", ALL)
def test_never_returns_a_training_positive(name):
    graph, mask = dense_adversarial_graph()
    sampler = build(name, graph, 1)
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
    if name in ("popularity", "uniform"):  # one non-positive each: the exact answer
        assert (neg.items[users == 0] == 17).all() and (neg.items[users == 1] == 39).all()


@pytest.mark.parametrize("name", [n for n in ALL if n != "in_batch"])  # in_batch draws nothing
def test_deterministic_under_a_seed(name):
    graph, _ = random_graph(30, 50, 0.3)
    users = torch.arange(30).repeat(3)

    def run(seed):
        sampler = build(name, graph, seed)
        out = []
        for epoch in (1, 2, 3):
            neg = sampler.sample(users, graph.item[graph.user_items.indptr[users]], epoch)
            out += [t for t in (neg.items, neg.mask, neg.hard) if t is not None]
        return out

    a, b, c = run(7), run(7), run(8)
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert not all(torch.equal(x, y) for x, y in zip(a, c))


@pytest.mark.parametrize("name", [n for n in ALL if getattr(build(n, random_graph(5, 6, 0.5)[0], 0),
                                                             "provides_log_q", False)])  # fmt: skip
def test_declared_log_q_is_the_law_of_the_draws(name):
    """Empirical frequencies of many draws for one user (every row of a batch) against ``exp(log_q)``
    (a sum of 1 over what can be drawn); for shared sets drawn without replacement, against ``q``."""
    graph, mask = random_graph(20, 30, 0.3, seed=3)
    sampler = build(name, graph, 0)
    user = 4
    positives = graph.item[graph.user_items.indptr[user] : graph.user_items.indptr[user + 1]]
    counts, law = torch.zeros(graph.num_items), torch.full((graph.num_items,), float("nan"))
    draws = 0
    for _ in range(400):
        users, pos = torch.full((32,), user), positives[torch.arange(32) % positives.numel()]
        if name == "in_batch":  # a batch is uniform training edges: draw them as the loop's shuffle does
            edges = torch.randint(graph.num_edges, (32,), generator=torch.Generator().manual_seed(draws))
            users, pos = graph.user[edges], graph.item[edges]
        neg = sampler.sample(users, pos, 1)
        items, log_q = (neg.items, neg.log_q) if neg.shared else (neg.items.flatten(), neg.log_q.flatten())
        assert log_q.shape == items.shape
        counts += torch.bincount(items, minlength=graph.num_items)
        law[items] = log_q.exp().float()
        draws += items.numel()
    freq = counts / draws
    seen = ~torch.isnan(law)
    if name == "shared":  # uniform without replacement: inclusion S/I exactly, q = 1/I
        assert torch.allclose(law[seen], torch.full_like(law[seen], 1 / graph.num_items))
        return
    if name == "shared_popularity":  # without replacement: the per-draw law, approximately
        assert torch.allclose(law[seen], freq[seen], atol=0.03)
        return
    if name == "in_batch":
        assert torch.allclose(law[seen], graph.item_degree[seen].float() / graph.num_edges, atol=1e-6)
        assert torch.allclose(freq[seen], law[seen], atol=0.015)
        return
    assert not mask[user, seen].any() and law[seen].sum().item() == pytest.approx(1.0, abs=1e-4)
    assert torch.allclose(freq[seen], law[seen], atol=0.004), (freq[seen] - law[seen]).abs().max()
