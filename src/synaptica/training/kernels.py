"""Fused CPU kernels of the training layers (numba, compiled once and cached on disk).

Two things make surrogate-gradient training of feed-forward SNNs slow in eager PyTorch:
dozens of small elementwise ops per time step, and dense matrix multiplies on inputs that
are binary and mostly zero. These kernels handle both:

* :func:`lif_forward` / :func:`lif_backward` run the whole LIF recurrence over T steps in
  one pass each, parallel over the batch (the surrogate formulas are those of
  :mod:`synaptica.primitives.surrogate`, selected by kernel id);
* :func:`binary_rows` lists the active inputs of each row of a 0/1 matrix (CSR), and
  :func:`gather_rows` / :func:`scatter_rows` compute ``X @ W`` and ``X^T @ G`` from that
  list: one vector add per spike instead of one multiply-add per input.

Arrays are NumPy views of CPU tensors (float32, C-contiguous). Layout ``(T, B, N)``.
"""
from __future__ import annotations

import math
import os

import numba
import numpy as np
from numba.np.ufunc.parallel import _launch_threads



def start_threads() -> None:
    """Start numba's thread pool with OpenMP workers that spin only briefly when idle.

    numba's OpenMP layer loads the system libgomp beside the copy torch bundles; with both
    pools spinning for libgomp's default 300,000 rounds after each parallel region, on a
    busy 2-core machine torch's small elementwise ops were measured at ~20 ms instead of
    ~10 us. Sleeping at once (OMP_WAIT_POLICY=PASSIVE) cost ~20 % of training speed in
    wake-ups. libgomp reads GOMP_SPINCOUNT when it loads, so it is set (unless the user
    set it) only while numba's pool starts: torch's pool, initialised at ``import torch``,
    keeps its own.
    """
    global _started
    if _started:
        return
    previous = os.environ.get("GOMP_SPINCOUNT")
    os.environ.setdefault("GOMP_SPINCOUNT", "30000")
    try:
        _launch_threads()
    finally:
        if previous is None:
            del os.environ["GOMP_SPINCOUNT"]
    _started = True


_started = False

_JIT = dict(nogil=True, cache=True, fastmath=True, error_model="numpy")


@numba.njit(inline="always", **_JIT)
def _surrogate_row(h, threshold, kind, width, out):
    """out[j] = sigma'(h[j] - threshold[j]) for one row; one loop per kind so each loop
    vectorises (the kind test is outside it)."""
    n = out.shape[0]
    if kind == 0:
        for j in range(n):
            a = 1.0 + abs(h[j] - threshold[j]) / width
            out[j] = 1.0 / (a * a)
    elif kind == 1:
        c = 0.5 * math.pi / width
        for j in range(n):
            a = (h[j] - threshold[j]) * c
            out[j] = 1.0 / (1.0 + a * a)
    elif kind == 2:
        for j in range(n):
            out[j] = max(0.0, 1.0 - abs(h[j] - threshold[j]) / width)
    elif kind == 3:
        for j in range(n):
            out[j] = math.exp(-abs(h[j] - threshold[j]) / width)
    else:
        for j in range(n):
            out[j] = 1.0 if abs(h[j] - threshold[j]) < width else 0.0


@numba.njit(parallel=True, **_JIT)
def lif_forward(current, beta, threshold, v0, reset_to_zero, spikes, h_store, v_out):
    """h_t = beta v_{t-1} + I_t; s_t = H(h_t - theta); v_t = h_t - theta s_t (subtract)
    or h_t (1 - s_t) (reset_to_zero). Writes spikes (T,B,N) as 0/1 bytes, h_t into
    h_store (T,B,N; may be ``current`` itself; the backward pass recomputes the surrogate
    from it) and the final v
    into v_out (B,N). Branch-free inner loop: the reset is ``h - s (z h + (1 - z) theta)``."""
    n_steps, batch, n = current.shape
    z = 1.0 if reset_to_zero else 0.0
    for b in numba.prange(batch):
        v = v0[b].copy()
        for t in range(n_steps):
            cur = current[t, b]
            hs = h_store[t, b]
            sp = spikes[t, b]
            for j in range(n):
                h = beta[j] * v[j] + cur[j]
                s = 1.0 if h >= threshold[j] else 0.0
                hs[j] = h
                sp[j] = s
                v[j] = h - s * (z * h + (1.0 - z) * threshold[j])
        v_out[b] = v


