"""Numba kernels of the coupled Poisson GLM: they run over spikes, never over a design matrix.

Notation: spikes are ``(bins, ids)`` sorted by bin (a bin with k spikes of a unit appears k
times); ``H[j, l - 1, i]`` is the coupling filter from pre ``j`` to post ``i`` at lag ``l``
(1..W bins) and ``b[i]`` the intercept, so the linear predictor is

    eta[t, i] = b[i] + sum over spikes (t', j) with 1 <= t - t' <= W of H[j, t - t' - 1, i].

Cost per pass: spikes x W x n_units (the filter tails) plus bins x n_units (the exp), instead
of bins x (n_units x n_basis) x n_units for a dense design matrix. The time axis is cut into
chunks (the predictor of one chunk is all that is dense); inside a chunk the spikes are
visited unit by unit so that a unit's filter and gradient rows stay in cache. The kernels
release the GIL: callers run disjoint time ranges on threads, each with private gradient
accumulators.
"""
from __future__ import annotations

import numba
import numpy as np
from numba import types
from numba.extending import overload

# reassociation lets the row sums vectorise; no "fast" flags that assume finite values
_FASTMATH = {"nsz", "arcp", "contract", "reassoc"}


def _exp_row(buf, r, bits, tmp):  # pragma: no cover - replaced by the overload in numba code
    raise NotImplementedError


@overload(_exp_row, inline="always")
def _exp_row_impl(buf, r, bits, tmp):  # pragma: no cover - numba
    """buf[r, :] = exp(buf[r, :]). float32: Cody-Waite range reduction, a degree-6 polynomial
    and the exponent written as int32 bits (vectorises; max relative error 3e-7, arguments
    clamped to [-87, 88], the normal float32 range); float64: libm's exp."""
    if buf.dtype != types.float32:
        def exp64(buf, r, bits, tmp):
            for i in range(buf.shape[1]):
                buf[r, i] = np.exp(buf[r, i])
        return exp64

    def exp32(buf, r, bits, tmp):
        scale = bits.view(np.float32)
        n = buf.shape[1]
        for i in range(n):
            x = min(max(buf[r, i], np.float32(-87.0)), np.float32(88.0))
            k = np.floor(x * np.float32(1.4426950) + np.float32(0.5))
            f = x - k * np.float32(0.693359375) + k * np.float32(2.12194440e-4)
            tmp[i] = np.float32(1.0) + f * (np.float32(1.0) + f * (np.float32(0.5) + f * (
                np.float32(1.6666667e-1) + f * (np.float32(4.1666668e-2) + f * (
                    np.float32(8.333334e-3) + f * np.float32(1.3888889e-3))))))
            bits[i] = (np.int32(k) + np.int32(127)) << np.int32(23)
        for i in range(n):
            buf[r, i] = tmp[i] * scale[i]
    return exp32


@numba.njit(inline="always")
def _first(bins, value):  # pragma: no cover - numba
    """Index of the first entry >= value in the sorted ``bins`` (np.searchsorted, side left;
    written out because numba's generic searchsorted is slow to compile)."""
    lo, hi = 0, bins.shape[0]
    while lo < hi:
        mid = (lo + hi) >> 1
        if bins[mid] < value:
            lo = mid + 1
        else:
            hi = mid
    return lo


@numba.njit(inline="always")
def _by_unit(ids, a0, a1, n_units, order, start):  # pragma: no cover - numba
    """Counting sort of the spikes a0..a1 by unit into ``order`` (spike indices, grown if
    needed; returned), ``start[j]:start[j + 1]`` being unit j's. Visiting the spikes unit by
    unit keeps that unit's filter rows H[j] and gradient rows dH[j] in cache."""
    if order.shape[0] < a1 - a0:
        order = np.empty(2 * (a1 - a0), dtype=np.int64)
    start[:] = 0
    for a in range(a0, a1):
        start[ids[a] + 1] += 1
    for j in range(n_units):
        start[j + 1] += start[j]
    fill = start[:n_units].copy()
    for a in range(a0, a1):
        j = ids[a]
        order[fill[j]] = a
        fill[j] += 1
    return order


