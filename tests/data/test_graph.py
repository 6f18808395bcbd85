"""The training graph: CSR rows, degrees, the normalised adjacency against its dense formula."""

import torch

from recsys_pyg.data import CSR, BipartiteGraph, normalized_adjacency
from tests.helpers.graphs import dense_normalized


def test_normalized_adjacency_equals_dense_formula():
    # 3 users, 4 items; item 3 and user 2 have edges, item 2 is isolated.
    user = torch.tensor([0, 0, 1, 2, 2, 1])
    item = torch.tensor([0, 1, 1, 3, 0, 3])
    adj = normalized_adjacency(user, item, 3, 4)
    expected = dense_normalized(user, item, 3, 4)
    assert torch.allclose(adj.to_dense(), expected, atol=1e-7)
    # a hand-worked entry: user 0 (degree 2) -- item 1 (degree 2): 1/sqrt(2*2)
    assert abs(adj.to_dense()[0, 3 + 1].item() - 0.5) < 1e-7
    assert torch.equal(adj.to_dense(), adj.to_dense().T)


def test_graph_sorts_and_deduplicates_edges():
    g = BipartiteGraph(torch.tensor([1, 0, 1, 1]), torch.tensor([2, 1, 0, 2]), 2, 3)
    assert g.user.tolist() == [0, 1, 1] and g.item.tolist() == [1, 0, 2]
    assert g.user_degree.tolist() == [1, 2] and g.item_degree.tolist() == [1, 1, 1]
    assert g.user_items.indptr.tolist() == [0, 1, 3]
    assert g.edge_index.shape == (2, 6)
    assert "num_edges=3" in repr(g)
    # the adjacency is computed once and cached
    assert g.adj is g.adj


def test_csr_gather_rows_matches_dense():
    gen = torch.Generator().manual_seed(0)
    rows, cols = torch.randint(6, (40,), generator=gen), torch.randint(9, (40,), generator=gen)
    csr = CSR.from_pairs(rows, cols, 6, 9)
    dense = csr.to_dense()
    query = torch.tensor([4, 0, 4, 5])
    local, col = csr.gather_rows(query)
    got = torch.zeros(4, 9, dtype=torch.bool)
    got[local, col] = True
    assert torch.equal(got, dense[query])
