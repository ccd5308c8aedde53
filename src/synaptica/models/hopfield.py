"""Classical Hopfield network (numpy), the baseline of the ``ca3-memory`` experiment.

J. J. Hopfield (1982), "Neural networks and physical systems with emergent collective
computational abilities", PNAS 79:2554. N binary neurons s_i = +-1, P patterns xi^mu;
Hebbian weights and asynchronous threshold updates::

    W_ij = (1/N) sum_mu xi_i^mu xi_j^mu   (W_ii = 0)
    s_i <- sign(sum_j W_ij s_j)           (one neuron at a time, random order)

Random patterns are retrieved as fixed points up to P ~ 0.138 N (Amit, Gutfreund &
Sompolinsky 1985, Phys. Rev. Lett. 55:1530); beyond, retrieval collapses. Recall quality is
the overlap m = (1/N) sum_i xi_i s_i (1: perfect, ~0: unrelated). Dimensionless throughout.
"""
from __future__ import annotations

import numpy as np


def hopfield_weights(patterns: np.ndarray) -> np.ndarray:
    """(N, N) Hebbian weights of (P, N) +-1 patterns, zero diagonal."""
    xi = np.asarray(patterns, dtype=float)
    if xi.ndim != 2 or xi.shape[0] < 1 or not np.isin(xi, (-1.0, 1.0)).all():
        raise ValueError(f"hopfield_weights: patterns must be a non-empty (P, N) array of +-1, got shape {xi.shape}")
    w = xi.T @ xi / xi.shape[1]
    np.fill_diagonal(w, 0.0)
    return w


def hopfield_recall(weights: np.ndarray, states: np.ndarray, rng: np.random.Generator,
                    max_sweeps: int = 30) -> np.ndarray:
    """Run asynchronous updates from (B, N) +-1 ``states`` until no neuron changes in a
    sweep (or ``max_sweeps``); each sweep visits the neurons in a new random order, the
    same for all B states (they evolve independently). Returns the final (B, N) states."""
    s = np.array(states, dtype=float)
    n = weights.shape[0]
    for _ in range(max_sweeps):
        changed = False
        for i in rng.permutation(n):
            field = s @ weights[i]
            new = np.where(field > 0, 1.0, np.where(field < 0, -1.0, s[:, i]))  # 0 field: keep
            if np.any(new != s[:, i]):
                changed = True
                s[:, i] = new
        if not changed:
            break
    return s


def overlaps(patterns: np.ndarray, states: np.ndarray) -> np.ndarray:
    """(B,) overlap m of each state with its pattern (rows paired), in [-1, 1]."""
    return np.mean(np.asarray(patterns, float) * np.asarray(states, float), axis=1)


def capacity(n: int, loads: np.ndarray, rng: np.random.Generator, threshold: float = 0.9) -> float:
    """Largest load P/N among ``loads`` (increasing) at which every smaller tested load
    also retrieves random patterns started at themselves with mean overlap >= ``threshold``."""
    best = 0.0
    for alpha in loads:
        p = max(1, int(round(alpha * n)))
        xi = np.where(rng.random((p, n)) < 0.5, 1.0, -1.0)
        m = overlaps(xi, hopfield_recall(hopfield_weights(xi), xi, rng)).mean()
        if m < threshold:
            break
        best = p / n
    return best
