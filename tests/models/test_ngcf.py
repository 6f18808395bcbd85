"""NGCF: the model against a dense implementation, node dropout, parameter count, training."""

import copy
import pickle

import pytest
import torch

from recsys_pyg.data import BipartiteGraph
from recsys_pyg.models.ngcf import NGCF, undirected_edge_ids
from recsys_pyg.models.ngcf_conv import NGCFConv
from recsys_pyg.train import train
from tests.helpers.configs import SMALL
from tests.helpers.graphs import dense_normalized, small_graph


def random_graph(num_users=200, num_items=300, num_edges=6000, seed=0):
    gen = torch.Generator().manual_seed(seed)
    user = torch.randint(num_users, (num_edges,), generator=gen)
    item = torch.randint(num_items, (num_edges,), generator=gen)
    return BipartiteGraph(user, item, num_users, num_items)


def dense_ngcf_conv(conv, x, a):
    """NGCF's Eq. (3)-(4) written with dense matrices: LeakyReLU(W1 (x + A x) + b1 + W2 ((A x) * x) + b2)."""
    side = a @ x
    out = (x + side) @ conv.lin_sum.weight.T + conv.lin_sum.bias + (side * x) @ conv.lin_bi.weight.T + conv.lin_bi.bias
    return torch.where(out > 0, out, 0.2 * out)


def dense_mean_concat(conv, x, a):
    """ReLU(W [x || mean of the neighbours] + b) with a dense 0/1 adjacency; isolated nodes get a zero mean."""
    pattern = (a != 0).float()
    mean = pattern @ x / pattern.sum(1, keepdim=True).clamp(min=1)
    return torch.relu(torch.cat([x, mean], 1) @ conv.lin.weight.T + conv.lin.bias)


def dense_ngcf(model, a):
    """The whole model in dense form: layers from the dense convs, L2-normalised, then combined."""
    x = model.embedding.weight
    layers = [x]
    for conv in model.convs:
        x = dense_ngcf_conv(conv, x, a) if isinstance(conv, NGCFConv) else dense_mean_concat(conv, x, a)
        layers.append(x / x.norm(dim=1, keepdim=True).clamp(min=1e-12))
    return torch.cat(layers, 1) if model.combine == "concat" else torch.stack(layers).mean(0)


NGCF_SMALL = [*SMALL, "optimizer.lr=0.01", "train.epochs=10", "train.num_threads=1"]


@pytest.mark.parametrize(
    "kwargs, out_dim",
    [
        ({}, 6 + 6 + 6),
        ({"hidden_dims": [4, 3]}, 6 + 4 + 3),
        ({"combine": "mean"}, 6),
        ({"layer": "mean_concat", "hidden_dims": [5, 2]}, 6 + 5 + 2),
    ],
)
def test_ngcf_equals_dense_model(kwargs, out_dim):
    g = small_graph()
    model = NGCF(4, 5, embedding_dim=6, num_layers=2, **kwargs).eval()
    expected = dense_ngcf(model, dense_normalized(g.user, g.item, 4, 5))
    assert model.out_dim == out_dim and expected.shape == (9, out_dim)
    users, items = model(g)
    assert torch.allclose(torch.cat([users, items]), expected, atol=1e-5)
    u, i = model(g, torch.tensor([2, 0]), torch.tensor([3, 4, 3]))
    assert u.shape == (2, out_dim) and i.shape == (3, out_dim)
    assert torch.allclose(u, expected[[2, 0]], atol=1e-5) and torch.allclose(i, expected[[7, 8, 7]], atol=1e-5)


def test_parameter_count_matches_paper_formula():
    dims = [6, 8, 4, 5]  # d, then the hidden dims
    model = NGCF(7, 9, embedding_dim=6, num_layers=3, hidden_dims=dims[1:])
    per_layer = sum(2 * (d_in * d_out + d_out) for d_in, d_out in zip(dims[:-1], dims[1:]))
    assert sum(p.numel() for p in model.parameters()) == (7 + 9) * 6 + per_layer
    assert model.out_dim == sum(dims)
    assert model(random_graph(7, 9, 30))[0].shape == (7, sum(dims))


def test_l2_penalty_on_layer_zero_embeddings():
    model = NGCF(3, 2, embedding_dim=2, num_layers=1)
    with torch.no_grad():
        model.embedding.weight.copy_(torch.tensor([[1.0, 0], [0, 2], [1, 1], [3, 0], [0, 1]]))
    # users 0,1 -> 1 + 4; items 0 (node 3), 1 (node 4), 1 -> 9 + 1 + 1; / (2 * 2)
    assert model.l2_penalty(torch.tensor([0, 1]), torch.tensor([0, 1, 1])).item() == pytest.approx(16 / 4)


def test_node_dropout_keeps_symmetry_and_expected_fraction():
    g = random_graph()
    p = 0.3
    model = NGCF(g.num_users, g.num_items, embedding_dim=4, num_layers=2, node_dropout=p)
    adj = g.adj.to_dense()
    kept_fraction = []
    for _ in range(5):
        dropped = model.dropped_adj(g).to_dense()
        assert torch.equal(dropped, dropped.T)
        kept = dropped != 0
        assert torch.allclose(dropped[kept], adj[kept] / (1 - p))  # rescaled, never renormalised
        assert not (kept & (adj == 0)).any()
        kept_fraction.append(kept.sum().item() / (adj != 0).sum().item())
    assert 2 * g.num_edges > 10000 and abs(sum(kept_fraction) / 5 - (1 - p)) < 0.02
    assert len(set(kept_fraction)) > 1  # a fresh draw each call
    # the entry-to-edge map is computed once per graph and reused
    cache = model._edge_ids
    model.dropped_adj(g)
    assert model._edge_ids is cache and cache[0]() is g
    g2 = random_graph(seed=1)
    model.dropped_adj(g2)
    assert model._edge_ids[0]() is g2
    # the module still copies and pickles with the cache filled
    assert copy.deepcopy(model)._edge_ids is None
    assert pickle.loads(pickle.dumps(model))._edge_ids is None


