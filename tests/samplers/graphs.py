"""Graphs the sampler tests share."""

import torch

from recsys_pyg.data import BipartiteGraph


def dense_adversarial_graph(num_users=50, num_items=40, seed=0):
    """Most users have almost every item; user 0 lacks only item 17, user 1 only the last item."""
    gen = torch.Generator().manual_seed(seed)
    mask = torch.rand(num_users, num_items, generator=gen) < 0.9
    mask[torch.arange(num_users), torch.randint(num_items, (num_users,), generator=gen)] = False  # no full row
    mask[0] = True
    mask[0, 17] = False
    mask[1] = True
    mask[1, -1] = False
    mask[2] = False
    mask[2, 0] = True
    user, item = mask.nonzero(as_tuple=True)
    return BipartiteGraph(user, item, num_users, num_items), mask


def random_graph(num_users, num_items, density, seed=0):
    """A random bipartite graph of the given density, and its dense (U, I) positive mask."""
    gen = torch.Generator().manual_seed(seed)
    mask = torch.rand(num_users, num_items, generator=gen) < density
    user, item = mask.nonzero(as_tuple=True)
    return BipartiteGraph(user, item, num_users, num_items), mask


PPR_SMALL = dict(window=(1, 10), pool_size=8, num_iterations=10)  # small PPR pools for small graphs