@numba.njit(parallel=True, **_JIT)
def lif_backward(grad_spikes, grad_v_final, spikes, h_store, v0, beta, threshold, reset_to_zero,
                 detach_reset, kind, width, grad_current, grad_v0, grad_beta_rows, grad_threshold_rows):
    """Reverse pass of :func:`lif_forward`; grad_current may be h_store itself (each h is
    read before its slot is written). Per-row partial sums of the parameter
    gradients go to grad_*_rows (B,N) (summed over the batch by the caller, so threads
    never write to the same element); grad_beta_rows with 0 rows skips the beta gradient.

    With sigma = sigma'(h - theta), z = 1 for reset to zero, k = 0 if the reset is detached:
    dv/dh = 1 - z s - k sigma (z h + (1 - z) theta); dv/dtheta = -(1 - z) s + k sigma (z h + (1 - z) theta).
    """
    n_steps, batch, n = grad_spikes.shape
    want_beta = grad_beta_rows.shape[0] == batch
    z = 1.0 if reset_to_zero else 0.0
    k = 0.0 if detach_reset else 1.0
    for b in numba.prange(batch):
        gv = grad_v_final[b].copy()
        sg = np.empty(n, dtype=h_store.dtype)
        v_prev = np.empty(n, dtype=h_store.dtype)
        g_theta = grad_threshold_rows[b]
        for t in range(n_steps - 1, -1, -1):
            hs = h_store[t, b]
            sp = spikes[t, b]
            gs = grad_spikes[t, b]
            gc = grad_current[t, b]
            _surrogate_row(hs, threshold, kind, width, sg)
            for j in range(n):
                s = 1.0 if sp[j] else 0.0
                reset_slope = k * sg[j] * (z * hs[j] + (1.0 - z) * threshold[j])
                gh = gv[j] * (1.0 - z * s - reset_slope) + gs[j] * sg[j]
                # flush to zero below 1e-30: gradients decaying through beta^t and the
                # surrogate's tails reach subnormal floats, which make every later
                # multiply-add (here, in the weight gradient, in Adam) ~100x slower
                gh = gh if abs(gh) >= 1e-30 else 0.0
                g_theta[j] += gv[j] * (reset_slope - (1.0 - z) * s) - gs[j] * sg[j]
                gc[j] = gh
                gv[j] = beta[j] * gh
            if want_beta:  # dL/dbeta += dL/dh_t * v_{t-1}; gc holds dL/dh_t
                if t == 0:
                    v_prev[:] = v0[b]
                else:
                    hp = h_store[t - 1, b]
                    spp = spikes[t - 1, b]
                    for j in range(n):
                        s = 1.0 if spp[j] else 0.0
                        v_prev[j] = hp[j] - s * (z * hp[j] + (1.0 - z) * threshold[j])
                g_beta = grad_beta_rows[b]
                for j in range(n):
                    g_beta[j] += gc[j] * v_prev[j]
        grad_v0[b] = gv


@numba.njit(parallel=True, **_JIT)
def binary_rows(x, max_density):
    """CSR of the ones of a 2-D 0/1 float matrix: (indptr, indices, ok). ok is False (and
    the lists unusable) if x has a value other than 0 or 1, or more than max_density ones."""
    rows, cols = x.shape
    counts = np.zeros(rows + 1, dtype=np.int64)
    bad = np.zeros(rows, dtype=np.int64)
    for r in numba.prange(rows):
        c = 0.0
        nb = 0
        for i in range(cols):  # branch-free, so it vectorises
            v = x[r, i]
            c += v
            nb += (v != 0.0) & (v != 1.0)
        counts[r + 1] = int(c)
        bad[r] = nb
    indptr = np.cumsum(counts)
    if bad.sum() > 0 or indptr[rows] > max_density * rows * cols:
        return indptr, np.zeros(0, dtype=np.int32), False
    indices = np.empty(indptr[rows], dtype=np.int32)
    for r in numba.prange(rows):
        buf = np.empty(cols, dtype=np.int32)
        k = 0
        for i in range(cols):  # write every index, advance only on a one: no branch to mispredict
            buf[k] = i
            k += x[r, i] == 1.0
        indices[indptr[r]:indptr[r + 1]] = buf[:k]
    return indptr, indices, True


@numba.njit(parallel=True, **_JIT)
def gather_rows(indptr, indices, weight_t, bias, out, stride):
    """out[r] = bias + sum of weight_t[i] over the active inputs i of row r  (X @ W^T).

    Rows ``b, b + stride, b + 2 stride, ...`` (one sample's time steps in a time-major
    batch) are done together: they draw on the same few input rows of weight_t, which then
    stay in the core's cache.
    """
    rows, n_out = out.shape
    steps = rows // stride
    for b in numba.prange(stride):
        for t in range(steps):
            r = t * stride + b
            acc = bias.copy()
            for k in range(indptr[r], indptr[r + 1]):
                w = weight_t[indices[k]]
                for j in range(n_out):
                    acc[j] += w[j]
            out[r] = acc


@numba.njit(parallel=True, **_JIT)
def scatter_rows(indptr, indices, grad, out, n_parts, stride):
    """out (n_in, n_out) += X^T @ grad: each active (r, i) adds grad[r] to out[i].

    The samples (row groups of :func:`gather_rows`) are split into n_parts blocks, one per
    thread, each summed into its own copy of out; the copies are added at the end, so grad
    is streamed once and no two threads write the same element.
    """
    rows, n_out = grad.shape
    steps = rows // stride
    parts = np.zeros((n_parts, out.shape[0], n_out), dtype=out.dtype)
    size = (stride + n_parts - 1) // n_parts
    for c in numba.prange(n_parts):
        acc = parts[c]
        for b in range(c * size, min(stride, (c + 1) * size)):
            for t in range(steps):
                r = t * stride + b
                g = grad[r]
                for k in range(indptr[r], indptr[r + 1]):
                    o = acc[indices[k]]
                    for j in range(n_out):
                        o[j] += g[j]
    for c in range(n_parts):
        out += parts[c]
