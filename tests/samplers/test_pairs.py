import pytest
import torch

from recsys_pyg.samplers.pairs import edge_keys, is_positive, negative_mask, positive_mask

from .graphs import dense_adversarial_graph, random_graph


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_positive_mask_is_the_dense_lookup(seed):
    """Batch x set masks equal the dense matrix and the binary search, with repeated users and items."""
    graph, dense = random_graph(60, 45, 0.2, seed)
    gen = torch.Generator().manual_seed(seed)
    many = torch.randint(60, (200,), generator=gen)  # repeats, as a batch of edges has
    few = torch.randint(4, (200,), generator=gen)  # 4 distinct users: their rows are read, not the items'
    cases = [(many, torch.randperm(45, generator=gen)[:5]), (many, torch.randint(45, (200,), generator=gen)),
             (few, torch.randint(45, (300,), generator=gen)), (few, torch.randperm(45, generator=gen)[:3])]  # fmt: skip
    for users, items in cases:
        got = positive_mask(graph, users, items)
        assert got.shape == (users.numel(), items.numel()) and got.dtype == torch.bool
        assert torch.equal(got, dense[users][:, items])
        assert torch.equal(got, is_positive(edge_keys(graph), 45, users[:, None], items[None, :]))
        assert 0 < got.sum() < got.numel()  # both outcomes occur: the check can fail


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_negative_mask_is_the_complement_on_both_paths(seed):
    """Distinct items (a shared draw): the items' rows matched by one sort of the users, with repeated users,
    users absent from every item's row and items nobody has; any items: the general path, complemented."""
    graph, dense = random_graph(60, 45, 0.2, seed)
    gen = torch.Generator().manual_seed(seed)
    many = torch.randint(60, (200,), generator=gen)
    few = torch.randint(4, (200,), generator=gen)  # the users' rows are the fewer: the general path is taken
    positives = 0
    for users in (many, few, many[:1]):
        for items in (torch.randperm(45, generator=gen)[:7], torch.randperm(45, generator=gen), torch.arange(1)):
            expected = ~dense[users][:, items]
            assert torch.equal(negative_mask(graph, users, items, distinct_items=True), expected)
            assert torch.equal(negative_mask(graph, users, items), expected)
            positives += int((~expected).sum())
    assert positives > 100  # positives occur in the masks: the check can fail
    repeated = torch.randint(45, (200,), generator=gen)  # in-batch items repeat: the general path
    assert torch.equal(negative_mask(graph, many, repeated), ~dense[many][:, repeated])


def test_positive_mask_edge_cases():
    graph, dense = dense_adversarial_graph()
    users = torch.tensor([0, 0, 1, 2, 2])  # user 2 has item 0 alone
    items = torch.arange(40)
    assert torch.equal(positive_mask(graph, users, items), dense[users])
    empty = positive_mask(graph, users, items[:0])
    assert empty.shape == (5, 0)


@pytest.mark.parametrize("name", ["shared", "in_batch"])
def test_host_and_accelerator_paths_give_the_same_masks(name, monkeypatch):
    from recsys_pyg.samplers import pairs
    from recsys_pyg.samplers.in_batch import InBatchSampler
    from recsys_pyg.samplers.shared import SharedSampler

    graph, _ = random_graph(80, 60, 0.15, seed=4)
    idx = torch.randint(graph.num_edges, (128,), generator=torch.Generator().manual_seed(0))
    users, pos = graph.user[idx], graph.item[idx]

    def draw():
        gen = torch.Generator().manual_seed(1)
        sampler = SharedSampler(graph, 40, gen) if name == "shared" else InBatchSampler(graph, gen)
        return sampler.sample(users, pos, 1)

    host = draw()
    monkeypatch.setattr(pairs, "HOST_FAST_PATHS", False)
    device = draw()
    assert torch.equal(host.items, device.items) and torch.equal(host.mask, device.mask)
    assert not host.mask.all()  # some positives were masked: the comparison means something


@pytest.mark.parametrize("right", [False, True])
def test_search_sorts_queries_but_answers_as_searchsorted(right):
    from recsys_pyg.samplers.pairs import search

    gen = torch.Generator().manual_seed(0)
    keys = torch.sort(torch.randint(0, 5000, (3000,), generator=gen)).values  # repeated keys too
    query = torch.randint(-10, 5010, (70, 100), generator=gen)  # above the size where it sorts
    assert torch.equal(search(keys, query, right), torch.searchsorted(keys, query, right=right))
    assert torch.equal(search(keys, query[:3], right), torch.searchsorted(keys, query[:3], right=right))
