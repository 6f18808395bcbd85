"""The contracts a piece must meet to plug into ``train.py``: read this page, not the training loop.

Shapes: ``U`` users, ``I`` items, ``d`` embedding size, ``B`` positive (user, item) pairs in a
batch, ``k`` negatives per positive, ``S`` negatives shared by a batch, ``h`` hard negatives per
positive. Every index is a ``torch.long`` tensor on the run's device.

Each piece is built by Hydra from its YAML (``conf/<group>/<name>.yaml``, ``_target_`` the class,
``_partial_: true`` where run-time arguments follow), from numbers, never from a config object.
``docs/extending.md`` walks through adding each one, with a test to copy.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch
from torch import Tensor

from recsys_pyg.data.graph import BipartiteGraph
from recsys_pyg.losses.batch import ScoredBatch
from recsys_pyg.samplers.negatives import Negatives


@runtime_checkable
class Model(Protocol):
    """A model trained by gradient steps; scored by the dot product of its user and item embeddings.

    Built as ``Model(num_users=U, num_items=I, **numbers)`` (plus ``user_features`` /
    ``item_features`` ``(N, F)`` and ``user_categories`` / ``item_categories`` ``(N, C)`` long when its
    constructor names them and the dataset has them); an ``nn.Module`` with ``reset_parameters()``. A model
    that can embed an item without training edges from its features says so with ``inductive = True``
    (scored on the cold-start split's cold items, :mod:`recsys_pyg.cold_start`).
    """

    def forward(
        self, graph: BipartiteGraph, users: Tensor | None = None, items: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        """Embeddings ``(len(users), d)`` and ``(len(items), d)``; every user's / item's when ``None``.

        Training calls it once per step with the batch's users ``(B,)`` and every item it scores
        ``(B + B*k,)`` or ``(B + S,)`` (plus ``B*h`` hard negatives), the ``B`` positives first, in the
        users' order (``items[b]`` is row ``b``'s positive: SimpleX leaves it out of the user's history);
        evaluation calls it with neither (in ``model.eval()`` mode, under ``torch.no_grad``) and scores
        ``U_emb @ I_emb.T``.
        """
        ...

    def l2_penalty(self, users: Tensor, items: Tensor) -> Tensor:
        """The model's own regulariser on the batch, a scalar; the objective adds ``loss.l2_weight`` times it.

        ``users`` ``(B,)``, ``items`` every item the step scored (as passed to ``forward``).
        """
        ...


@runtime_checkable
class AuxiliaryLoss(Protocol):
    """Optional, on a :class:`Model`: a second loss term the step adds to the ranking loss as is
    (the model carries its own weight), e.g. SimGCL's contrastive term between two noisy views.

    Called after ``forward`` in the same step, so a model may reuse what that call computed.
    """

    def auxiliary_loss(self, graph: BipartiteGraph, users: Tensor, items: Tensor) -> Tensor:
        """A scalar from the batch's users ``(B,)`` and positive items ``(B,)``."""
        ...


@runtime_checkable
class FitModel(Protocol):
    """A model with no gradient steps (closed form or counting: ItemKNN, EASE, GF-CF).

    ``train.py`` calls ``fit`` once on the training graph instead of an epoch loop (no optimiser,
    no sampler, no loss), then validates, tests and records it exactly like a trained model,
    MostPop beside it. Marked by ``fit_only = True``; an ``nn.Module`` whose state (buffers)
    holds what it scores with, so ``best.pt`` reloads it.
    """

    fit_only: bool

    def fit(self, graph: BipartiteGraph) -> None:
        """Compute the model from the training interactions."""
        ...

    def score(self, users: Tensor) -> Tensor:
        """Scores of every item for ``users`` ``(C,)``: ``(C, I)``; training items are masked by the caller."""
        ...


@runtime_checkable
class Sampler(Protocol):
    """Negative items for each batch of positives.

    Built as ``Sampler(graph=train_graph, generator=torch.Generator(run_device))`` (the generator is
    seeded and saved by the run: draw every random number from it, on its device, for exact resume).

    ``provides_log_q`` (optional, default ``False``) says that every draw fills ``Negatives.log_q``
    with the log-probabilities of its law, for losses that correct for it (``loss=logq_softmax``).

    ``chunkable`` says whether one call may serve many batches: ``True`` only when each row's
    negatives depend on that row alone (``items`` ``(B, k)``, ``mask`` ``None`` or ``(B, k)``,
    ``hard`` ``(B, h)``). The loop then draws ``train.sample_batches`` batches per call and
    slices rows. A sampler whose negatives depend on the batch (a shared set ``(S,)`` + mask
    ``(B, S)``, the batch's other positives) must say ``False``; one declared chunkable that
    returns a shared set, or the wrong number of rows, stops the run with an error naming it.
    There is no default: a sampler without the attribute is refused.
    """

    chunkable: bool

    def sample(self, users: Tensor, pos_items: Tensor, epoch: int) -> Negatives:
        """Negatives for the positive pairs ``(users[b], pos_items[b])``, ``(B,)`` each; ``epoch`` is
        1-based (curricula grow with it). Never returns a row user's training positive unmasked."""
        ...


@runtime_checkable
class Loss(Protocol):
    """A ranking loss: an ``nn.Module`` whose ``forward`` takes the whole scored batch
    (:class:`~recsys_pyg.losses.batch.ScoredBatch`: scores ``pos`` ``(B,)`` and ``neg`` ``(B, k + h)``
    or ``(B, S + h)``, ``mask``, the users' and items' ids, the sampler's draw with its proposal
    ``negatives.log_q``, the users' and positives' embeddings) and returns a scalar.

    Built by :func:`recsys_pyg.losses.build_loss` from ``conf/loss/<name>.yaml``: the YAML's
    ``l2_weight`` goes to the :class:`~recsys_pyg.losses.objective.Objective` that wraps the loss
    (the one place the model's L2 penalty is added); the rest to the loss's constructor.

    Optional attributes:
        similarity: ``"dot"`` (default) or ``"cosine"``: the scores are cosines of the embeddings,
            in training and in evaluation alike (SimpleX's CCL).
        needs_log_q: ``True`` when the loss reads ``batch.negatives.log_q``: the run then refuses a
            sampler without ``provides_log_q = True`` before training (see :class:`Sampler`).
    """

    def __call__(self, batch: ScoredBatch) -> Tensor: ...


def is_fit_only(model: torch.nn.Module) -> bool:
    """Whether ``model`` is a :class:`FitModel` (fitted once, no gradient steps)."""
    return bool(getattr(model, "fit_only", False))


def popularity_weight(criterion: object) -> float:
    """The weight of ``log(1 + d_i)`` that ``criterion`` adds to every item's score at ranking (0: none; see
    :class:`~recsys_pyg.losses.ranking.SoftmaxLoss`'s ``eval_popularity``)."""
    return float(getattr(criterion, "eval_popularity", 0.0))


def uses_cosine(criterion: object) -> bool:
    """Whether ``criterion`` scores by cosine similarity (see :class:`Loss`)."""
    similarity = getattr(criterion, "similarity", "dot")
    if similarity not in ("dot", "cosine"):
        raise ValueError(f"{type(criterion).__name__}.similarity must be 'dot' or 'cosine', got {similarity!r}")
    return similarity == "cosine"


def check_sampler(sampler: object) -> bool:
    """``sampler.chunkable``, refusing a sampler that does not declare it (see :class:`Sampler`)."""
    chunkable = getattr(sampler, "chunkable", None)
    if not isinstance(chunkable, bool):
        raise TypeError(
            f"{type(sampler).__name__} must declare `chunkable: bool` (True only if each row's negatives depend "
            f"on that row alone, so one call may serve many batches); see recsys_pyg.contracts.Sampler"
        )
    return chunkable