def test_node_dropout_only_in_training():
    g = small_graph()
    model = NGCF(4, 5, embedding_dim=6, num_layers=2, message_dropout=0.0, node_dropout=0.5)
    model.eval()
    expected = dense_ngcf(model, dense_normalized(g.user, g.item, 4, 5))
    assert torch.allclose(torch.cat(model(g)), expected, atol=1e-5)
    assert model._edge_ids is None  # never computed in eval mode
    model.train()
    torch.manual_seed(0)
    outs = [torch.cat(model(g)) for _ in range(4)]
    assert any(not torch.allclose(o, expected, atol=1e-5) for o in outs)


def test_undirected_edge_ids_reject_asymmetric_adjacency():
    g = small_graph()
    edge_id, num_edges = undirected_edge_ids(g.adj)
    assert num_edges == g.num_edges and torch.bincount(edge_id).tolist() == [2] * g.num_edges
    asym = torch.sparse_coo_tensor(
        torch.tensor([[0, 1], [1, 2]]), torch.ones(2), (3, 3), check_invariants=False
    ).to_sparse_csr()
    with pytest.raises(ValueError, match="symmetric adjacency"):
        undirected_edge_ids(asym)
    with pytest.raises(TypeError, match="sparse CSR"):
        undirected_edge_ids(g.adj.to_dense())


def test_ngcf_rejects_bad_arguments_and_repr():
    with pytest.raises(ValueError, match="embedding_dim must be a positive integer"):
        NGCF(3, 3, embedding_dim=0)
    with pytest.raises(ValueError, match="num_items must be a positive integer"):
        NGCF(3, 0)
    with pytest.raises(ValueError, match="num_layers must be a non-negative integer"):
        NGCF(3, 3, num_layers=-1)
    with pytest.raises(ValueError, match="hidden_dims has 2 sizes but num_layers=3"):
        NGCF(3, 3, num_layers=3, hidden_dims=[8, 8])
    with pytest.raises(ValueError, match="hidden_dims must be positive integers"):
        NGCF(3, 3, num_layers=2, hidden_dims=[8, 0])
    with pytest.raises(ValueError, match="unknown combine='sum'; choose one of \\['concat', 'mean'\\]"):
        NGCF(3, 3, combine="sum")
    with pytest.raises(ValueError, match="unknown layer='gat'; choose one of \\['ngcf', 'mean_concat'\\]"):
        NGCF(3, 3, layer="gat")
    with pytest.raises(ValueError, match="combine='mean' averages the layers.*hidden_dims=\\[8, 4\\]"):
        NGCF(3, 3, embedding_dim=8, num_layers=2, hidden_dims=[8, 4], combine="mean")
    with pytest.raises(ValueError, match="node_dropout must be in \\[0, 1\\)"):
        NGCF(3, 3, node_dropout=1.0)
    with pytest.raises(ValueError, match="message_dropout must be in \\[0, 1\\)"):
        NGCF(3, 3, message_dropout=-0.1)
    assert repr(NGCF(5, 7, 8, 2)) == (
        "NGCF(5, 7, embedding_dim=8, num_layers=2, hidden_dims=[8, 8], combine='concat', layer='ngcf')"
    )
    assert "layer='mean_concat'" in repr(NGCF(5, 7, 8, 1, layer="mean_concat"))
    # K = 0 is plain MF on the Xavier-initialised embeddings
    g = small_graph()
    model = NGCF(4, 5, 3, num_layers=0, node_dropout=0.5)
    assert torch.equal(torch.cat(model(g)), model.embedding.weight)


# NGCF learns faster per epoch than MF/LightGCN at SMALL's lr: 10 epochs at 0.01 land near 2x MostPop. One
# thread: on a shared 2-core machine, two spinning torch threads ran the same job 5-7x slower.
# slow: that it learns is tests/test_combinations.py's claim (one training per piece)
@pytest.mark.slow
def test_ngcf_training_beats_mostpop(cfg_factory):
    results = train(cfg_factory("model=ngcf", *NGCF_SMALL))
    assert results["val/recall@20"] > 1.4 * results["mostpop/val/recall@20"]
    assert results["test/recall@20"] > 1.3 * results["mostpop/test/recall@20"]


@pytest.mark.parametrize(
    "overrides",
    [
        ["loss=binary", "model.node_dropout=0.1"],
        ["model.layer=mean_concat", "model.combine=mean", "model.num_layers=2"],
    ],
)
def test_ngcf_variants_run(cfg_factory, overrides):
    results = train(cfg_factory("model=ngcf", "debug=default", "train.num_threads=1", *overrides))
    assert 0 < results["test/recall@20"] <= 1 and results["epochs"] == 2


def test_node_dropout_stays_symmetric_and_marked():
    from recsys_pyg.data.graph import is_marked_symmetric
    from recsys_pyg.models.ngcf import drop_symmetric, undirected_edge_ids
    from tests.helpers.graphs import small_graph as unequal_degrees

    g = unequal_degrees()
    torch.manual_seed(0)
    dropped = drop_symmetric(g.adj, *undirected_edge_ids(g.adj), p=0.5)
    dense = dropped.to_dense()
    assert torch.equal(dense, dense.T) and is_marked_symmetric(dropped)
    assert 0 < int((dense == 0).logical_and(g.adj.to_dense() != 0).sum()) < g.adj.values().numel()  # some dropped
