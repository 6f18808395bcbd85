"""Neighbour-sampled subgraphs and LightGCN trained on them."""

import pytest
import torch

from recsys_pyg.data import BipartiteGraph, make_synthetic
from recsys_pyg.data.neighbor_sampling import sample_subgraph
from recsys_pyg.models import LightGCN
from recsys_pyg.models.propagation import spmm


def graph(users=60, items=80, interactions=1500, seed=0):
    data = make_synthetic(users, items, interactions, seed=seed)
    return BipartiteGraph(data.user, data.item, users, items)


def test_subgraph_structure_and_edge_bound():
    g = graph()
    adj = g.adj.to_dense()
    seeds = torch.tensor([0, 3, 7, 60, 61, 100])
    fanout = [4, 3, 2]
    torch.manual_seed(0)
    sub = sample_subgraph(g.adj, seeds, fanout)
    n = sub.nodes.numel()
    assert sub.num_seeds == 6 and torch.equal(sub.nodes[:6], seeds)
    assert sub.nodes.unique().numel() == n  # every node once
    # the bound that makes a batch's cost independent of the graph's size
    assert sub.num_edges <= 6 * (4 + 4 * 3 + 4 * 3 * 2)
    # blocks: layer k + 1 maps rows within L-k hops to rows within L-k-1 hops; the last one to the seeds
    assert [tuple(b.shape) for b in sub.blocks] == [(sub.hops[2], n), (sub.hops[1], sub.hops[2]), (6, sub.hops[1])]
    assert sub.hops[3] == n
    for block, block_t in zip(sub.blocks, sub.blocks_t):
        assert torch.equal(block_t.to_dense(), block.to_dense().T)
        assert torch.equal(block.to_dense(), sub.blocks[0].to_dense()[: block.shape[0], : block.shape[1]])
    local = sub.blocks[0].to_dense()
    rows, cols = local.nonzero(as_tuple=True)
    src, dst = sub.nodes[rows], sub.nodes[cols]
    assert (adj[src, dst] > 0).all()  # only real edges
    deg = (adj > 0).sum(1)
    per_row = sub.blocks[0].crow_indices().diff()
    assert torch.equal(per_row[:6], deg[seeds].clamp(max=4))  # seeds keep min(degree, fanout[0]) draws
    assert (per_row <= 4).all()
    # a low-degree node keeps all its neighbours with their exact weights
    extra = BipartiteGraph(
        torch.cat([g.user, torch.tensor([60, 60])]), torch.cat([g.item, torch.tensor([2, 5])]), 61, 80
    )
    assert int(extra.user_degree[60]) == 2
    row = sample_subgraph(extra.adj, torch.tensor([60]), [3]).blocks[0].to_dense()[0]
    full = extra.adj.to_dense()[60]
    assert torch.allclose(row[row > 0].sort().values, full[full > 0].sort().values)
    # rows only for nodes within len(fanout) - 1 hops: the last hop's new nodes have none
    assert per_row.numel() == sub.hops[2] < n and (per_row[6:] > 0).any()


def test_fanout_covering_every_degree_gives_exact_propagation():
    g = graph()
    max_deg = int((g.adj.to_dense() > 0).sum(1).max())
    users, items = torch.tensor([0, 5, 5, 17, 59]), torch.tensor([3, 3, 9, 40, 79, 0])
    model = LightGCN(60, 80, 16, 3, fanout=[max_deg] * 3)
    model.train()
    u_sampled, i_sampled = model(g, users, items)
    model.eval()
    u_full, i_full = model(g, users, items)
    assert torch.allclose(u_sampled, u_full, atol=1e-6) and torch.allclose(i_sampled, i_full, atol=1e-6)
    # and a small fanout really samples (the path above was the sampled one)
    small = LightGCN(60, 80, 16, 3, fanout=[2, 2, 2])
    small.load_state_dict(model.state_dict())
    small.train()
    assert not torch.allclose(small(g, users, items)[0], u_full, atol=1e-3)


def test_one_sampled_step_is_unbiased():
    g = graph()
    seeds = torch.tensor([1, 2, 61, 90])
    deg = (g.adj.to_dense() > 0).sum(1)
    assert (deg[seeds] > 3).all()  # the seeds really get sampled
    torch.manual_seed(0)  # x too: an unseeded x made this 4-sigma check depend on the tests run before it
    x = torch.randn(g.num_nodes, 4)
    exact = (g.adj.to_dense() @ x)[seeds]
    draws = []
    for _ in range(3000):
        sub = sample_subgraph(g.adj, seeds, [3])
        draws.append(sub.blocks[0] @ x[sub.nodes])
    draws = torch.stack(draws)
    stderr = draws.std(0) / 3000**0.5
    assert ((draws.mean(0) - exact).abs() < 4 * stderr + 1e-6).all()
    assert (draws.std(0) > 0).any()  # it is an estimate, not the exact value


def test_sampled_spmm_gradient_equals_dense_autograd():
    g = graph()
    torch.manual_seed(1)
    sub = sample_subgraph(g.adj, torch.tensor([0, 4, 70]), [3, 3])
    (b1, b2), (t1, t2) = sub.blocks, sub.blocks_t
    d1, d2 = b1.to_dense(), b2.to_dense()
    x1 = torch.randn(sub.nodes.numel(), 5, requires_grad=True)
    x2 = x1.detach().clone().requires_grad_(True)
    w = torch.randn(3, 5)
    (spmm(b2, spmm(b1, x1, t1), t2) * w).sum().backward()
    (d2 @ (d1 @ x2) * w).sum().backward()
    assert torch.allclose(x1.grad, x2.grad, atol=1e-6) and x1.grad.abs().sum() > 0
    assert d1.shape[0] != d1.shape[1]  # rectangular: a test of the transpose, not of symmetry


