"""How hard the sampled negatives are, per epoch: what shows a curriculum at work."""

from __future__ import annotations

import torch
from torch import Tensor


class HardnessMeter:
    """Accumulates, for easy and hard negatives apart, the mean score margin ``s_pos - s_neg`` and
    the fraction of negatives that outscore their positive.

    ``update`` takes the loss's inputs: ``pos`` ``(B,)``, ``neg`` ``(B, k + h)`` with the first
    ``num_easy`` columns easy, and the mask (``None`` = all count).
    """

    def __init__(self, sums: dict[str, Tensor] | None = None) -> None:
        self.sums: dict[str, Tensor] = dict(sums or {})  # stays on the scores' device: no sync per batch

    def update(self, pos: Tensor, neg: Tensor, mask: Tensor | None, num_easy: int) -> None:
        with torch.no_grad():
            margin = pos[:, None] - neg  # (B, k + h)
            valid = torch.ones_like(neg, dtype=torch.bool) if mask is None else mask
            for kind, cols in (("easy", slice(0, num_easy)), ("hard", slice(num_easy, None))):
                m, v = margin[:, cols], valid[:, cols]
                if m.shape[1] == 0:
                    continue
                acc = torch.stack([(m * v).sum(), ((m < 0) & v).sum().float(), v.sum().float()])
                self.sums[kind] = self.sums[kind] + acc if kind in self.sums else acc

    def compute(self) -> dict[str, float]:
        """``neg/{easy,hard}_margin``, ``neg/{easy,hard}_violation`` and ``neg/{easy,hard}_count`` (per epoch)."""
        out = {}
        for kind, acc in self.sums.items():
            margin, violated, count = acc.tolist()
            if count == 0:
                continue
            out[f"neg/{kind}_margin"] = margin / count
            out[f"neg/{kind}_violation"] = violated / count
            out[f"neg/{kind}_count"] = count
        return out
