"""PinSAGE: mini-batch equals full inference, capped layers pool unbiased estimates, training beats MostPop."""

from __future__ import annotations

import pytest
import torch

from recsys_pyg.data import BipartiteGraph, make_synthetic
from recsys_pyg.models import PinSAGE
from recsys_pyg.train import train
from tests.helpers.configs import SMALL


class _CaptureConv(torch.nn.Module):
    """Stands in for a PinSAGEConv: records the pooling weights per (target, global neighbour)."""

    def __init__(self, prev: list, out_dim: int) -> None:
        super().__init__()
        self.prev, self.out_dim, self.seen = prev, out_dim, []

    def forward(self, x, edge_index, edge_weight):
        src, dst = edge_index
        self.seen.append((dst, self.prev[0][src], edge_weight))
        return torch.zeros(x[1].shape[0], self.out_dim)


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


# margin 0.5: with the default 0.1 this run lands at 1.22-1.35x MostPop on test over seeds 0/1/42 and 1 or 2
# threads, too close to the threshold to be a test of anything; with 0.5 at 1.57-1.71x (seeds 0, 42)
# bpr: slow (PinSAGE + BPR learns in tests/test_combinations.py); margin, its paper's loss, stays
SLOW_BPR = pytest.param(["loss=bpr"], marks=pytest.mark.slow)


@pytest.mark.parametrize("loss", [SLOW_BPR, ["loss=margin", "loss.margin=0.5"]], ids=["bpr", "margin"])
def test_pinsage_beats_mostpop(cfg_factory, loss):
    overrides = [o for o in SMALL if not o.startswith(("optimizer.lr", "train.epochs"))]
    results = train(
        cfg_factory("model=pinsage", *loss, "model.num_layers=1", "optimizer.lr=0.005", "train.epochs=40", *overrides)
    )
    assert results["val/recall@20"] > 1.3 * results["mostpop/val/recall@20"]
    assert results["test/recall@20"] > 1.2 * results["mostpop/test/recall@20"]


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


def test_capped_layers_draw_from_the_model_generator():
    data = make_synthetic(200, 300, 6000, seed=0)
    g = BipartiteGraph(data.user, data.item, 200, 300)
    items = torch.tensor([0, 3, 7])
    models = [
        PinSAGE(200, 300, 8, 8, num_layers=1, max_hop_nodes=5, generator=torch.Generator().manual_seed(seed)).train()
        for seed in (1, 1, 2, 3, 4, 5)
    ]
    global_state = torch.get_rng_state()  # after construction: initialisation draws from it, sampling must not
    first, second, *others = (model.node_sets(g, "item", items)[0][0] for model in models)  # the layer-0 sets
    assert torch.equal(torch.get_rng_state(), global_state)  # torch's global generator untouched
    assert torch.equal(first, second) and first.numel() == 3 + 5  # the cap drew, and the same way
    assert any(not torch.equal(first, other) for other in others)  # and the seed matters


def _toy(seed: int = 3):
    """The synthetic graph with items 0..9 cold (their edges removed)."""
    data = make_synthetic(200, 300, 6000, seed=seed)
    warm = data.item >= 10
    return BipartiteGraph(data.user[warm], data.item[warm], 200, 300), data.item_features


@pytest.mark.parametrize("mode", [False, "dropout"])
def test_inductive_minibatch_equals_full_inference_and_cold_items_come_from_features(mode):
    graph, feats = _toy()
    cats = torch.randint(0, 4, (300, 2), generator=torch.Generator().manual_seed(0))
    model = PinSAGE(200, 300, 8, 6, 2, item_features=feats, item_categories=cats, id_embedding=mode).eval()
    assert model.inductive and model.categories["item"][1].num_embeddings == 4
    users_all, items_all = model(graph)
    users, items = torch.tensor([5, 0, 199, 5]), torch.tensor([299, 3, 3])
    u, i = model(graph, users, items)
    assert torch.allclose(u, users_all[users], atol=1e-5) and torch.allclose(i, items_all[items], atol=1e-5)
    # an item without training edges: no ID row and no neighbours, so two cold items with equal
    # features get equal embeddings, whatever their ID rows hold
    a, b = 2, 7  # both cold
    model.item_features[b], model.item_categories[b] = model.item_features[a], model.item_categories[a]
    again = model(graph)[1]
    torch.testing.assert_close(again[a], again[b])
    assert graph.item_degree[:10].sum() == 0 and not torch.allclose(again[a], again[12])


def test_id_embedding_false_has_no_id_rows_and_users_come_from_history():
    graph, feats = _toy()
    model = PinSAGE(200, 300, 8, 6, 1, item_features=feats, id_embedding=False).eval()
    assert model.embedding is None and float(model.l2_penalty(torch.tensor([0]), torch.tensor([1]))) == 0.0
    d = 8
    conv = lambda din: din * 6 + 6 + (din + 6) * 6 + 6  # noqa: E731
    per_side = conv(d) + (6 * 6 + 6) + (6 * d + d)
    assert sum(p.numel() for p in model.parameters()) == 2 * per_side + (16 * d + d)  # no ID table
    # user 0's input is the mean of its training items' projected features
    items = graph.user_items.indices[graph.user_items.indptr[0] : graph.user_items.indptr[1]]
    expected = model.proj["item"](feats[items]).mean(0)
    torch.testing.assert_close(model._input(graph, "user", torch.tensor([0]))[0], expected)
    assert "id_embedding=false" in repr(model)
    with pytest.raises(ValueError, match="no item features"):
        PinSAGE(200, 300, id_embedding=False)
    with pytest.raises(ValueError, match="id_embedding must be true, false or dropout"):
        PinSAGE(200, 300, item_features=feats, id_embedding="sometimes")


