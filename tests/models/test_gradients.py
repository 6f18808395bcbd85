"""Every propagating model's gradient equals dense autograd's on a graph with unequal degrees.

The sparse path multiplies by an explicit transpose in its backward pass; here the same models
run with that product replaced by a dense ``adj.to_dense() @ x`` through plain autograd, whose
gradient is right by construction. A propagation that used a non-symmetric matrix (a sampled
block, say) as its own transpose would fail here.
"""

from __future__ import annotations

import pytest
import torch

from recsys_pyg.models import propagation
from recsys_pyg.models.lightgcn import LightGCN
from recsys_pyg.models.mf import MF
from recsys_pyg.models.ngcf import NGCF
from recsys_pyg.models.simgcl import SimGCL
from recsys_pyg.models.xsimgcl import XSimGCL
from tests.helpers.graphs import small_graph


class DenseSpMM:
    """Stands in for ``propagation._SpMM``: the product through dense autograd, transpose unused."""

    @staticmethod
    def apply(adj: torch.Tensor, adj_t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return adj.to_dense() @ x


MODELS = {
    "lightgcn": lambda u, i: LightGCN(u, i, embedding_dim=6, num_layers=3),
    # fanout above every degree: the sampled blocks (non-symmetric, with their transposes) are exact
    "lightgcn_sampled": lambda u, i: LightGCN(u, i, embedding_dim=6, num_layers=2, fanout=[10, 10]),
    "ngcf": lambda u, i: NGCF(u, i, embedding_dim=6, num_layers=2, message_dropout=0.0),
    "ngcf_mean_concat": lambda u, i: NGCF(
        u, i, embedding_dim=6, num_layers=2, message_dropout=0.0, layer="mean_concat"
    ),  # fmt: skip
    "simgcl": lambda u, i: SimGCL(u, i, embedding_dim=6, num_layers=2),
    "xsimgcl": lambda u, i: XSimGCL(u, i, embedding_dim=6, num_layers=2),
    "mf": lambda u, i: MF(u, i, embedding_dim=6),
}


def gradients(model: torch.nn.Module, graph, users, items, weights) -> dict[str, torch.Tensor]:
    torch.manual_seed(1)  # the same noise (SimGCL's views) in both runs
    model.zero_grad(set_to_none=True)
    user_emb, item_emb = model(graph, users, items)
    loss = (user_emb * weights[0][:, : user_emb.shape[1]]).sum() + (item_emb * weights[1][:, : item_emb.shape[1]]).sum()
    if hasattr(model, "auxiliary_loss"):
        loss = loss + model.auxiliary_loss(graph, users, items[: users.numel()])
    loss.backward()
    return {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_model_gradient_equals_dense_autograd(name, monkeypatch):
    g = small_graph()
    torch.manual_seed(0)
    model = MODELS[name](g.num_users, g.num_items).train()
    users, items = torch.tensor([0, 3, 1, 0]), torch.tensor([2, 4, 0, 1, 3, 2])
    weights = (torch.randn(users.numel(), 32), torch.randn(items.numel(), 32))  # cut to the output width
    sparse = gradients(model, g, users, items, weights)
    monkeypatch.setattr(propagation, "_SpMM", DenseSpMM)
    dense = gradients(model, g, users, items, weights)
    assert sparse.keys() == dense.keys() and sparse
    for key in sparse:
        assert torch.allclose(sparse[key], dense[key], atol=1e-5), f"{name}: gradient of {key} differs"
