"""The embedded default dataset: interactions with planted structure, generated from a seed.

Users and items live in ``num_clusters`` taste clusters in a ``latent_dim``-dimensional
space; a user picks items with probability proportional to
``popularity_i * exp(strength * <u, v_i>)``, without repetition (Gumbel top-k).
Item popularity follows a Zipf law, user activity a log-normal law, and each user's
events are spread over an active period of the time span. Generated in chunks of
users with bounded memory: a 30k x 41k x 1M graph takes seconds.
"""

from __future__ import annotations

import torch
from torch import Tensor

from recsys_pyg.data.interactions import Interactions


def _activity(num_users: int, total: int, sigma: float, low: int, high: int, gen: torch.Generator) -> Tensor:
    """Per-user interaction counts: log-normal weights, clamped to ``[low, high]``, summing to ``total``."""
    weight = torch.exp(sigma * torch.randn(num_users, generator=gen, dtype=torch.float64))
    x = weight * total / weight.sum()
    for _ in range(20):  # rescale the unclamped users until the clamped counts sum to `total`
        x = x.clamp(low, high)
        free = (x > low) & (x < high)
        gap = total - x.sum()
        if abs(gap) < 0.5 or not free.any():
            break
        x[free] *= 1 + gap / x[free].sum()
    counts = x.floor().long()
    short = total - int(counts.sum())
    if short > 0:  # hand out the remainder to the largest fractional parts that have room
        room = torch.nonzero(counts < high).flatten()
        frac = (x - counts)[room]
        counts[room[torch.argsort(frac, descending=True)[:short]]] += 1
    return counts


def make_synthetic(
    num_users: int = 1000,
    num_items: int = 1700,
    num_interactions: int = 100_000,
    num_clusters: int = 20,
    latent_dim: int = 16,
    cluster_spread: float = 0.5,
    strength: float = 4.0,
    popularity_exponent: float = 0.8,
    activity_sigma: float = 1.0,
    min_user_interactions: int = 5,
    max_user_fraction: float = 0.5,
    time_span: float = 365 * 86400.0,
    seed: int = 0,
    chunk_size: int = 1024,
    features: bool = True,
    feature_noise: float = 1.0,
) -> Interactions:
    """Generate a synthetic interaction dataset, deterministic given ``seed``.

    Args:
        num_users, num_items: sizes of the two sides.
        num_interactions: exact number of (distinct) user–item interactions.
        num_clusters: taste clusters shared by users and items.
        latent_dim: dimension of the planted preference space.
        cluster_spread: noise around each cluster centre (larger = weaker clusters).
        strength: weight of taste against popularity in the choice logits.
        popularity_exponent: Zipf exponent of item popularity (0 = uniform).
        activity_sigma: log-normal spread of user activity (0 = equal activity).
        min_user_interactions: every user gets at least this many interactions.
        max_user_fraction: no user interacts with more than this fraction of items.
        time_span: timestamps (seconds) fall in ``[0, time_span)``.
        seed: random seed.
        chunk_size: users generated at once (memory ~ ``chunk_size * num_items`` floats).
        features: give items ``item_features`` ``(I, latent_dim)``: each item's planted taste (a unit
            vector) plus Gaussian noise of expected norm ``feature_noise``, so that an item without
            interactions can be placed from its features (cold-start is learnable). Drawn from a
            generator of their own: the interactions are the same with or without them.
    """
    high = max(1, int(num_items * max_user_fraction))
    if num_users <= 0 or num_items <= 0:
        raise ValueError(f"synthetic dataset needs num_users > 0 and num_items > 0, got {num_users}, {num_items}")
    if not num_users * min_user_interactions <= num_interactions <= num_users * high:
        raise ValueError(
            f"num_interactions={num_interactions} is impossible: with {num_users} users it must lie in "
            f"[{num_users * min_user_interactions}, {num_users * high}] "
            f"(min_user_interactions={min_user_interactions}, max_user_fraction={max_user_fraction})"
        )
    gen = torch.Generator().manual_seed(seed)

    centres = torch.randn(num_clusters, latent_dim, generator=gen)

    def factors(n: int) -> Tensor:
        cluster = torch.randint(num_clusters, (n,), generator=gen)
        f = centres[cluster] + cluster_spread * torch.randn(n, latent_dim, generator=gen)
        return f / f.norm(dim=1, keepdim=True)

    user_f, item_f = factors(num_users), factors(num_items)  # (U, r), (I, r)
    rank = torch.randperm(num_items, generator=gen).double()
    log_pop = (-popularity_exponent * torch.log1p(rank)).float()  # (I,)

    counts = _activity(num_users, num_interactions, activity_sigma, min_user_interactions, high, gen)
    order = torch.argsort(counts)  # chunks of similar activity keep top-k small
    users, items = [], []
    for start in range(0, num_users, chunk_size):
        chunk = order[start : start + chunk_size]  # (C,)
        n = counts[chunk]
        logits = strength * user_f[chunk] @ item_f.T + log_pop  # (C, I)
        uniform = torch.rand(logits.shape, generator=gen).clamp_(min=1e-12)
        logits -= torch.log(-torch.log(uniform))  # Gumbel top-k = sampling without replacement
        top = logits.topk(int(n.max()), dim=1).indices  # (C, kmax)
        keep = torch.arange(top.shape[1]) < n[:, None]
        users.append(chunk[:, None].expand_as(top)[keep])
        items.append(top[keep])
    user, item = torch.cat(users), torch.cat(items)

    # Each user is active over a random window; events fall uniformly inside it.
    begin = torch.rand(num_users, generator=gen, dtype=torch.float64) * 0.7 * time_span
    length = (0.1 + 0.2 * torch.rand(num_users, generator=gen, dtype=torch.float64)) * time_span
    timestamp = (begin[user] + length[user] * torch.rand(user.numel(), generator=gen, dtype=torch.float64)).floor()
    perm = torch.argsort(timestamp, stable=True)
    item_features = None
    if features:
        if not feature_noise >= 0:
            raise ValueError(f"feature_noise must be >= 0, got {feature_noise}")
        noise = torch.randn(num_items, latent_dim, generator=torch.Generator().manual_seed(seed + 1))
        item_features = item_f + feature_noise / latent_dim**0.5 * noise  # (I, r): taste + noise of norm ~feature_noise
    return Interactions(
        user=user[perm],
        item=item[perm],
        num_users=num_users,
        num_items=num_items,
        timestamp=timestamp[perm].long(),
        item_features=item_features,
    )
