"""What a negative sampler returns."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


def block_starts(rows: int, blocks: int) -> list[int]:
    """Where each of ``blocks`` contiguous blocks of ``rows`` starts, the row count last: ``torch.tensor_split``'s
    cut (the first ``rows % blocks`` blocks one row longer)."""
    return [g * (rows // blocks) + min(g, rows % blocks) for g in range(blocks + 1)]


@dataclass
class Negatives:
    """Negative items for a batch of ``B`` positive (user, item) pairs.

    Args:
        items: ``(B, k)`` negatives per positive, or ``(S,)`` one set shared by the whole batch.
        mask: ``(B, k)`` or ``(B, S)``, True where ``items`` counts as a negative for that row
            (a shared item that is the row user's own positive does not); ``None`` = all count.
        hard: ``(B, h)`` per-row hard negatives, scored after ``items`` and logged apart;
            ``None`` = none. Hard negatives always count.
        log_q: the log-probability of each of ``items`` under the law that drew it, same shape as
            ``items``: ``(B, k)`` (per row, given the row's user: rejection of its positives
            included) or ``(S,)``; ``None`` when the sampler does not know it. A sampler that
            fills it declares ``provides_log_q = True`` (read by losses that correct for the law).

        blocks: ``G`` when per-row ``items`` ``(B, S)`` come in ``G`` contiguous blocks of rows
            (``torch.tensor_split(rows, G)``) whose rows are the same ``S`` items (a set shared by each block,
            ``sampler=shared groups=G``): scored by one ``(B_g, d) x (d, S)`` product per block. ``None`` = no
            such structure; anything that ignores it still reads correct per-row negatives.

    The loss sees the scores of ``items`` then ``hard`` side by side: ``(B, k + h)`` or ``(B, S + h)``.
    """

    items: Tensor
    mask: Tensor | None = None
    hard: Tensor | None = None
    log_q: Tensor | None = None
    blocks: int | None = None

    @property
    def shared(self) -> bool:
        return self.items.dim() == 1

    @property
    def num_easy(self) -> int:
        """Columns of the score matrix that come from ``items``."""
        return self.items.shape[0] if self.shared else self.items.shape[1]

    def full_mask(self, batch_size: int) -> Tensor | None:
        """The mask over all ``k + h`` (or ``S + h``) columns, ``None`` when every negative counts."""
        if self.mask is None and self.hard is None:
            return None
        easy = (
            self.mask
            if self.mask is not None
            else torch.ones(batch_size, self.num_easy, dtype=torch.bool, device=self.items.device)
        )
        if self.hard is None:
            return easy
        return torch.cat([easy, torch.ones_like(self.hard, dtype=torch.bool)], dim=1)

    def state_dict(self) -> dict[str, Tensor | None]:
        """The tensors, for a checkpoint (``Negatives(**state)`` rebuilds it)."""
        return {"items": self.items, "mask": self.mask, "hard": self.hard, "log_q": self.log_q, "blocks": self.blocks}

    def batch_rows(self, start: int, end: int) -> Negatives:
        """Rows ``start:end`` of this batch's negatives, shared ones included (their items stay the batch's,
        their mask and hard negatives are cut): a rank's share of a global batch under torchrun."""
        if not self.shared:
            return self.rows(start, end)
        return Negatives(
            self.items,
            None if self.mask is None else self.mask[start:end],
            None if self.hard is None else self.hard[start:end],
            self.log_q,
        )

    def block_starts(self) -> list[int]:
        """The first row of each of the ``blocks`` (with the row count last), ``[0, ..., B]``."""
        assert self.blocks is not None
        return block_starts(self.items.shape[0], self.blocks)

    def rows(self, start: int, end: int) -> Negatives:
        """Rows ``start:end`` of per-row negatives (shared negatives belong to their whole batch); a block
        structure does not survive the cut (the rows stay correct per-row negatives)."""
        if self.shared:
            raise ValueError("shared negatives belong to the batch they were drawn for: they cannot be split by row")
        return Negatives(
            self.items[start:end],
            None if self.mask is None else self.mask[start:end],
            None if self.hard is None else self.hard[start:end],
            None if self.log_q is None else self.log_q[start:end],
        )
