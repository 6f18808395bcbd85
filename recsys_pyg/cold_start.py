"""Cold-start evaluation: cold and warm items ranked apart, with the baselines that can rank them.

With ``dataset/split=cold_items`` (:func:`recsys_pyg.data.cold_items.cold_item_split`) a part's items
fall in two groups: ``cold`` (the part's held-out items, never in training) and ``warm`` (items with
training interactions). Each group is ranked on its own: for ``cold/recall@20`` every user with a
held-out cold item ranks the cold items of that part only, for ``warm/...`` the warm items only
(training and validation items masked as usual). A model scores cold items only if it can place an
item without training edges (``model.inductive``, e.g. PinSAGE with ``id_embedding=false|dropout``);
any other (MF, LightGCN, ID PinSAGE) is reported as unable to (``cold/scored = 0``), not evaluated.

Baselines beside every run of the protocol: MostPop on warm items (cold items have no popularity:
they would all tie, so it is not reported on them), ``content`` (each user's mean training-item
feature vector against each item's, cosine) and ``random`` (a seeded random ranking) on both groups.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from recsys_pyg.contracts import is_fit_only
from recsys_pyg.data import RecDataset
from recsys_pyg.data.graph import CSR
from recsys_pyg.evaluation import Evaluator, ScoreFn, popularity_embeddings, ranking_embeddings, targets

log = logging.getLogger(__name__)
GROUPS = ("cold", "warm")


def item_groups(data: RecDataset, part: str) -> dict[str, Tensor] | None:
    """``{"cold": items (n_c,), "warm": items (n_w,)}`` for ``part``, or ``None`` without cold items."""
    cold = data.split.cold
    if cold is None:
        return None
    key = part if part == "test" or data.val_items.nnz > 0 else "test"  # no validation part: val is test
    warm = torch.nonzero(data.graph.item_degree.cpu() > 0).flatten()
    return {"cold": cold[key].cpu(), "warm": warm}


def restrict(csr: CSR, items: Tensor) -> CSR:
    """``csr`` with its columns restricted to ``items`` (renumbered ``0..len(items)-1`` in that order)."""
    new_of_old = torch.full((csr.num_cols,), -1, dtype=torch.long)
    new_of_old[items] = torch.arange(items.numel())
    cols = new_of_old[csr.indices]
    keep = cols >= 0
    return CSR.from_pairs(csr.row_index()[keep], cols[keep], csr.num_rows, items.numel())


def scores_cold_items(model: torch.nn.Module) -> bool:
    """Whether ``model`` can place an item without training edges (it says so with ``inductive = True``)."""
    return bool(getattr(model, "inductive", False))


def group_metrics(
    score: ScoreFn, data: RecDataset, evaluator: Evaluator, part: str, groups: tuple[str, ...] = GROUPS,
    device: torch.device | str = "cpu",
) -> dict[str, float]:  # fmt: skip
    """``{group}/{metric}`` for each of ``groups``, ``score(users) -> (C, I)`` over every item."""
    found = item_groups(data, part)
    if found is None:
        return {}
    truth, exclude = targets(data, part)
    out: dict[str, float] = {}
    for name in groups:
        items = found[name]
        sub = restrict(truth, items)
        if sub.nnz == 0:  # no user holds an item of this group in this part
            continue
        on_device = items.to(device)

        def scored(users: Tensor, on_device: Tensor = on_device) -> Tensor:
            return score(users)[:, on_device]  # (C, n_group)

        metrics = evaluator.evaluate_scores(scored, sub, [restrict(e, items) for e in exclude], device)
        out.update({f"{name}/{k}": v for k, v in metrics.items()})
    return out


@torch.no_grad()
def cold_start_metrics(
    model: torch.nn.Module, data: RecDataset, graph: object, evaluator: Evaluator, part: str, cosine: bool = False,
    embeddings: tuple[Tensor, Tensor] | None = None,
) -> dict[str, float]:  # fmt: skip
    """The model's ``cold/*`` and ``warm/*`` metrics on ``part`` (``{}`` without cold items); ``cold/scored``
    says whether the model could score cold items at all. ``embeddings``: the ranking embeddings
    (:func:`~recsys_pyg.evaluation.ranking_embeddings`) when the caller already has them."""
    if data.split.cold is None:
        return {}
    can = scores_cold_items(model)
    model.eval()
    if is_fit_only(model):
        score: ScoreFn = model.score  # type: ignore[attr-defined]
        device = graph.user.device  # type: ignore[attr-defined]
    else:
        user_emb, item_emb = embeddings if embeddings is not None else ranking_embeddings(model, graph, cosine)
        score, device = (lambda users: user_emb[users.to(user_emb.device)] @ item_emb.T), user_emb.device
    out = group_metrics(score, data, evaluator, part, GROUPS if can else ("warm",), device)
    out["cold/scored"] = float(can)
    return out


def content_vectors(data: RecDataset) -> Tensor | None:
    """Each item's content vector ``(I, F)``: its dense features and one-hot categories (``None`` without)."""
    parts = []
    if data.item_features is not None:
        parts.append(data.item_features.float().cpu())
    cats = data.item_categories
    if cats is not None:
        for c in range(cats.shape[1]):
            parts.append(F.one_hot(cats[:, c].cpu(), int(cats[:, c].max()) + 1).float())
    return torch.cat(parts, 1) if parts else None


def content_scores(data: RecDataset) -> ScoreFn | None:
    """The content-only baseline: cosine of a user's mean training-item content vector and each item's."""
    items = content_vectors(data)
    if items is None:
        return None
    csr = data.graph.user_items.to("cpu")
    profile = torch.zeros(data.num_users, items.shape[1])
    profile.index_add_(0, csr.row_index(), items[csr.indices])  # sums; the cosine ignores the count
    profile, items = F.normalize(profile, dim=1), F.normalize(items, dim=1)
    return lambda users: profile[users.cpu()] @ items.T


def random_scores(num_items: int, seed: int = 0) -> ScoreFn:
    """A random ranking: independent uniform scores, from a generator seeded per call (reproducible)."""

    def score(users: Tensor) -> Tensor:
        gen = torch.Generator().manual_seed(seed + int(users[0]) if users.numel() else seed)
        return torch.rand(users.numel(), num_items, generator=gen)

    return score


def cold_start_baselines(data: RecDataset, evaluator: Evaluator) -> dict[str, float]:
    """MostPop (warm only), content and random (cold and warm) on validation and test, as
    ``{baseline}/{part}/{group}/{metric}``; ``{}`` without cold items."""
    if data.split.cold is None:
        return {}
    log.info("cold-start protocol: MostPop cannot rank cold items (they have no training interactions, so "
             "all tie at 0); it is reported on warm items only")  # fmt: skip
    user, item = popularity_embeddings(data.graph.item_degree.cpu(), data.num_users)
    baselines: dict[str, tuple[Callable[[Tensor], Tensor] | None, tuple[str, ...]]] = {
        "mostpop": (lambda users: user[users] @ item.T, ("warm",)),
        "content": (content_scores(data), GROUPS),
        "random": (random_scores(data.num_items), GROUPS),
    }
    out: dict[str, float] = {}
    parts = ("val", "test") if data.val_items.nnz > 0 else ("test",)
    for name, (score, groups) in baselines.items():
        if score is None:
            log.info("no content baseline: the dataset has no item features")
            continue
        for part in parts:
            metrics = group_metrics(score, data, evaluator, part, groups)
            out.update({f"{name}/{part}/{k}": v for k, v in metrics.items()})
    return out
