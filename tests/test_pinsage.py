"""PinSAGE: the conv against its dense formula, the random walks against exact expectations, mini-batch vs full."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from recsys_pyg.data import BipartiteGraph, make_synthetic
from recsys_pyg.data.random_walk import importance_neighborhoods
from recsys_pyg.models import PinSAGE, PinSAGEConv
from recsys_pyg.train import train
from tests.test_train import SMALL


def test_conv_equals_dense_formula_edge_list_and_sparse():
    torch.manual_seed(0)
    conv = PinSAGEConv((5, 4), hidden_channels=3, out_channels=6)
    x_src, x_dst = torch.randn(7, 5), torch.randn(3, 4)
    # target t pools sources with importance weights (rows sum to 1); target 2 has no neighbours
    weights = torch.zeros(3, 7)
    weights[0, [1, 4]] = torch.tensor([0.75, 0.25])
    weights[1, [0, 2, 6]] = torch.tensor([0.5, 0.3, 0.2])
    q = torch.relu(x_src @ conv.lin_q.weight.T + conv.lin_q.bias)  # (7, 3)
    n = weights @ q  # (3, 3)
    expected = F.normalize(torch.relu(torch.cat([x_dst, n], 1) @ conv.lin_w.weight.T + conv.lin_w.bias), dim=-1)
    dst, src = weights.nonzero(as_tuple=True)
    out_edges = conv((x_src, x_dst), torch.stack([src, dst]), weights[dst, src])
    out_sparse = conv((x_src, x_dst), weights.to_sparse_csr())
    assert torch.allclose(out_edges, expected, atol=1e-5)
    assert torch.allclose(out_sparse, expected, atol=1e-5)
    # parameter count: Q (5*3 + 3) + W ((4 + 3) * 6 + 6)
    assert sum(p.numel() for p in conv.parameters()) == 5 * 3 + 3 + 7 * 6 + 6
    assert repr(conv) == "PinSAGEConv((5, 4), 3, 6)"


def tiny_graph() -> BipartiteGraph:
    # users 0..3, items 0..4
    user = torch.tensor([0, 0, 1, 1, 1, 2, 2, 3, 3])
    item = torch.tensor([0, 1, 1, 2, 3, 3, 4, 0, 4])
    return BipartiteGraph(user, item, 4, 5)


def expected_weights(graph: BipartiteGraph, side: str, walk_length: int) -> torch.Tensor:
    """Exact expected visit frequencies of same-side nodes (start excluded), normalised per row."""
    a = torch.zeros(graph.num_users, graph.num_items)
    a[graph.user, graph.item] = 1
    if side == "item":
        a = a.T
    p_out = a / a.sum(1, keepdim=True)
    p_back = a.T / a.T.sum(1, keepdim=True)
    two_hop = p_out @ p_back  # (n, n)
    visits = sum(torch.linalg.matrix_power(two_hop, s) for s in range(1, walk_length + 1))
    visits.fill_diagonal_(0)
    return visits / visits.sum(1, keepdim=True)


@pytest.mark.parametrize("walk_length", [1, 3])
def test_random_walk_visits_match_expectations(walk_length):
    graph = tiny_graph()
    nb = importance_neighborhoods(graph, num_walks=20000, walk_length=walk_length, top_t=4, seed=1)
    for side, rows, offset in (("user", slice(0, 4), 0), ("item", slice(4, 9), 4)):
        expected = expected_weights(graph, side, walk_length)
        got = torch.zeros_like(expected)
        index, weight = nb.index[rows] - offset, nb.weight[rows]
        got.scatter_add_(1, index, weight)
        assert torch.allclose(got, expected, atol=0.02), (side, got, expected)


def test_neighbourhoods_are_same_side_and_never_self():
    data = make_synthetic(300, 400, 6000, seed=2)
    graph = BipartiteGraph(data.user, data.item, 300, 400)
    nb = importance_neighborhoods(graph, num_walks=20, walk_length=2, top_t=8)
    assert nb.index.shape == (700, 8)
    node = torch.arange(700)[:, None].expand_as(nb.index)
    real = nb.weight > 0
    assert not (nb.index[real] == node[real]).any()
    is_user = node < 300
    assert ((nb.index < 300) == is_user)[real].all()
    assert torch.allclose(nb.weight.sum(1)[real.any(1)], torch.ones(int(real.any(1).sum())))
    assert (nb.weight[:, :-1] >= nb.weight[:, 1:]).all()  # most visited first
    assert importance_neighborhoods(graph, num_walks=20, walk_length=2, top_t=8) is nb  # cached on the graph


def test_minibatch_equals_full_inference_and_features_count():
    data = make_synthetic(200, 300, 6000, seed=3)
    graph = BipartiteGraph(data.user, data.item, 200, 300)
    feats = torch.randn(300, 5)
    model = PinSAGE(200, 300, embedding_dim=8, hidden_dim=6, num_layers=2, item_features=feats, chunk_size=64).eval()
    assert model.proj["item"].weight.abs().sum() == 0  # features start as a zero residual
    torch.nn.init.normal_(model.proj["item"].weight)  # as after some training
    users_all, items_all = model(graph)
    users, items = torch.tensor([5, 0, 199, 5]), torch.tensor([299, 3])
    u, i = model(graph, users, items)
    assert torch.allclose(u, users_all[users], atol=1e-5) and torch.allclose(i, items_all[items], atol=1e-5)
    d, h = 8, 6
    conv = lambda din: din * h + h + (din + h) * h + h  # noqa: E731
    per_side = conv(d) + conv(h) + (h * h + h) + (h * d + d)
    assert sum(p.numel() for p in model.parameters()) == (200 + 300) * d + 2 * per_side + (5 * d + d)
    other = PinSAGE(200, 300, 8, 6, 2, item_features=feats + 1.0, chunk_size=64).eval()
    other.load_state_dict(model.state_dict() | {"item_features": feats + 1.0})
    assert not torch.allclose(other(graph)[1], items_all)  # the features enter the item tower
    assert repr(model) == "PinSAGE(200, 300, embedding_dim=8, num_layers=2, features=['item'])"
    with pytest.raises(ValueError, match="item_features has 3 rows"):
        PinSAGE(200, 300, item_features=torch.randn(3, 2))


@pytest.mark.parametrize("loss", ["bpr", "margin"])
def test_pinsage_beats_mostpop(cfg_factory, loss):
    overrides = [o for o in SMALL if not o.startswith(("optimizer.lr", "train.epochs"))]
    results = train(
        cfg_factory(
            "model=pinsage", f"loss={loss}", "model.num_layers=1", "optimizer.lr=0.005", "train.epochs=40", *overrides
        )
    )
    assert results["val/recall@20"] > 1.3 * results["mostpop/val/recall@20"]
    assert results["test/recall@20"] > 1.2 * results["mostpop/test/recall@20"]


class _CaptureConv(torch.nn.Module):
    """Stands in for a PinSAGEConv: records the pooling weights per (target, global neighbour)."""

    def __init__(self, prev: list, out_dim: int) -> None:
        super().__init__()
        self.prev, self.out_dim, self.seen = prev, out_dim, []

    def forward(self, x, edge_index, edge_weight):
        src, dst = edge_index
        self.seen.append((dst, self.prev[0][src], edge_weight))
        return torch.zeros(x[1].shape[0], self.out_dim)


def test_capped_layer_pools_an_unbiased_estimate():
    data = make_synthetic(200, 300, 6000, seed=0)
    g = BipartiteGraph(data.user, data.item, 200, 300)
    model = PinSAGE(200, 300, embedding_dim=8, hidden_dim=8, num_layers=1, max_hop_nodes=5)
    items = torch.tensor([0, 3, 7])
    index, weight = model._side_tables(g, "item")
    exact = torch.zeros(3, 300)
    exact.scatter_add_(1, index[items], weight[items])  # the full pooling weights of each target
    prev: list = [None]
    capture = _CaptureConv(prev, 8)
    model.convs["item"][0] = capture
    model.train()
    torch.manual_seed(0)
    total, draws, capped = torch.zeros(3, 300), 3000, 0
    for _ in range(draws):
        sets, scales = model.node_sets(g, "item", items)
        prev[0] = sets[0]
        capped += scales[0] > 1
        assert sets[0].numel() <= 3 + 5  # the targets and at most max_hop_nodes more
        model._layer("item", 0, torch.zeros(sets[0].numel(), 8), sets[0], items, index, weight, scales[0])
        dst, nbr, w = capture.seen.pop()
        total.index_put_((dst, nbr), w, accumulate=True)
    assert capped == draws  # ~30 neighbours for 5 places: the cap bites every time
    mean = total / draws
    assert torch.allclose(mean.sum(1), exact.sum(1), atol=0.03)  # the pooled mass, on average, is all there
    assert (mean - exact).abs().max() < 0.02
    model.eval()  # inference never caps
    sets, scales = model.node_sets(g, "item", items)
    assert scales == [1.0] and sets[0].numel() > 8