@numba.njit(inline="always")
def _add_tails(bins, ids, H, buf, c0, c1, order, n):  # pragma: no cover - numba
    """buf[t - c0, :] += H[j, t - t' - 1, :] for the n spikes listed in ``order``."""
    window = H.shape[1]
    n_units = H.shape[2]
    for p in range(n):
        a = order[p]
        t = bins[a]
        j = ids[a]
        for lag in range(max(1, c0 - t), min(window, c1 - 1 - t) + 1):
            r = t + lag - c0
            for i in range(n_units):
                buf[r, i] += H[j, lag - 1, i]


@numba.njit(cache=True, nogil=True, fastmath=_FASTMATH)
def nll_grad(bins, ids, H, H64, b, b64, weights, t0, t1, chunk, want_grad, dH, db):  # pragma: no cover - numba
    """Poisson negative log-likelihood (without log y!) summed over bins [t0, t1) and units;
    adds its gradient with respect to ``H`` and ``b`` into ``dH`` (n_pre, W, n_post) and
    ``db`` (n_post,), both float64 (``dH`` is untouched unless ``want_grad``).

    H, b: filters and intercepts in the working dtype (float32 or float64), used for the
    dense ``exp`` part; H64, b64: the same in float64, used for the sparse ``y * eta`` part,
    evaluated exactly from spike pairs. weights: (n_bins,) per-bin weights or an empty
    array. Releases the GIL: callers run disjoint time ranges on threads.
    """
    window, n_units = H.shape[1], H.shape[2]
    has_w = weights.shape[0] > 0
    buf = np.empty((chunk, n_units), dtype=H.dtype)
    bits = np.empty(n_units, dtype=np.int32)
    tmp = np.empty(n_units, dtype=H.dtype)
    order = np.empty(1024, dtype=np.int64)
    start = np.empty(n_units + 1, dtype=np.int64)
    loss = 0.0
    for c0 in range(t0, t1, chunk):
        c1 = min(c0 + chunk, t1)
        a0 = _first(bins, c0 - window)
        a1 = _first(bins, c1 - 1)
        order = _by_unit(ids, a0, a1, n_units, order, start)
        for r in range(c1 - c0):
            for i in range(n_units):
                buf[r, i] = b[i]
        _add_tails(bins, ids, H, buf, c0, c1, order, a1 - a0)
        # dense part: the expected counts; buf becomes d(loss)/d(eta) = w * mu
        for r in range(c1 - c0):
            wt = weights[c0 + r] if has_w else 1.0
            _exp_row(buf, r, bits, tmp)
            for i in range(n_units):
                mu = buf[r, i] * wt
                buf[r, i] = mu
                loss += mu
                db[i] += mu
        if want_grad:
            for p in range(a1 - a0):
                a = order[p]
                t = bins[a]
                j = ids[a]
                for lag in range(max(1, c0 - t), min(window, c1 - 1 - t) + 1):
                    r = t + lag - c0
                    for i in range(n_units):
                        dH[j, lag - 1, i] += buf[r, i]
        # sparse part: -sum y * eta over the observed spikes, exact in float64 from the
        # pairs (earlier spike -> this spike) inside the window
        for a in range(_first(bins, c0), _first(bins, c1)):
            t = bins[a]
            i = ids[a]
            wt = weights[t] if has_w else 1.0
            eta = b64[i]
            for p in range(_first(bins, t - window), _first(bins, t)):
                lag = t - bins[p]
                eta += H64[ids[p], lag - 1, i]
                if want_grad:
                    dH[ids[p], lag - 1, i] -= wt
            loss -= wt * eta
            db[i] -= wt
    return loss


@numba.njit(cache=True, nogil=True, fastmath=_FASTMATH)
def linear_predictor(bins, ids, H, b, t0, t1, out):  # pragma: no cover - numba
    """Writes eta[t, i] for bins [t0, t1) into ``out`` (t1 - t0, n_units), H's dtype."""
    window, n_units = H.shape[1], H.shape[2]
    for r in range(t1 - t0):
        for i in range(n_units):
            out[r, i] = b[i]
    a0, a1 = _first(bins, t0 - window), _first(bins, t1 - 1)
    order = _by_unit(ids, a0, a1, n_units, np.empty(a1 - a0, dtype=np.int64), np.empty(n_units + 1, dtype=np.int64))
    _add_tails(bins, ids, H, out, t0, t1, order, a1 - a0)


