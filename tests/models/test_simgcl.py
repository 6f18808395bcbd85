"""SimGCL: the clean view is LightGCN's, the noise is eps-sized in the embedding's orthant, and the
contrastive term equals a NumPy InfoNCE over two noisy views propagated by hand."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from recsys_pyg.losses import info_nce
from recsys_pyg.models import LightGCN, SimGCL
from recsys_pyg.models.simgcl import contrast_side, first_occurrence, perturb
from recsys_pyg.train import train
from tests.helpers.configs import DATA, TRAINED
from tests.helpers.graphs import dense_normalized, random_graph
from tests.helpers.reference import np_info_nce, np_noisy_view
from tests.helpers.syncs import setup, syncs_in_steps

# The small synthetic run the models and losses of this issue train on; the recall@20 margins over MostPop
# (0.26) were checked for seeds 0 and 1 before fixing the thresholds.


def test_eps_zero_forward_equals_lightgcn_with_the_same_weights():
    g = random_graph()
    model = SimGCL(g.num_users, g.num_items, embedding_dim=8, num_layers=3, eps=0.0)
    assert model.alpha.tolist() == pytest.approx([0.0, 1 / 3, 1 / 3, 1 / 3])  # layers 1..K, as the official code
    reference = LightGCN(g.num_users, g.num_items, embedding_dim=8, num_layers=3, alpha=model.alpha.tolist())
    reference.load_state_dict(model.state_dict())
    users, items = torch.tensor([3, 0, 3]), torch.tensor([5, 1])
    for mode in (True, False):
        model.train(mode), reference.train(mode)
        for a, b in zip(model(g, users, items), reference(g, users, items)):
            assert torch.equal(a, b)
        assert torch.equal(model.propagate_views(g.adj, 0.0)[0], reference.propagate(g.adj))
    # and the clean view is the dense formula: the mean of A^k E for k = 1..3
    dense = dense_normalized(g.user, g.item, g.num_users, g.num_items)
    e = model.embedding.weight.detach()
    expected = sum(torch.linalg.matrix_power(dense, k) @ e for k in (1, 2, 3)) / 3
    assert torch.allclose(torch.cat(model(g)), expected, atol=1e-6)


def test_noise_has_norm_eps_per_row_and_the_embeddings_sign():
    x = torch.randn(50, 8)
    torch.manual_seed(3)
    noise = perturb(x, 0.1) - x
    assert torch.allclose(noise.norm(dim=1), torch.full((50,), 0.1), atol=1e-6)
    assert torch.equal(torch.sign(noise), torch.sign(x))
    torch.manual_seed(3)  # drawn from the global generator: the run's seed fixes it
    assert torch.equal(perturb(x, 0.1) - x, noise)


def test_first_occurrence_marks_each_distinct_id_once():
    ids = torch.tensor([3, 1, 3, 2, 1, 3])
    first = first_occurrence(ids)
    assert first.sum() == 3 and sorted(ids[first].tolist()) == [1, 2, 3]


def test_contrast_over_a_whole_side_equals_over_the_batch_rows():
    view1, view2 = torch.randn(10, 4), torch.randn(10, 4)
    ids = torch.tensor([2, 5, 2, 7, 5, 0, 2, 7, 1])  # 9 rows, a side of 8 nodes (rows 2..9): contrasted over the side
    distinct = torch.tensor([0, 1, 2, 5, 7]) + 2
    expected = info_nce(view1[distinct], view2[distinct], 0.2).item()
    assert contrast_side(view1, view2, ids, 2, 8, 0.2).item() == pytest.approx(expected, rel=1e-6)
    distinct = torch.tensor([2, 5, 7]) + 2  # 4 rows: over the batch's rows, each id once
    expected = info_nce(view1[distinct], view2[distinct], 0.2).item()
    assert contrast_side(view1, view2, ids[:4], 2, 8, 0.2).item() == pytest.approx(expected, rel=1e-6)


def test_auxiliary_loss_equals_numpy_infonce_of_two_noisy_views():
    g = random_graph(seed=2)
    model = SimGCL(g.num_users, g.num_items, embedding_dim=6, num_layers=2, eps=0.1, tau=0.2, cl_weight=0.5)
    users, items = torch.tensor([0, 3, 0, 5, 7]), torch.tensor([1, 1, 2, 4, 2])  # repeated ids count once
    torch.manual_seed(11)
    loss = model.auxiliary_loss(g, users, items)
    torch.manual_seed(11)  # the same draws, in the model's order: view 1 layers 1, 2, then view 2 layers 1, 2
    n, d = g.num_users + g.num_items, 6
    draws = [torch.rand(n, d).double().numpy() for _ in range(4)]
    adj = dense_normalized(g.user, g.item, g.num_users, g.num_items).double().numpy()
    e0, alpha = model.embedding.weight.detach().double().numpy(), model.alpha.double().numpy()
    view1, _ = np_noisy_view(adj, e0, 0.1, draws[:2], alpha)
    view2, _ = np_noisy_view(adj, e0, 0.1, draws[2:], alpha)
    u, i = np.array([0, 3, 5, 7]), g.num_users + np.array([1, 2, 4])
    expected = 0.5 * (np_info_nce(view1[u], view2[u], 0.2) + np_info_nce(view1[i], view2[i], 0.2))
    assert loss.item() == pytest.approx(expected, rel=1e-5)
    loss.backward()  # the term trains the embeddings
    assert model.embedding.weight.grad.abs().sum() > 0


def test_checks_arguments_and_repr():
    with pytest.raises(ValueError, match="num_layers must be a positive integer"):
        SimGCL(3, 3, num_layers=0)
    with pytest.raises(ValueError, match="tau must be > 0"):
        SimGCL(3, 3, tau=0)
    with pytest.raises(ValueError, match="eps must be >= 0"):
        SimGCL(3, 3, eps=-0.1)
    assert repr(SimGCL(5, 7, 8)) == "SimGCL(5, 7, embedding_dim=8, num_layers=2, eps=0.1, tau=0.2, cl_weight=0.5)"
    off = SimGCL(3, 3, cl_weight=0.0)
    assert off.auxiliary_loss(random_graph(3, 3, 0.9), torch.tensor([0]), torch.tensor([1])) == 0


def test_training_step_never_syncs(cfg_factory, tmp_path):
    assert syncs_in_steps(*setup(cfg_factory, tmp_path, "model=simgcl")) == []


# slow: that it learns is tests/test_combinations.py's claim (one training per piece)
@pytest.mark.slow
def test_trains_through_train_and_beats_mostpop(cfg_factory):
    # On this dense, popularity-driven toy set the paper's lambda = 0.5 spreads the embeddings past what ranking
    # allows (recall 0.20 < MostPop's 0.26, also at batch 128 or 100 epochs); a small lambda keeps the term in
    # the loop: 0.48 (LightGCN 0.57). The term's value is checked against NumPy above.
    results = train(cfg_factory("model=simgcl", "model.cl_weight=0.02", *DATA, *TRAINED))
    assert results["test/recall@20"] > 1.5 * results["mostpop/test/recall@20"]
