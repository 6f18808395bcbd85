"""LightGCN: the layer combination, its L2 penalty, size checks and repr."""

import pytest
import torch

from recsys_pyg.models import MF, LightGCN
from tests.helpers.graphs import dense_normalized, small_graph


@pytest.mark.parametrize("alpha", [None, [0.1, 0.2, 0.3, 0.4]])
def test_lightgcn_equals_layer_combination(alpha):
    g = small_graph()
    model = LightGCN(g.num_users, g.num_items, embedding_dim=6, num_layers=3, alpha=alpha)
    a = torch.tensor(alpha) if alpha else torch.full((4,), 0.25)
    dense = dense_normalized(g.user, g.item, g.num_users, g.num_items)
    e = model.embedding.weight.detach()
    expected = sum(a[k] * torch.linalg.matrix_power(dense, k) @ e for k in range(4))
    users, items = model(g)
    assert torch.allclose(torch.cat([users, items]), expected, atol=1e-6)
    u, i = model(g, torch.tensor([2, 0]), torch.tensor([3]))
    assert torch.allclose(u, expected[[2, 0]], atol=1e-6) and torch.allclose(i, expected[[4 + 3]], atol=1e-6)


def test_l2_penalty_is_half_squared_norm_over_batch():
    model = MF(3, 2, embedding_dim=2)
    with torch.no_grad():
        model.embedding.weight.copy_(torch.tensor([[1.0, 0], [0, 2], [1, 1], [3, 0], [0, 1]]))
    # users 0,1 -> 1 + 4; items 0 (node 3), 1 (node 4), 1 -> 9 + 1 + 1; / (2 * 2)
    assert model.l2_penalty(torch.tensor([0, 1]), torch.tensor([0, 1, 1])).item() == pytest.approx(16 / 4)


def test_models_reject_bad_sizes_and_repr():
    with pytest.raises(ValueError, match="embedding_dim must be a positive integer"):
        LightGCN(3, 3, embedding_dim=0)
    with pytest.raises(ValueError, match="num_layers"):
        LightGCN(3, 3, num_layers=-1)
    with pytest.raises(ValueError, match="alpha needs num_layers \\+ 1 = 3"):
        LightGCN(3, 3, num_layers=2, alpha=[1.0])
    with pytest.raises(ValueError, match="embedding_dim"):
        MF(3, 3, embedding_dim=-4)
    assert repr(LightGCN(5, 7, 8, 2)) == "LightGCN(5, 7, embedding_dim=8, num_layers=2)"
    assert repr(MF(5, 7, 8)) == "MF(5, 7, embedding_dim=8)"
    assert sum(p.numel() for p in LightGCN(5, 7, 8, 2).parameters()) == (5 + 7) * 8
