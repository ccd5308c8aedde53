"""Spike-train distances of all pairs: van Rossum and Victor–Purpura.

Both follow Elephant 1.2.1's conventions (``elephant.spike_train_dissimilarity``) and give
its values on the same trains, but run as numba kernels: van Rossum in O(n_a + n_b) per
pair from running sums of exponentials, Victor–Purpura as an edit-distance DP restricted
to the stretches where shifting a spike can beat deleting and re-inserting it.
Times are in seconds.
"""
from __future__ import annotations

import numba
import numpy as np

from ..record import SpikeRecord
from .stats import _check_record, _unit_major

__all__ = ["van_rossum_distance", "victor_purpura_distance"]


@numba.njit(cache=True)
def _exp_overlap(times, bounds, tau, out):  # pragma: no cover - compiled
    """``out[a, b] = sum_{i, j} exp(-|a_i - b_j| / tau)`` for all pairs ``a <= b``.

    One sweep through the merged spikes of the two trains keeps, for each train, the sum
    of ``exp(-(t - t_k) / tau)`` over its spikes so far; meeting a spike of one train adds
    the other's running sum, so each pair of spikes counts once, when the later arrives.
    """
    n = bounds.size - 1
    for a in range(n):
        for b in range(a, n):
            i, i1 = bounds[a], bounds[a + 1]
            j, j1 = bounds[b], bounds[b + 1]
            trace_a = 0.0
            trace_b = 0.0
            last = 0.0
            total = 0.0
            while i < i1 or j < j1:
                take_a = j >= j1 or (i < i1 and times[i] <= times[j])
                t = times[i] if take_a else times[j]
                decay = np.exp(-(t - last) / tau)
                trace_a *= decay
                trace_b *= decay
                last = t
                if take_a:
                    total += trace_b
                    trace_a += 1.0
                    i += 1
                else:
                    trace_b += 1.0
                    total += trace_a
                    j += 1
            out[a, b] = total
            out[b, a] = total


def van_rossum_distance(record: SpikeRecord, tau: float) -> np.ndarray:
    """Van Rossum distance of all pairs (van Rossum 2001, Neural Comput 13:751), ``(n, n)``.

    With ``tau`` in s, ``D(a, b)^2 = sum_{ij} k(a_i - a_j) + sum_{ij} k(b_i - b_j)
    - 2 sum_{ij} k(a_i - b_j)`` where ``k(d) = exp(-|d| / tau)`` (the squared L2 distance of
    the exponentially filtered trains, times ``2 / tau``, without the 1/2 of the original
    paper): Elephant's ``van_rossum_distance(trains, time_constant=tau * pq.s)``. Tiny
    negative squares from rounding clip to 0. ``tau=0`` gives ``sqrt(n_a + n_b)`` and
    ``tau=inf`` gives ``|n_a - n_b|`` off the diagonal; the diagonal is always 0 (Elephant
    returns ``sqrt(2 n)`` there for ``tau=0``).
    """
    record = _check_record(record)
    tau = float(tau)
    if not tau >= 0 or np.isnan(tau):
        raise ValueError(f"tau must be >= 0 s, got {tau}")
    n = record.n_units
    times, _, bounds = _unit_major(record.times, record.ids, n)
    counts = np.diff(bounds).astype(np.float64)
    if tau == 0:
        out = np.sqrt(counts[:, None] + counts[None, :])
    elif np.isinf(tau):
        out = np.abs(counts[:, None] - counts[None, :])
    else:
        overlap = np.empty((n, n))
        _exp_overlap(times, bounds, tau, overlap)
        self_term = np.diag(overlap)
        out = np.sqrt(np.maximum(self_term[:, None] + self_term[None, :] - 2.0 * overlap, 0.0))
    np.fill_diagonal(out, 0.0)
    return out


@numba.njit(cache=True)
def _vp_block(times, a0, a1, b0, b1, q, row):  # pragma: no cover - compiled
    """Victor–Purpura edit distance between spikes ``a0:a1`` and ``b0:b1`` (standard DP)."""
    m = b1 - b0
    for j in range(m + 1):
        row[j] = j
    for i in range(a0, a1):
        diagonal = row[0]
        row[0] = i - a0 + 1
        for j in range(1, m + 1):
            shift = diagonal + q * abs(times[i] - times[b0 + j - 1])
            diagonal = row[j]
            best = min(row[j], row[j - 1]) + 1.0
            row[j] = shift if shift < best else best
    return row[m]


@numba.njit(cache=True)
def _vp_all(times, bounds, q, out):  # pragma: no cover - compiled
    """All-pairs VP distance. A shift over ``>= 2 / q`` never beats delete + insert, so the
    merged spikes split at every gap of at least ``2 / q`` into blocks solved apart."""
    n = bounds.size - 1
    longest = 0
    for u in range(n):
        longest = max(longest, bounds[u + 1] - bounds[u])
    row = np.empty(longest + 1)
    reach = 2.0 / q
    for a in range(n):
        for b in range(a + 1, n):
            i, i1 = bounds[a], bounds[a + 1]
            j, j1 = bounds[b], bounds[b + 1]
            total = 0.0
            while i < i1 or j < j1:
                bi, bj = i, j
                prev = times[i] if (j >= j1 or (i < i1 and times[i] <= times[j])) else times[j]
                while i < i1 or j < j1:  # grow the block while the next spike is close
                    take_a = j >= j1 or (i < i1 and times[i] <= times[j])
                    t = times[i] if take_a else times[j]
                    if t - prev >= reach:
                        break
                    prev = t
                    if take_a:
                        i += 1
                    else:
                        j += 1
                if i == bi or j == bj:
                    total += (i - bi) + (j - bj)
                else:
                    total += _vp_block(times, bi, i, bj, j, q, row)
            out[a, b] = total
            out[b, a] = total


def victor_purpura_distance(record: SpikeRecord, q: float) -> np.ndarray:
    """Victor–Purpura distance of all pairs (Victor & Purpura 1996, J Neurophysiol 76:1310).

    The cheapest edit of one train into the other: deleting or inserting a spike costs 1,
    moving one by ``dt`` s costs ``q * |dt|``, ``q`` in 1/s (Elephant's ``cost_factor`` in
    Hz). Equals Elephant's ``victor_purpura_distance(trains, cost_factor=q * pq.Hz)``.
    ``q=0`` gives ``|n_a - n_b|``; ``q=inf`` gives ``n_a + n_b`` off the diagonal. The
    diagonal is 0 (Elephant returns ``2 n`` there for ``q=inf``). ``(n_units, n_units)``.
    """
    record = _check_record(record)
    q = float(q)
    if not q >= 0 or np.isnan(q):
        raise ValueError(f"q must be >= 0 (1/s), got {q}")
    n = record.n_units
    times, _, bounds = _unit_major(record.times, record.ids, n)
    counts = np.diff(bounds).astype(np.float64)
    if q == 0:
        out = np.abs(counts[:, None] - counts[None, :])
    elif np.isinf(q):
        out = counts[:, None] + counts[None, :]
    else:
        out = np.zeros((n, n))
        _vp_all(times, bounds, q, out)
    np.fill_diagonal(out, 0.0)
    return out
