import math

import pytest
import torch
from torch_geometric.metrics import LinkPredHitRatio, LinkPredNDCG, LinkPredPrecision, LinkPredRecall

from recsys_pyg.data import CSR
from recsys_pyg.evaluation import Evaluator, popularity_embeddings


def plain_loop(scores, truth: dict, exclude: dict, k: int):
    """Per-user Python reference for Recall/NDCG/Precision/HitRate@k."""
    out = {"recall": [], "ndcg": [], "precision": [], "hitrate": []}
    for u, rel in truth.items():
        if not rel:
            continue
        ranked = sorted(
            (i for i in range(scores.shape[1]) if i not in exclude.get(u, set())), key=lambda i: -scores[u, i].item()
        )[:k]
        hits = [1.0 if i in rel else 0.0 for i in ranked]
        dcg = sum(h / math.log2(r + 2) for r, h in enumerate(hits))
        idcg = sum(1 / math.log2(r + 2) for r in range(min(len(rel), k)))
        out["recall"].append(sum(hits) / len(rel))
        out["precision"].append(sum(hits) / k)
        out["hitrate"].append(float(sum(hits) > 0))
        out["ndcg"].append(dcg / idcg)
    return {m: sum(v) / len(v) for m, v in out.items()}


def csr_of(sets: dict, num_users: int, num_items: int) -> CSR:
    rows = [u for u, s in sets.items() for _ in s]
    cols = [i for s in sets.values() for i in s]
    return CSR.from_pairs(
        torch.tensor(rows, dtype=torch.long), torch.tensor(cols, dtype=torch.long), num_users, num_items
    )


def test_hand_worked_example():
    # One user, 5 items scored 5,4,3,2,1 (item 0 best). Item 0 is a training item (masked).
    # Ranking after masking: 1, 2, 3, 4. Relevant: {2, 4}. Top-2 = [1, 2] -> 1 hit.
    user_emb = torch.ones(1, 1)
    item_emb = torch.tensor([[5.0], [4.0], [3.0], [2.0], [1.0]])
    ev = Evaluator(ks=[2, 4], chunk_size=1)
    m = ev.evaluate(user_emb, item_emb, csr_of({0: {2, 4}}, 1, 5), [csr_of({0: {0}}, 1, 5)])
    assert m["recall@2"] == pytest.approx(0.5)
    assert m["precision@2"] == pytest.approx(0.5)
    assert m["hitrate@2"] == 1.0
    assert m["ndcg@2"] == pytest.approx((1 / math.log2(3)) / (1 + 1 / math.log2(3)))
    # top-4 = [1, 2, 3, 4]: hits at ranks 2 and 4
    assert m["recall@4"] == 1.0
    assert m["ndcg@4"] == pytest.approx((1 / math.log2(3) + 1 / math.log2(5)) / (1 + 1 / math.log2(3)))
    assert m["users"] == 1.0


def random_case(seed=0, num_users=37, num_items=60):
    gen = torch.Generator().manual_seed(seed)
    user_emb, item_emb = torch.randn(num_users, 8, generator=gen), torch.randn(num_items, 8, generator=gen)
    train = {
        u: set(torch.randperm(num_items, generator=gen)[: int(torch.randint(0, 15, (1,), generator=gen))].tolist())
        for u in range(num_users)
    }
    truth = {}
    for u in range(num_users):
        candidates = [i for i in range(num_items) if i not in train[u]]
        n = int(torch.randint(0, 6, (1,), generator=gen))  # some users have nothing held out
        truth[u] = set(candidates[j] for j in torch.randperm(len(candidates), generator=gen)[:n].tolist())
    return user_emb, item_emb, train, truth


@pytest.mark.parametrize("chunk_size", [1, 7, 1000])
def test_matches_plain_loop_with_masking(chunk_size):
    user_emb, item_emb, train, truth = random_case()
    ev = Evaluator(ks=[1, 5, 20], chunk_size=chunk_size)
    got = ev.evaluate(user_emb, item_emb, csr_of(truth, 37, 60), [csr_of(train, 37, 60)])
    scores = user_emb @ item_emb.T
    for k in (1, 5, 20):
        ref = plain_loop(scores, truth, train, k)
        for metric, value in ref.items():
            assert got[f"{metric}@{k}"] == pytest.approx(value, abs=1e-6), (metric, k)
    assert got["users"] == sum(1 for s in truth.values() if s)


def test_matches_torch_geometric_metrics():
    user_emb, item_emb, train, truth = random_case(seed=3)
    ev = Evaluator(ks=[10], chunk_size=8)
    truth_csr, train_csr = csr_of(truth, 37, 60), csr_of(train, 37, 60)
    got = ev.evaluate(user_emb, item_emb, truth_csr, [train_csr])
    users = torch.nonzero(truth_csr.degree() > 0).flatten()
    top = ev.top_k(user_emb, item_emb, users, 10, [train_csr])
    local = {int(u): r for r, u in enumerate(users)}
    label = torch.tensor(
        [
            [local[u] for u, s in truth.items() for _ in s if u in local],
            [i for u, s in truth.items() for i in s if u in local],
        ]
    )
    for name, cls in (
        ("recall", LinkPredRecall),
        ("ndcg", LinkPredNDCG),
        ("precision", LinkPredPrecision),
        ("hitrate", LinkPredHitRatio),
    ):
        metric = cls(k=10)
        metric.update(top, label)
        assert got[f"{name}@10"] == pytest.approx(float(metric.compute()), abs=1e-5), name


def test_mostpop_and_errors():
    degree = torch.tensor([3, 9, 1, 5])
    user_emb, item_emb = popularity_embeddings(degree, 2)
    ev = Evaluator(ks=[2])
    assert ev.top_k(user_emb, item_emb, torch.tensor([0, 1]), 2).tolist() == [[1, 3], [1, 3]]
    for bad in ([0], [-5, 10], []):
        with pytest.raises(ValueError, match="positive integer"):
            Evaluator(ks=bad)
    with pytest.raises(ValueError, match="no user has a held-out item"):
        ev.evaluate(user_emb, item_emb, csr_of({}, 2, 4))


@pytest.mark.parametrize("cosine", [False, True], ids=["dot", "cosine"])
def test_the_popularity_column_adds_weight_times_log_degree_to_every_score(cosine):
    """with_popularity: [u, 1] . [i, w log(1 + d_i)] = s(u, i) + w log(1 + d_i), s the cosine when cosine (users made
    unit-norm too); an item of degree 0 gains nothing, so cold items keep their order among themselves."""
    from recsys_pyg.evaluation import with_popularity

    torch.manual_seed(0)
    u, i = torch.randn(5, 4) * 3, torch.randn(6, 4)
    degree = torch.tensor([0, 1, 3, 0, 10, 2])
    if cosine:
        i = torch.nn.functional.normalize(i, dim=-1)
    uu, ii = with_popularity(u, i, degree, 0.1, cosine)
    assert uu.shape == (5, 5) and ii.shape == (6, 5)
    base = (torch.nn.functional.normalize(u, dim=-1) if cosine else u) @ i.T
    want = base + 0.1 * torch.log(1.0 + degree.float())[None, :]
    torch.testing.assert_close(uu @ ii.T, want)
    assert float(want[0, 4] - base[0, 4]) == pytest.approx(0.1 * math.log(11))
    torch.testing.assert_close((uu @ ii.T)[:, [0, 3]], base[:, [0, 3]])
