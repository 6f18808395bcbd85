import torch

from recsys_pyg.optim import MixedAdam


def test_dense_params_follow_torch_adam_and_sparse_params_follow_sparse_adam():
    torch.manual_seed(0)
    dense_a = torch.nn.Linear(4, 3)
    dense_b = torch.nn.Linear(4, 3)
    dense_b.load_state_dict(dense_a.state_dict())
    emb_a = torch.nn.Embedding(10, 4, sparse=True)
    emb_b = torch.nn.Embedding(10, 4, sparse=True)
    emb_b.load_state_dict(emb_a.state_dict())
    ours = MixedAdam([*dense_a.parameters(), *emb_a.parameters()], lr=0.01)
    ref_dense = torch.optim.Adam(dense_b.parameters(), lr=0.01)
    ref_sparse = torch.optim.SparseAdam(emb_b.parameters(), lr=0.01)
    for step in range(5):
        idx = torch.randint(10, (6,), generator=torch.Generator().manual_seed(step))
        for dense, emb in ((dense_a, emb_a), (dense_b, emb_b)):
            (dense(emb(idx)) ** 2).sum().backward()
        ours.step()
        ref_dense.step()
        ref_sparse.step()
        for opt in (ours, ref_dense, ref_sparse):
            opt.zero_grad()
    for a, b in zip([*dense_a.parameters(), *emb_a.parameters()], [*dense_b.parameters(), *emb_b.parameters()]):
        assert torch.allclose(a, b, atol=1e-6)
    # untouched rows never move
    assert ours.state_dict()["state"]


def test_sparse_mf_and_pinsage_train_with_mixed_adam(cfg_factory):
    from recsys_pyg.train import train
    from tests.helpers.configs import SMALL

    results = train(cfg_factory("model=mf", "model.sparse=true", "optimizer=mixed_adam", *SMALL))
    assert results["val/recall@20"] > 1.4 * results["mostpop/val/recall@20"]
    results = train(cfg_factory("model=pinsage", "model.sparse=true", "optimizer=mixed_adam", "debug=default"))
    assert 0 <= results["test/recall@20"] <= 1
