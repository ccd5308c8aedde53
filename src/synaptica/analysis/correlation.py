"""Pairwise correlation and synchrony of spike trains, all pairs at once.

* :func:`cross_correlograms` — binned cross-correlation histograms of every ordered pair
  (autocorrelograms on the diagonal), equal to Elephant 1.2.1's
  ``cross_correlation_histogram`` count for count, from a numba kernel over spikes.
* :func:`sttc` — spike time tiling coefficient (Cutts & Eglen 2014).
* :func:`spike_count_correlation` — Pearson correlation of binned counts.
* :func:`golomb_chi` — Golomb's population synchrony measure chi (Golomb 2007).

Times are in seconds; inputs are :class:`~synaptica.record.SpikeRecord` objects.
"""
from __future__ import annotations

from typing import Sequence

import numba
import numpy as np

from ..record import SpikeRecord
from .stats import _check_record, _unit_major

__all__ = ["cross_correlograms", "correlogram_lags", "sttc", "spike_count_correlation", "golomb_chi",
           "SynchronyUndefinedError"]


class SynchronyUndefinedError(ValueError):
    """A synchrony measure is undefined for this record (e.g. every unit's trace is constant)."""


# -- cross-correlograms -----------------------------------------------------------------------
@numba.njit(cache=True)
def _cch_kernel(bins, ids, slot, max_lag, out):  # pragma: no cover - compiled
    """Add every pair of spikes at most ``max_lag`` bins apart into ``out[slot[i, j], lag]``.

    ``bins`` is non-decreasing (spikes in time order), so the partners of spike ``s`` that
    follow it are the contiguous run ``s + 1, ...`` up to ``bins[s] + max_lag``; each
    unordered pair of distinct spikes is visited once and entered under both orders, and
    each spike pairs with itself at lag 0 (Elephant counts that too).
    """
    n = bins.size
    for s in range(n):
        b = bins[s]
        i = ids[s]
        k = slot[i, i]
        if k >= 0:
            out[k, max_lag] += 1
        t = s + 1
        while t < n and bins[t] - b <= max_lag:
            j = ids[t]
            d = bins[t] - b
            k = slot[i, j]
            if k >= 0:
                out[k, max_lag + d] += 1  # j fires d bins after i
            k = slot[j, i]
            if k >= 0:
                out[k, max_lag - d] += 1
            t += 1


def correlogram_lags(bin_size: float, max_lag_bins: int) -> np.ndarray:
    """Lag of each correlogram column in s: ``bin_size * (-max_lag_bins .. max_lag_bins)``."""
    return bin_size * np.arange(-max_lag_bins, max_lag_bins + 1)


def cross_correlograms(record: SpikeRecord, bin_size: float, max_lag_bins: int,
                       pairs: Sequence[tuple[int, int]] | np.ndarray | None = None) -> np.ndarray:
    """Cross-correlation histograms (spike-pair counts) of all ordered pairs of units.

    Spikes are binned with the record's convention (Elephant's ``BinnedSpikeTrain``,
    ``bin_size`` in s). ``cch[i, j, max_lag_bins + k]`` counts the pairs of a spike of
    unit ``i`` in bin ``b`` and a spike of unit ``j`` in bin ``b + k``, for
    ``k = -max_lag_bins .. max_lag_bins``: **positive lags mean j fires after i**. This is
    Elephant 1.2.1's ``cross_correlation_histogram(BinnedSpikeTrain(st_i),
    BinnedSpikeTrain(st_j), window=[-L, L], border_correction=False, binary=False,
    kernel=None)`` for every pair, exactly (Elephant's lag runs the same way). On the
    diagonal are the autocorrelograms, whose centre counts every spike with itself
    (``sum of squared bin counts``). Lags in s: :func:`correlogram_lags`.

    Returns int64 ``(n_units, n_units, 2 * max_lag_bins + 1)``, or, given ``pairs`` (a
    list of ordered ``(i, j)``), ``(n_pairs, 2 * max_lag_bins + 1)`` in that order. Cost is
    linear in the number of spike pairs within the lag window (no per-pair loop); memory
    is the output only (``n_units**2 * (2L + 1) * 8`` bytes for all pairs).
    """
    record = _check_record(record)
    if isinstance(max_lag_bins, bool) or not isinstance(max_lag_bins, (int, np.integer)) or max_lag_bins < 0:
        raise ValueError(f"max_lag_bins must be a non-negative integer, got {max_lag_bins!r}")
    max_lag = int(max_lag_bins)
    n_bins = record.n_bins(bin_size)
    if max_lag > n_bins - 1:
        raise ValueError(f"max_lag_bins ({max_lag}) must be below the number of bins ({n_bins})")
    n = record.n_units
    if pairs is None:
        slot = np.arange(n * n, dtype=np.int64).reshape(n, n)
        n_rows, inverse = n * n, None
    else:
        pairs = np.asarray(pairs, dtype=np.int64)
        if pairs.ndim != 2 or pairs.shape[1] != 2 or pairs.shape[0] == 0:
            raise ValueError(f"pairs must be a non-empty list of (i, j) unit pairs, got shape {pairs.shape}")
        if pairs.min() < 0 or pairs.max() >= n:
            raise ValueError(f"pairs must hold unit ids in [0, {n}), got ids from {pairs.min()} to {pairs.max()}")
        unique, inverse = np.unique(pairs, axis=0, return_inverse=True)
        slot = np.full((n, n), -1, dtype=np.int64)
        slot[unique[:, 0], unique[:, 1]] = np.arange(unique.shape[0])
        n_rows = unique.shape[0]
    bins, ids = record.bin_indices(bin_size)
    out = np.zeros((n_rows, 2 * max_lag + 1), dtype=np.int64)
    _cch_kernel(np.ascontiguousarray(bins), np.ascontiguousarray(ids), slot, max_lag, out)
    if inverse is None:
        return out.reshape(n, n, 2 * max_lag + 1)
    return out[inverse.ravel()]


