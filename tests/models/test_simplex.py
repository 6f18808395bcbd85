"""SimpleX: the user tower equals a per-user loop over each user's history for every aggregator, leaves a
training row's positive out, is MF at gamma = 1, scores every user as the batch path does, never syncs in
a step, and learns with CCL and many shared negatives."""

from __future__ import annotations

import pickle

import pytest
import torch

from recsys_pyg.data import BipartiteGraph
from recsys_pyg.models import MF
from recsys_pyg.models.simplex import SimpleX, masked_softmax
from recsys_pyg.train import train
from tests.helpers.configs import DATA, TRAINED
from tests.helpers.graphs import random_graph, small_graph
from tests.helpers.syncs import setup, syncs_in_steps

AGGREGATORS = ["mean", "user_attention", "self_attention", "none"]


def loop_user_vector(model: SimpleX, graph: BipartiteGraph, u: int, leave_out: int | None = None) -> torch.Tensor:
    """The paper's formula for one user, by a plain loop over its history (no dropout)."""
    e = model.embedding.weight.detach()
    e_u = e[u]
    if model.aggregator == "none":
        return e_u
    csr = graph.user_items
    history = csr.indices[csr.indptr[u] : csr.indptr[u + 1]].tolist()[: model.max_history]  # first, in CSR order
    history = [j for j in history if j != leave_out]
    if not history:
        return model.gamma * e_u
    e_j = e[[graph.num_users + j for j in history]]  # (n, d)
    if model.aggregator == "mean":
        pooled = sum(e_j[n] for n in range(len(history))) / len(history)
    else:
        key = torch.tanh(model.W_k(e_j)).detach()  # (n, d)
        query = e_u if model.aggregator == "user_attention" else model.w_q.detach()[:, 0]
        logits = [float(key[n] @ query) for n in range(len(history))]
        weights = torch.tensor(logits).exp() / torch.tensor(logits).exp().sum()
        pooled = sum(weights[n] * e_j[n] for n in range(len(history)))
    return model.gamma * e_u + (1 - model.gamma) * model.W_v(pooled).detach()


def graph_with_an_empty_user() -> BipartiteGraph:
    """3 users x 4 items; user 1 has no training item, user 0 three, user 2 one."""
    return BipartiteGraph(torch.tensor([0, 0, 0, 2]), torch.tensor([0, 2, 3, 1]), 3, 4)


LAYOUTS = ["padded", "ragged"]


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("aggregator", AGGREGATORS)
@pytest.mark.parametrize("max_history", [None, 2])
def test_user_tower_equals_a_per_user_loop(aggregator, max_history, layout):
    for g in (small_graph(), random_graph(), graph_with_an_empty_user()):
        torch.manual_seed(0)  # unit-scale embeddings: attention weights far from uniform
        model = SimpleX(
            g.num_users, g.num_items, 8, aggregator, gamma=0.3, max_history=max_history, init_std=1.0, layout=layout
        )
        model.eval()
        with torch.no_grad():
            users, items = model(g)
        expected = torch.stack([loop_user_vector(model, g, u) for u in range(g.num_users)])
        assert torch.allclose(users, expected, atol=1e-5), (aggregator, g)
        assert torch.equal(items, model.embedding.weight[g.num_users :])


def test_attention_differs_from_the_mean():  # else the loop test above would not see weights left uniform
    g = random_graph()
    mean = SimpleX(g.num_users, g.num_items, 8, "mean", init_std=1.0).eval()
    with torch.no_grad():
        for aggregator in ("user_attention", "self_attention"):
            model = SimpleX(g.num_users, g.num_items, 8, aggregator).eval()
            model.load_state_dict(mean.state_dict(), strict=False)  # same embeddings and W_v
            assert (model(g)[0] - mean(g)[0]).abs().max() > 1e-2


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("aggregator", AGGREGATORS)
def test_training_rows_leave_their_positive_out_of_the_history(aggregator, layout):
    g = random_graph()
    torch.manual_seed(1)
    model = SimpleX(g.num_users, g.num_items, 8, aggregator, gamma=0.4, init_std=1.0, layout=layout).train()
    edges = torch.tensor([0, 5, 5, 17, 40, 41])
    users, pos = g.user[edges], g.item[edges]
    items = torch.cat([pos, torch.tensor([3, 9, 1])])  # positives first, then negatives: score_batch's layout
    user_emb, item_emb = model(g, users, items)
    expected = torch.stack([loop_user_vector(model, g, int(u), int(i)) for u, i in zip(users, pos)])
    assert torch.allclose(user_emb, expected, atol=1e-5)
    assert torch.equal(item_emb, model.embedding.weight[g.num_users + items])
    model.eval()  # evaluation, or a batch in eval mode: the whole history
    with torch.no_grad():
        assert torch.allclose(model(g, users, items)[0], model(g)[0][users], atol=1e-6)


