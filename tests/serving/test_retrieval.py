"""Retriever: the exact path is the evaluator's top-K; two stages with every item as candidates equal it."""

import pytest
import torch

from recsys_pyg.data.graph import CSR
from recsys_pyg.evaluation import Evaluator
from recsys_pyg.serving.retrieval import Retriever, ShortTopKWarning


def problem(num_users=120, num_items=300, dim=16, seed=0):
    gen = torch.Generator().manual_seed(seed)
    user, item = torch.randn(num_users, dim, generator=gen), torch.randn(num_items, dim, generator=gen)
    seen_mask = torch.rand(num_users, num_items, generator=gen) < 0.1
    seen_mask[0] = True  # a user who has seen everything: nothing to recommend
    seen_mask[0, :3] = False  # ... but three items
    rows, cols = seen_mask.nonzero(as_tuple=True)
    return user, item, CSR.from_pairs(rows, cols, num_users, num_items), seen_mask


def test_exact_is_the_evaluators_top_k_and_never_seen():
    user, item, seen, mask = problem()
    users = torch.arange(120)
    with pytest.warns(ShortTopKWarning, match=r"1 of 120 user\(s\) got fewer than 10 items"):  # user 0
        scores, items = Retriever(user, item, seen, chunk_size=50).top_k(users, 10)
    expected = Evaluator(ks=[10], chunk_size=50).top_k(user, item, users, 10, exclude=[seen])
    assert torch.equal(items[1:], expected[1:])
    assert torch.equal(items[0, :3], expected[0, :3]) and (items[0, 3:] == -1).all()  # padded, not seen items
    assert not mask[users[:, None].expand_as(items)[items >= 0], items[items >= 0]].any()
    direct = (user[:, None, :] * item[items.clamp_min(0)]).sum(-1)
    assert torch.allclose(scores[items >= 0], direct[items >= 0], atol=1e-5)
    assert (scores[:, :-1] >= scores[:, 1:]).all()  # best first


@pytest.mark.parametrize("index,options", [("flat", {}), ("ivfpq", {"nlist": 4, "nprobe": 4})])
def test_two_stage_with_every_item_as_candidate_equals_exact(index, options):
    pytest.importorskip("faiss")
    user, item, seen, _ = problem()
    users = torch.arange(120)
    with pytest.warns(ShortTopKWarning):  # user 0 has three unseen items
        _, exact = Retriever(user, item, seen).top_k(users, 10)
        _, staged = Retriever(user, item, seen, index=index, candidates=300, **options).top_k(users, 10)
    assert torch.equal(staged, exact)


@pytest.mark.parametrize("index", ["flat", "ivfpq", "hnsw"])
def test_fewer_candidates_keep_most_of_the_exact_top_k(index):
    pytest.importorskip("faiss")
    user, item, seen, mask = problem(num_items=2000, dim=8, seed=1)
    users = torch.arange(1, 120)
    _, exact = Retriever(user, item, seen).top_k(users, 20)
    _, staged = Retriever(user, item, seen, index=index, candidates=200).top_k(users, 20)
    overlap = sum(len(set(a.tolist()) & set(b.tolist())) for a, b in zip(exact, staged, strict=True)) / exact.numel()
    assert overlap >= (1.0 if index == "flat" else 0.6)  # flat search is exact; the others approximate
    assert not mask[users[:, None].expand_as(staged), staged].any()  # the index excluded the seen items


def test_bad_arguments_are_named():
    user, item, seen, _ = problem()
    with pytest.raises(ValueError, match="unknown index 'annoy'"):
        Retriever(user, item, seen, index="annoy")
    with pytest.raises(ValueError, match="do not match the embeddings"):
        Retriever(user[:5], item, seen)
    with pytest.raises(ValueError, match="k must be positive"):
        Retriever(user, item, seen).top_k(torch.arange(3), 0)
