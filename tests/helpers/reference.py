"""Reference formulas in NumPy, written from the papers, that models and losses are checked against."""

from __future__ import annotations

import numpy as np


def np_info_nce(z1: np.ndarray, z2: np.ndarray, tau: float) -> float:
    """Mean over rows of -log(exp(z1_i.z2_i / tau) / sum_j exp(z1_i.z2_j / tau)), rows L2-normalised."""
    z1 = z1 / np.linalg.norm(z1, axis=1, keepdims=True)
    z2 = z2 / np.linalg.norm(z2, axis=1, keepdims=True)
    logits = z1 @ z2.T / tau
    return float(np.mean(np.log(np.exp(logits).sum(1)) - np.diag(logits)))


def np_noisy_view(adj: np.ndarray, e0: np.ndarray, eps: float, draws: list[np.ndarray], alpha: np.ndarray):
    """Layers E^(k) = A E^(k-1) + eps * sign * u/|u| with the given uniform draws; returns (combination, layers)."""
    x, out, layers = e0, alpha[0] * e0, [e0]
    for k, u in enumerate(draws, start=1):
        x = adj @ x
        x = x + eps * np.sign(x) * u / np.linalg.norm(u, axis=1, keepdims=True)
        out, layers = out + alpha[k] * x, layers + [x]
    return out, layers