@pytest.mark.parametrize("aggregator", AGGREGATORS)
def test_gamma_one_is_mf_with_the_same_weights(aggregator):
    g = random_graph()
    model = SimpleX(g.num_users, g.num_items, 8, aggregator, gamma=1.0, init_std=1.0)
    mf = MF(g.num_users, g.num_items, 8)
    mf.embedding.load_state_dict(model.embedding.state_dict())
    users, items = torch.tensor([4, 0, 4, 39]), torch.tensor([2, 7, 29])
    for mode in (True, False):
        model.train(mode), mf.train(mode)
        for a, b in zip(model(g, users, items), mf(g, users, items)):
            assert torch.allclose(a, b, atol=1e-6)
    with torch.no_grad():
        for a, b in zip(model(g), mf(g)):
            assert torch.allclose(a, b, atol=1e-6)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("aggregator", AGGREGATORS)
def test_every_user_in_chunks_equals_the_batch_path(aggregator, layout):
    g = random_graph()
    # padded, chunks of 25 entries hold 1 user (13 < 30 items: keys per history entry); ragged, a few users each;
    # all at once: keys per item, gathered
    model = SimpleX(g.num_users, g.num_items, 8, aggregator, init_std=1.0, chunk_size=25, layout=layout).eval()
    assert model.history_width(g) == int(g.user_degree.max()) == 13
    with torch.no_grad():
        users, _ = model(g)
        whole = SimpleX(g.num_users, g.num_items, 8, aggregator, chunk_size=10**6, layout=layout)
        whole.load_state_dict(model.state_dict())
        assert torch.allclose(users, whole.eval()(g)[0], atol=1e-6)
        batch = torch.tensor([7, 3, 7, 0, 39])
        assert torch.allclose(model(g, batch, torch.tensor([1]))[0], users[batch], atol=1e-6)


@pytest.mark.parametrize("aggregator", AGGREGATORS)
def test_ragged_and_padded_give_the_same_vectors_and_gradients(aggregator):
    g = random_graph()
    edges = torch.tensor([0, 5, 5, 17, 40, 41, 60])
    users, items = g.user[edges], torch.cat([g.item[edges], torch.tensor([3, 9])])  # positives left out
    grads = []
    for layout in LAYOUTS:
        torch.manual_seed(2)
        model = SimpleX(g.num_users, g.num_items, 8, aggregator, gamma=0.4, max_history=9, init_std=1.0, layout=layout)
        user_emb, item_emb = model.train()(g, users, items)
        ((user_emb * torch.linspace(-1, 1, 8)).sum() + item_emb.square().sum()).backward()
        grads.append((user_emb.detach(), {n: p.grad for n, p in model.named_parameters()}))
    (padded, padded_grad), (ragged, ragged_grad) = grads
    assert model.ragged() and torch.allclose(padded, ragged, atol=1e-6)
    for name, grad in padded_grad.items():
        assert torch.allclose(grad, ragged_grad[name], atol=1e-5), name


def test_auto_layout_is_ragged_on_the_cpu_and_a_bad_layout_is_refused():
    assert SimpleX(3, 3).ragged() and not SimpleX(3, 3, layout="padded").ragged()
    with pytest.raises(ValueError, match="layout must be one of auto, ragged, padded"):
        SimpleX(3, 3, layout="jagged")


