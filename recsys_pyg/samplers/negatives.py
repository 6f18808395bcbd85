"""What a negative sampler returns."""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor


@dataclass
class Negatives:
    """Negative items for a batch of ``B`` positive (user, item) pairs.

    Either per positive, ``items`` ``(B, k)``, or one set shared by the batch, ``items``
    ``(S,)`` with ``mask`` ``(B, S)`` True where the item is a valid negative for that row.
    ``hard`` ``(B, k)`` flags hard negatives so they can be logged apart.
    """

    items: Tensor
    mask: Tensor | None = None
    hard: Tensor | None = None

    @property
    def shared(self) -> bool:
        return self.items.dim() == 1