# -- spike time tiling coefficient ------------------------------------------------------------
@numba.njit(cache=True)
def _tiled_fraction(times, bounds, dt, rtol, out):  # pragma: no cover - compiled
    """``out[a, b]``: fraction of a's spikes with a spike of b within ``dt + rtol * |t_b|``.

    One merge pass per pair: the tolerance grows with the partner time, so the nearest
    partner before and the nearest after are the only candidates.
    """
    n = bounds.size - 1
    for a in range(n):
        a0, a1 = bounds[a], bounds[a + 1]
        if a1 == a0:
            continue
        for b in range(n):
            b0, b1 = bounds[b], bounds[b + 1]
            if b1 == b0:
                continue
            k = b0
            hits = 0
            for s in range(a0, a1):
                x = times[s]
                while k < b1 and times[k] < x:
                    k += 1
                if k < b1 and abs(x - times[k]) <= dt + rtol * abs(times[k]):
                    hits += 1
                elif k > b0 and abs(x - times[k - 1]) <= dt + rtol * abs(times[k - 1]):
                    hits += 1
            out[a, b] = hits / (a1 - a0)


def sttc(record: SpikeRecord, dt: float = 0.005, *, rtol: float = 0.0) -> np.ndarray:
    """Spike time tiling coefficient of all pairs (Cutts & Eglen 2014, J Neurosci 34:14288).

    ``STTC = (P_A - T_B) / (2 (1 - P_A T_B)) + (P_B - T_A) / (2 (1 - P_B T_A))`` where
    ``T_A`` is the fraction of ``[t_start, t_stop]`` within ``± dt`` (s) of a spike of A
    and ``P_A`` the fraction of A's spikes within ``dt`` of a spike of B. Returns
    ``(n_units, n_units)``, symmetric, 1 on the diagonal, NaN for silent units. The
    degenerate cases (``P T = 1``) are resolved as Elephant 1.2.1 does.

    ``rtol``: Elephant 1.2.1 tests closeness with ``np.isclose(t_a, t_b, atol=dt)``, whose
    default relative tolerance adds ``1e-5 * |t_b|`` to ``dt`` (1 ms at t = 100 s).
    The default ``rtol=0`` is the paper's definition; ``rtol=1e-5`` reproduces
    ``elephant.spike_train_correlation.spike_time_tiling_coefficient`` exactly.
    """
    record = _check_record(record)
    if not dt > 0:
        raise ValueError(f"dt must be > 0 s, got {dt}")
    if not rtol >= 0:
        raise ValueError(f"rtol must be >= 0, got {rtol}")
    n = record.n_units
    times, owner, bounds = _unit_major(record.times, record.ids, n)
    p = np.full((n, n), np.nan)
    _tiled_fraction(times, bounds, float(dt), float(rtol), p)
    # T: union of the [t - dt, t + dt] tiles, clipped to the window; gaps cap at 2 dt
    same = owner[1:] == owner[:-1]
    # float64 even without any pair of same-unit spikes (bincount of nothing returns int64)
    covered = np.bincount(owner[1:][same], weights=np.minimum(np.diff(times)[same], 2 * dt),
                          minlength=n).astype(np.float64)
    counts = np.diff(bounds)
    has = counts > 0
    first = times[bounds[:-1][has]]
    last = times[bounds[1:][has] - 1]
    covered[has] += np.minimum(first - record.t_start, dt) + np.minimum(record.t_stop - last, dt)
    t = np.where(has, covered / record.duration, np.nan)
    # pair (i, j): P_A = p[j, i], P_B = p[i, j], T_A = t[j], T_B = t[i] in Elephant's naming
    pa, pb, ta, tb = p.T, p, t[None, :], t[:, None]
    one_a, one_b = pa * tb == 1, pb * ta == 1
    with np.errstate(invalid="ignore", divide="ignore"):
        left = np.where(one_a, 0.5, 0.5 * (pa - tb) / (1 - pa * tb))
        right = np.where(one_b, 0.5, 0.5 * (pb - ta) / (1 - pb * ta))
    return left + right