def test_sparse_gradients_touch_only_the_subgraph():
    g = graph(200, 300, 2000)
    model = LightGCN(200, 300, 8, 2, fanout=[2, 2], sparse=True)
    model.train()
    users, items = torch.tensor([0, 1]), torch.tensor([5, 6])
    u, i = model(g, users, items)
    (u.sum() + i.sum()).backward()
    grad = model.embedding.weight.grad
    assert grad.is_sparse
    assert grad.coalesce().indices().unique().numel() < g.num_nodes


def test_fanout_config_errors():
    with pytest.raises(ValueError, match="fanout needs num_layers = 3"):
        LightGCN(5, 5, 4, 3, fanout=[10, 10])
    with pytest.raises(ValueError, match="positive integers"):
        LightGCN(5, 5, 4, 2, fanout=[10, 0])
    with pytest.raises(ValueError, match="sparse=True needs a fanout"):
        LightGCN(5, 5, 4, 2, sparse=True)
    with pytest.raises(ValueError, match="fanout must be a non-empty list"):
        sample_subgraph(graph().adj, torch.tensor([0]), [])


def test_capped_two_hop_estimate_is_unbiased_and_bounded():
    g = graph()
    seeds = torch.tensor([1, 2, 61, 90])
    x = torch.randn(g.num_nodes, 4)
    dense = g.adj.to_dense()
    exact = (dense @ (dense @ x))[seeds]
    torch.manual_seed(0)
    draws, capped = [], 0
    for _ in range(4000):
        sub = sample_subgraph(g.adj, seeds, [3, 3], max_hop_nodes=5)
        assert sub.hops[2] - sub.hops[1] <= 5  # the cap holds on the second hop
        capped += sub.hops[2] - sub.hops[1] == 5
        b1, b2 = sub.blocks
        draws.append(b2 @ (b1 @ x[sub.nodes]))
    draws = torch.stack(draws)
    assert capped > 3000  # the cap really bit
    stderr = draws.std(0) / 4000**0.5
    assert ((draws.mean(0) - exact).abs() < 4.5 * stderr + 1e-6).all()


def test_isolated_seeds_and_exhausted_hops():
    # user 2 and item 3 have no edges; the whole graph is reached in one hop from user 0's side
    g = BipartiteGraph(torch.tensor([0, 0, 1]), torch.tensor([0, 1, 1]), 3, 4)
    isolated = torch.tensor([2, 3 + 3])
    sub = sample_subgraph(g.adj, isolated, [5, 5, 5])
    assert sub.hops == [2, 2, 2, 2] and sub.num_edges == 0
    assert all(b.shape == (2, 2) for b in sub.blocks)
    model = LightGCN(3, 4, 4, 3, fanout=[5, 5, 5])
    model.train()
    u, i = model(g, torch.tensor([2, 0]), torch.tensor([3, 1]))
    model.eval()
    u_full, i_full = model(g, torch.tensor([2, 0]), torch.tensor([3, 1]))
    assert torch.allclose(u, u_full, atol=1e-6) and torch.allclose(i, i_full, atol=1e-6)
    # the id map is left clean: a second call sees every node as new again
    again = sample_subgraph(g.adj, torch.tensor([0]), [5, 5])
    assert again.hops == [1, 3, 4]  # user 0 -> items 0, 1 -> user 1
    assert int((g.adj._local_ids >= 0).sum()) == 0


def test_equally_seeded_generators_give_equal_subgraphs_and_leave_the_global_rng_alone():
    g = graph()
    seeds = torch.tensor([1, 2, 61, 90])
    global_state = torch.get_rng_state()

    def draw(seed: int):
        return sample_subgraph(g.adj, seeds, [3, 3], max_hop_nodes=5, generator=torch.Generator().manual_seed(seed))

    first, second, other = draw(7), draw(7), draw(8)
    assert torch.equal(torch.get_rng_state(), global_state)  # no draw from torch's global generator
    assert torch.equal(first.nodes, second.nodes) and first.hops == second.hops
    for a, b in zip(first.blocks + first.blocks_t, second.blocks + second.blocks_t):
        assert torch.equal(a.to_dense(), b.to_dense())
    assert first.hops[2] - first.hops[1] == 5  # the capped hop drew too (randperm, not only rand)
    assert not torch.equal(first.blocks[0].to_dense(), other.blocks[0].to_dense())  # the seed matters


def test_lightgcn_samples_with_its_generator():
    g = graph()
    users, items = torch.tensor([0, 5, 17]), torch.tensor([3, 9, 40])
    models = [LightGCN(60, 80, 8, 2, fanout=[2, 2], generator=torch.Generator().manual_seed(0)) for _ in range(2)]
    models[1].load_state_dict(models[0].state_dict())
    global_state = torch.get_rng_state()
    first, second = (m.train()(g, users, items)[0] for m in models)
    assert torch.equal(first, second)
    assert torch.equal(torch.get_rng_state(), global_state)