def test_masked_softmax_skips_padding_and_empty_rows_without_nan():
    logits = torch.tensor([[1.0, 2.0, 50.0], [0.5, 0.0, 0.0], [3.0, 1.0, 2.0]], requires_grad=True)
    valid = torch.tensor([[True, True, False], [False, False, False], [True, True, True]])
    alpha = masked_softmax(logits, valid)
    assert torch.allclose(alpha[0, :2], torch.tensor([1.0, 2.0]).softmax(0)) and alpha[0, 2] == 0
    assert torch.equal(alpha[1], torch.zeros(3))
    assert torch.allclose(alpha[2], logits[2].softmax(0))
    (alpha * torch.randn(3, 3)).sum().backward()
    assert torch.isfinite(logits.grad).all() and torch.equal(logits.grad[1], torch.zeros(3))


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("aggregator", ["user_attention", "self_attention"])
def test_gradients_reach_every_parameter_and_stay_finite_with_an_empty_history(aggregator, layout):
    g = graph_with_an_empty_user()
    model = SimpleX(g.num_users, g.num_items, 4, aggregator, init_std=1.0, layout=layout).train()
    users, items = model(g, torch.tensor([0, 1, 2]), torch.tensor([2, 0, 1, 3]))
    (users.sum() + items.sum()).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name


def test_dropout_only_in_training():
    g = random_graph()
    model = SimpleX(g.num_users, g.num_items, 16, "mean", net_dropout=0.5, init_std=1.0)
    users, items = torch.arange(10), torch.arange(10)
    model.eval()
    clean = model(g, users, items)[0]
    assert torch.equal(clean, model(g, users, items)[0])
    model.train()
    dropped = model(g, users, items)[0]
    assert (dropped == 0).float().mean() > 0.2  # about half the entries zeroed, the rest scaled by 2


def test_l2_penalty_is_half_squared_norm_over_the_batch():
    model = SimpleX(3, 2, embedding_dim=2)
    with torch.no_grad():
        model.embedding.weight.copy_(torch.tensor([[1.0, 0], [0, 2], [1, 1], [3, 0], [0, 1]]))
    # users 0,1 -> 1 + 4; items 0 (node 3), 1 (node 4), 1 -> 9 + 1 + 1; / (2 * 2)
    assert model.l2_penalty(torch.tensor([0, 1]), torch.tensor([0, 1, 1])).item() == pytest.approx(16 / 4)


def test_bad_arguments_are_refused_and_repr():
    for kwargs, match in [
        ({"aggregator": "sum"}, "aggregator must be one of mean, user_attention"),
        ({"gamma": 1.5}, "gamma"),
        ({"net_dropout": 1.0}, "net_dropout"),
        ({"attention_dropout": -0.1}, "attention_dropout"),
        ({"max_history": 0}, "max_history"),
        ({"chunk_size": 0}, "chunk_size"),
        ({"init_std": 0.0}, "init_std"),
        ({"embedding_dim": 0}, "embedding_dim"),
    ]:
        with pytest.raises(ValueError, match=match):
            SimpleX(3, 3, **kwargs)
    with pytest.raises(ValueError, match="build the model from the same data"):
        SimpleX(3, 3)(small_graph())
    assert repr(SimpleX(5, 7, 8)) == "SimpleX(5, 7, embedding_dim=8, aggregator='mean', gamma=0.5)"
    counts = {a: sum(p.numel() for p in SimpleX(5, 7, 8, a).parameters()) for a in AGGREGATORS}
    assert counts == {"none": 96, "mean": 96 + 64, "user_attention": 96 + 64 + 72, "self_attention": 96 + 64 + 80}


def test_pickles_without_its_cached_width():
    g = small_graph()
    model = SimpleX(g.num_users, g.num_items, 4, "user_attention")
    model(g)
    copy = pickle.loads(pickle.dumps(model))
    assert torch.equal(copy(g)[0], model(g)[0])


def test_padded_training_step_never_syncs(cfg_factory, tmp_path):  # the width is read once, in the first step
    run = setup(cfg_factory, tmp_path, "model=simplex", "model.layout=padded", "loss=ccl", "sampler=shared")
    assert syncs_in_steps(*run) == []


def test_trains_through_train_and_beats_mostpop(cfg_factory):
    # The authors' model (user attention, gamma 0.8, dropout 0.1) at this file's learning rate (5e-3, 20 epochs):
    # their init std 1e-4 goes with their lr 1e-4 (Adam's first steps would swamp it), so 0.1 as MF's.
    # max_history=32 (of at most 88) also runs the capped history through a whole run.
    model = ["model=simplex", "model.init_std=0.1", "model.max_history=32"]
    overrides = [*model, "loss=ccl", "sampler=shared", "sampler.num_negatives=100", "train.num_threads=1"]
    results = train(cfg_factory(*overrides, *DATA, *TRAINED))
    assert results["test/recall@20"] > 1.3 * results["mostpop/test/recall@20"]  # seeds 0, 1: 1.56x, 1.53x