def test_id_dropout_drops_rows_in_training_only():
    graph, feats = _toy()
    model = PinSAGE(200, 300, 8, 6, 1, item_features=feats, id_embedding="dropout", id_dropout=0.25,
                    generator=torch.Generator().manual_seed(0))  # fmt: skip
    model.train()
    unseen = torch.cat([model._unseen(torch.arange(300)) for _ in range(20)])
    assert abs(float(unseen.float().mean()) - 0.25) < 0.03
    torch.testing.assert_close(model._id_mask(graph, "item", torch.arange(3), unseen[:3])[:, 0], (~unseen[:3]).float())
    model.eval()
    assert model._unseen(torch.arange(300)) is None
    torch.testing.assert_close(model._id_mask(graph, "item", torch.arange(300))[:, 0], (graph.item_degree > 0).float())


@pytest.mark.parametrize("mode", [False, "dropout"])
def test_a_training_row_leaves_its_positive_out_of_its_users_history(monkeypatch, mode):
    """Row b's user embedding (one layer) equals the one its user gets when its history lacks row b's positive:
    no training pair scores its positive's own features (SimpleX's history.remove(item))."""
    graph, feats = _toy()
    model = PinSAGE(200, 300, 8, 6, 1, item_features=feats, id_embedding=mode, id_dropout=0.0).train()
    users = torch.tensor([0, 0, 7])
    history = lambda u: graph.user_items.indices[graph.user_items.indptr[u] : graph.user_items.indptr[u + 1]]  # noqa: E731
    pos = torch.stack([history(0)[0], history(0)[1], history(7)[-1]])
    rows, _ = model(graph, users, torch.cat([pos, torch.tensor([5, 6])]))  # the positives first, then negatives
    assert not torch.allclose(rows[0], rows[1])  # one user, two positives, two histories
    real = model._history
    for b in range(3):
        u, left = int(users[b]), int(pos[b])

        def without(graph, ids, u=u, left=left):  # noqa: ANN001
            out = real(graph, ids)
            keep = history(u)[history(u) != left]
            out[ids == u] = model.features_input("item", keep).mean(0)
            return out

        monkeypatch.setattr(model, "_history", without)
        want = model.embed(graph, "user", users[b : b + 1])
        monkeypatch.setattr(model, "_history", real)
        torch.testing.assert_close(rows[b : b + 1], want, rtol=1e-5, atol=1e-6)
    # evaluation keeps the whole history: the batch path equals full inference
    model.eval()
    torch.testing.assert_close(model(graph, users, pos)[0], model(graph)[0][users], rtol=1e-5, atol=1e-6)


def test_two_layers_leave_the_positive_out_and_train():
    """Two layers: rows of one user with different positives differ in training only, and a step's gradient
    is finite (the per-row chain runs through every layer)."""
    graph, feats = _toy()
    model = PinSAGE(200, 300, 8, 6, 2, item_features=feats, id_embedding=False).train()
    h = graph.user_items.indices[graph.user_items.indptr[3] : graph.user_items.indptr[4]]
    users, pos = torch.tensor([3, 3]), h[:2]
    u, i = model(graph, users, pos)
    assert not torch.allclose(u[0], u[1])
    (u * i).sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
    model.eval()
    u, _ = model(graph, users, pos)
    torch.testing.assert_close(u[0], u[1])


@pytest.mark.parametrize("mode", [False, "dropout"])
def test_cold_dropout_embeds_a_warm_item_exactly_as_an_item_without_edges(monkeypatch, mode):
    """A batch item the step treats as cold (cold_dropout) gets what a truly cold item with its features gets at
    inference: no ID row, nothing pooled from neighbours, at every layer."""
    graph, feats = _toy()
    model = PinSAGE(200, 300, 8, 6, 2, item_features=feats, id_embedding=mode, id_dropout=0.0, cold_dropout=0.3,
                    generator=torch.Generator().manual_seed(0))  # fmt: skip
    warm, cold = 12, 2
    assert graph.item_degree[warm] > 0 and graph.item_degree[cold] == 0
    model.item_features[cold] = model.item_features[warm]
    monkeypatch.setattr(
        model, "_simulated_cold", lambda side, ids: torch.tensor([warm]) if side == "item" and model.training else None
    )
    model.train()
    _, trained = model(graph, torch.tensor([0, 1]), torch.tensor([warm, 40, warm]))
    model.eval()
    _, inferred = model(graph, torch.tensor([0]), torch.tensor([cold, 40]))
    torch.testing.assert_close(trained[0], inferred[0])
    torch.testing.assert_close(trained[2], inferred[0])
    assert not torch.allclose(trained[0], model(graph, torch.tensor([0]), torch.tensor([warm]))[1][0])  # warm differs
    monkeypatch.undo()
    model.train()
    drawn = torch.cat([model._simulated_cold("item", torch.arange(300)) for _ in range(20)])
    assert abs(drawn.numel() / 6000 - 0.3) < 0.03 and model._simulated_cold("user", torch.arange(9)) is None
    with pytest.raises(ValueError, match="cold_dropout"):
        PinSAGE(200, 300, item_features=feats, id_embedding=True, cold_dropout=0.1)
