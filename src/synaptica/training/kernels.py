"""Fused CPU kernels of the training layers (numba, compiled once and cached on disk).

Two things make surrogate-gradient training of feed-forward SNNs slow in eager PyTorch:
dozens of small elementwise ops per time step, and dense matrix multiplies on inputs that
are binary and mostly zero. These kernels handle both:

* :func:`lif_forward` / :func:`lif_backward` run the whole LIF recurrence over T steps in
  one pass each, parallel over the batch (the surrogate formulas are those of
  :mod:`synaptica.training.surrogate`, selected by kernel id);
* :func:`binary_rows` lists the active inputs of each row of a 0/1 matrix (CSR), and
  :func:`gather_rows` / :func:`scatter_rows` compute ``X @ W`` and ``X^T @ G`` from that
  list: one vector add per spike instead of one multiply-add per input.

Arrays are NumPy views of CPU tensors (float32, C-contiguous). Layout ``(T, B, N)``.
"""
from __future__ import annotations

import math

import numba
import numpy as np

_JIT = dict(nogil=True, cache=True, fastmath=True, error_model="numpy")


@numba.njit(inline="always", **_JIT)
def _surrogate(x, kind, width):
    a = abs(x) / width
    if kind == 0:
        return 1.0 / ((1.0 + a) * (1.0 + a))
    if kind == 1:
        b = 0.5 * math.pi * a
        return 1.0 / (1.0 + b * b)
    if kind == 2:
        return max(0.0, 1.0 - a)
    if kind == 3:
        return math.exp(-a)
    return 1.0 if a < 1.0 else 0.0


@numba.njit(parallel=True, **_JIT)
def lif_forward(current, beta, threshold, v0, reset_to_zero, kind, width, spikes, sigma, h_store, v_out):
    """h_t = beta v_{t-1} + I_t; s_t = H(h_t - theta); v_t = h_t - theta s_t (subtract)
    or h_t (1 - s_t) (reset_to_zero). Writes spikes (T,B,N), surrogate derivatives sigma
    (T,B,N), h_t into h_store when it has T rows (else skipped), final v into v_out (B,N)."""
    n_steps, batch, n = current.shape
    keep_h = h_store.shape[0] == n_steps
    for b in numba.prange(batch):
        v = v0[b].copy()
        for t in range(n_steps):
            for j in range(n):
                h = beta[j] * v[j] + current[t, b, j]
                x = h - threshold[j]
                s = 1.0 if x >= 0.0 else 0.0
                spikes[t, b, j] = s
                sigma[t, b, j] = _surrogate(x, kind, width)
                if keep_h:
                    h_store[t, b, j] = h
                v[j] = h * (1.0 - s) if reset_to_zero else h - threshold[j] * s
        v_out[b] = v


@numba.njit(parallel=True, **_JIT)
def lif_backward(grad_spikes, grad_v_final, spikes, sigma, h_store, v0, beta, threshold, reset_to_zero,
                 detach_reset, grad_current, grad_v0, grad_beta_rows, grad_threshold_rows):
    """Reverse pass of :func:`lif_forward`. Per-row partial sums of the parameter
    gradients go to grad_*_rows (B,N) (summed over the batch by the caller, so threads
    never write to the same element). h_store must hold h when reset_to_zero or when the
    beta gradient is wanted (grad_beta_rows with B rows)."""
    n_steps, batch, n = grad_spikes.shape
    want_beta = grad_beta_rows.shape[0] == batch
    for b in numba.prange(batch):
        gv = grad_v_final[b].copy()
        for t in range(n_steps - 1, -1, -1):
            for j in range(n):
                sg = sigma[t, b, j]
                s = 1.0 if spikes[t, b, j] else 0.0
                theta = threshold[j]
                if reset_to_zero:
                    h = h_store[t, b, j]
                    dv_dh = (1.0 - s) - (0.0 if detach_reset else h * sg)
                    dv_dtheta = 0.0 if detach_reset else h * sg
                else:
                    dv_dh = 1.0 - (0.0 if detach_reset else theta * sg)
                    dv_dtheta = -s + (0.0 if detach_reset else theta * sg)
                gs = grad_spikes[t, b, j]
                gh = gv[j] * dv_dh + gs * sg
                grad_threshold_rows[b, j] += gv[j] * dv_dtheta - gs * sg
                grad_current[t, b, j] = gh
                if want_beta:
                    if t == 0:
                        v_prev = v0[b, j]
                    else:
                        hp = h_store[t - 1, b, j]
                        sp = 1.0 if spikes[t - 1, b, j] else 0.0
                        v_prev = hp * (1.0 - sp) if reset_to_zero else hp - theta * sp
                    grad_beta_rows[b, j] += gh * v_prev
                gv[j] = beta[j] * gh
        grad_v0[b] = gv