# -- count correlations and population synchrony ---------------------------------------------
def spike_count_correlation(record: SpikeRecord, bin_size: float) -> np.ndarray:
    """Pearson correlation of the binned spike counts of all pairs, ``(n_units, n_units)``.

    Counts use the record's binning (``bin_size`` in s); the covariance comes from the
    sparse count matrix (exact integer products), so it costs O(spikes), not O(bins x units).
    Equals Elephant's ``correlation_coefficient(BinnedSpikeTrain(trains), binary=False)``.
    Silent units give NaN rows and columns.
    """
    record = _check_record(record)
    n_bins = record.n_bins(bin_size)
    counts = record.bin(bin_size, sparse=True)
    gram = (counts.T @ counts).toarray().astype(np.float64)
    total = np.asarray(counts.sum(axis=0)).ravel().astype(np.float64)
    cov = gram - np.outer(total, total) / n_bins
    std = np.sqrt(np.diag(cov))
    with np.errstate(invalid="ignore", divide="ignore"):
        return cov / np.outer(std, std)


def golomb_chi(record: SpikeRecord, bin_size: float, *, tau: float | None = None) -> float:
    """Golomb's synchrony measure chi (Golomb 2007, Scholarpedia 2(1):1347).

    ``chi^2 = Var_t[V(t)] / mean_i Var_t[V_i(t)]`` with ``V = mean_i V_i``; chi is 1 when
    all units do the same and about ``1 / sqrt(n_units)`` for independent units. The
    traces ``V_i`` are the spike counts in bins of ``bin_size`` s (record convention) or,
    with ``tau`` (s), those counts filtered by a causal exponential kernel
    ``exp(-t / tau)`` (the "synaptic" traces of Golomb's definition). Variances are over
    time bins (ddof=0); silent units count with variance 0. Returns chi (a float).
    """
    record = _check_record(record)
    n_bins = record.n_bins(bin_size)
    n = record.n_units
    if tau is None:
        bins, ids = record.bin_indices(bin_size)
        population = np.bincount(bins, minlength=n_bins) / n
        cells, c = np.unique(ids * n_bins + bins, return_counts=True)
        s1 = np.bincount(cells // n_bins, weights=c, minlength=n)
        s2 = np.bincount(cells // n_bins, weights=c * c, minlength=n)
        unit_var = s2 / n_bins - (s1 / n_bins) ** 2
    else:
        if not tau > 0:
            raise ValueError(f"tau must be > 0 s, got {tau}")
        from scipy.signal import lfilter

        decay = np.exp(-bin_size / tau)
        traces = lfilter([1.0], [1.0, -decay], record.bin(bin_size, dtype=np.float64), axis=0)
        population = traces.mean(axis=1)
        unit_var = traces.var(axis=0)
    mean_var = unit_var.mean()
    if not mean_var > 0:
        raise SynchronyUndefinedError("golomb_chi is undefined: every unit's trace is constant")
    return float(np.sqrt(population.var() / mean_var))