@numba.njit(cache=True)
def features(bins, ids, basis, n_units, c0, c1):  # pragma: no cover - numba
    """Dense basis-filtered history of bins [c0, c1): (c1 - c0, n_units, n_basis) float32,
    X[t - c0, j, k] = sum_l basis[l - 1, k] * y_j(t - l)."""
    window, n_basis = basis.shape
    out = np.zeros((c1 - c0, n_units, n_basis), dtype=np.float32)
    for a in range(_first(bins, c0 - window), _first(bins, c1 - 1)):
        t = bins[a]
        j = ids[a]
        for lag in range(max(1, c0 - t), min(window, c1 - 1 - t) + 1):
            for k in range(n_basis):
                out[t + lag - c0, j, k] += basis[lag - 1, k]
    return out


@numba.njit(cache=True)
def cross_products(bins, ids, n_units, window):  # pragma: no cover - numba
    """R[d, j, m] = sum_u y_j(u) * y_m(u + d) for lags d = 0..window-1, from the spike pairs
    less than ``window`` bins apart (cost: spikes x population spikes per window)."""
    out = np.zeros((window, n_units, n_units))
    n = bins.shape[0]
    for a in range(n):
        j = ids[a]
        out[0, j, j] += 1.0  # the spike with itself
        for c in range(a + 1, n):
            d = bins[c] - bins[a]
            if d >= window:
                break
            out[d, j, ids[c]] += 1.0
            if d == 0:  # a same-bin pair counts in both orders
                out[0, ids[c], j] += 1.0
    return out


@numba.njit(cache=True, nogil=True, fastmath=_FASTMATH)
def fisher_sums(bins, ids, basis, H, b, weights, t0, t1, chunk, s0, s1, s2):  # pragma: no cover - numba
    """Adds, over bins [t0, t1), the sums of the Fisher information blocks at the fit:
    s0[i] += sum_t mu_i, s1[j, k, i] += sum_t mu_i x_jk, s2[j, k, q, i] += sum_t mu_i x_jk x_jq
    (k <= q only), with mu = w * exp(eta) and x the history features. Only the (bin, pre)
    pairs with a presynaptic spike in the window are visited."""
    window, n_basis = basis.shape
    n_units = H.shape[2]
    has_w = weights.shape[0] > 0
    eta = np.empty((chunk, n_units))
    feats = np.empty((chunk, n_units, n_basis))
    order = np.empty(1024, dtype=np.int64)
    start = np.empty(n_units + 1, dtype=np.int64)
    for c0 in range(t0, t1, chunk):
        c1 = min(c0 + chunk, t1)
        for r in range(c1 - c0):
            for i in range(n_units):
                eta[r, i] = b[i]
        a0 = _first(bins, c0 - window)
        a1 = _first(bins, c1 - 1)
        order = _by_unit(ids, a0, a1, n_units, order, start)
        _add_tails(bins, ids, H, eta, c0, c1, order, a1 - a0)
        feats[:c1 - c0] = 0.0
        for a in range(a0, a1):
            t = bins[a]
            j = ids[a]
            for lag in range(max(1, c0 - t), min(window, c1 - 1 - t) + 1):
                for k in range(n_basis):
                    feats[t + lag - c0, j, k] += basis[lag - 1, k]
        for r in range(c1 - c0):
            wt = weights[c0 + r] if has_w else 1.0
            for i in range(n_units):
                eta[r, i] = np.exp(eta[r, i]) * wt
                s0[i] += eta[r, i]
            for j in range(n_units):
                active = False
                for k in range(n_basis):
                    if feats[r, j, k] != 0.0:
                        active = True
                if not active:
                    continue
                for k in range(n_basis):
                    xk = feats[r, j, k]
                    for i in range(n_units):
                        s1[j, k, i] += xk * eta[r, i]
                    for q in range(k, n_basis):
                        xkq = xk * feats[r, j, q]
                        for i in range(n_units):
                            s2[j, k, q, i] += xkq * eta[r, i]