@numba.njit(parallel=True, **_JIT)
def binary_rows(x, max_density):
    """CSR of the ones of a 2-D 0/1 float matrix: (indptr, indices, ok). ok is False (and
    the lists unusable) if x has a value other than 0 or 1, or more than max_density ones."""
    rows, cols = x.shape
    counts = np.zeros(rows + 1, dtype=np.int64)
    bad = np.zeros(rows, dtype=np.bool_)
    for r in numba.prange(rows):
        c = 0
        for i in range(cols):
            value = x[r, i]
            if value == 1.0:
                c += 1
            elif value != 0.0:
                bad[r] = True
        counts[r + 1] = c
    indptr = np.cumsum(counts)
    if bad.any() or indptr[rows] > max_density * rows * cols:
        return indptr, np.zeros(0, dtype=np.int32), False
    indices = np.empty(indptr[rows], dtype=np.int32)
    for r in numba.prange(rows):
        k = indptr[r]
        for i in range(cols):
            if x[r, i] == 1.0:
                indices[k] = i
                k += 1
    return indptr, indices, True


@numba.njit(parallel=True, **_JIT)
def gather_rows(indptr, indices, table, bias, out):
    """out[r] = bias + sum of table[i] over the active entries i of row r.

    With table = W^T this is ``X @ W^T``; with the transposed lists (:func:`transpose_csr`)
    and table = G it is ``X^T @ G``. Output columns are processed in tiles of 64 so the
    rows of ``table`` being summed stay in the L2 cache while every row is visited.
    """
    rows = out.shape[0]
    n_out = out.shape[1]
    tile = 64
    n_blocks = (rows + 31) // 32
    for blk in numba.prange(n_blocks):
        acc = np.empty(tile, dtype=out.dtype)
        for c0 in range(0, n_out, tile):
            c1 = min(n_out, c0 + tile)
            width = c1 - c0
            for r in range(blk * 32, min(rows, blk * 32 + 32)):
                for j in range(width):
                    acc[j] = bias[c0 + j]
                for k in range(indptr[r], indptr[r + 1]):
                    w = table[indices[k]]
                    for j in range(width):
                        acc[j] += w[c0 + j]
                for j in range(width):
                    out[r, c0 + j] = acc[j]


@numba.njit(**_JIT)
def transpose_csr(indptr, indices, n_cols):
    """Column lists (CSC) of a CSR pattern: for each column, the rows where it is 1."""
    counts = np.zeros(n_cols + 1, dtype=np.int64)
    for k in range(indices.shape[0]):
        counts[indices[k] + 1] += 1
    col_ptr = np.cumsum(counts)
    fill = col_ptr[:-1].copy()
    rows = np.empty(indices.shape[0], dtype=np.int32)
    for r in range(indptr.shape[0] - 1):
        for k in range(indptr[r], indptr[r + 1]):
            c = indices[k]
            rows[fill[c]] = r
            fill[c] += 1
    return col_ptr, rows
