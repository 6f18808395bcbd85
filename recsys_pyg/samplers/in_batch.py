"""In-batch negatives: the batch's other positive items, shared by every row (no draws at all).

Reference: the "in-batch" softmax of two-tower retrieval (Yi et al., "Sampling-Bias-Corrected
Neural Modeling for Large Corpus Item Recommendations", RecSys 2019).
"""

from __future__ import annotations

from functools import cached_property

import torch
from torch import Tensor

from recsys_pyg.data.graph import BipartiteGraph
from recsys_pyg.samplers.negatives import Negatives
from recsys_pyg.samplers.pairs import edge_keys, host_path, is_positive, negative_mask


class InBatchSampler:
    r"""The batch's positive items as one shared negative set, each row's own positives masked.

    For a batch of pairs :math:`(u_b, i_b)`, row :math:`b` is contrasted with every
    :math:`i_j` that is not one of :math:`u_b`'s training items (so never with its own positive
    :math:`i_b`, nor with another of its positives that happens to be in the batch). Items are
    drawn in proportion to their training degree, as the batch itself is: pair with
    ``loss=softmax`` for the popularity-corrected in-batch softmax of two-tower retrieval.

    Args:
        graph: the training graph.
        generator: unused (no random draws); accepted so every sampler is built alike.

    Shapes:
        - **sample:** users ``(B,)``, pos_items ``(B,)`` -> ``Negatives(items=(B,), mask=(B, B), log_q=(B,))``
    """

    chunkable = False  # the negatives are the batch's own items: never drawn for many batches at once
    provides_log_q = True  # each batch slot is a uniform training edge: item j with q_j = d_j / E

    def __init__(self, graph: BipartiteGraph, generator: torch.Generator | None = None) -> None:
        self.graph = graph

    def __repr__(self) -> str:
        return "InBatchSampler()"

    @cached_property
    def _log_q(self) -> Tensor:
        """``log(d_j / E)`` per item, ``(I,)``: the law by which a batch slot holds item ``j``."""
        return (self.graph.item_degree.to(torch.float) / max(self.graph.num_edges, 1)).log()

    @cached_property
    def _keys(self) -> Tensor:
        return edge_keys(self.graph)  # (E,), for the accelerator path

    def sample(self, users: Tensor, pos_items: Tensor, epoch: int = 0) -> Negatives:
        """The batch's items ``(B,)`` and the ``(B, B)`` mask, False where the item is the row user's positive."""
        if pos_items is None or pos_items.shape != users.shape:
            raise ValueError("InBatchSampler needs the batch's positive items, one per user")
        if host_path(users.device):  # the batch users' CSR rows
            mask = negative_mask(self.graph, users, pos_items)  # (B, B)
        else:  # one binary search per pair: no data-dependent shape, nothing waits on the device
            mask = ~is_positive(self._keys, self.graph.num_items, users[:, None], pos_items[None, :])
        return Negatives(items=pos_items, mask=mask, log_q=self._log_q[pos_items])
