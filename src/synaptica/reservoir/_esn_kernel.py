"""Compiled recurrence of the leaky-integrator ESN (numba; compiled on first use, cached on disk).

The equation is :mod:`synaptica.reservoir.esn`'s::

    x[t] = (1 - a) x[t-1] + a tanh(d[t] + W x[t-1]),    d[t] = W_in u[t] + b

The caller computes every d[t] at once (one matrix product) into the array that then
receives the states, so the loop only adds W x[t-1] and applies the leak. W is either
CSR (values, column indices, row pointers: one multiply-add per nonzero, for the sparse
reservoirs of Jaeger 2001 and Lukosevicius 2012) or dense (a BLAS matrix-vector product
per step); a batch of at least ``BATCH_TOGETHER`` sequences advances together, one
matrix of states per step. Products are summed in float64 (also for float32 arrays), in an order that
differs from another library's BLAS, and tanh is computed from exp/expm1 (libm's tanh is
about twice as slow here; both are within a few ulp of each other): results agree with
NumPy/ReservoirPy to rounding, not bit for bit.
"""
from __future__ import annotations

import math

import numba
import numpy as np

__all__ = ["SPARSE_BELOW", "recurrent_matrix", "run_recurrence"]

#: W is stored CSR when at most this fraction of its entries is nonzero (else dense).
SPARSE_BELOW = 0.25

#: From this many sequences on, every step advances the whole batch at once (W times a
#: matrix of states: SIMD across sequences for CSR, one BLAS matrix product for dense W).
BATCH_TOGETHER = 4

_JIT = dict(cache=True, nogil=True, error_model="numpy")


@numba.njit(inline="always", error_model="numpy")
def _tanh(value):
    """tanh(v) with the sign of v from t = e^(-2|v|): (1 - t) / (1 + t) for |v| > 0.35, where
    1 - t >= 1/2 cancels no digit, else -expm1(-2|v|) / (2 + expm1(-2|v|)), exact near 0.
    Within a few ulp of libm's tanh everywhere, no overflow, about twice as fast."""
    a = abs(value)
    if a > 0.35:
        t = math.exp(-2.0 * a)
        magnitude = (1.0 - t) / (1.0 + t)
    else:
        e = math.expm1(-2.0 * a)
        magnitude = -e / (2.0 + e)
    return math.copysign(magnitude, value)


def recurrent_matrix(w: np.ndarray) -> tuple:
    """W (N, N) as the kernel takes it: ("csr", values, indices, indptr) or ("dense", W)."""
    w = np.ascontiguousarray(w)
    nonzero = w != 0
    if nonzero.mean() <= SPARSE_BELOW:
        rows, cols = np.nonzero(nonzero)
        indptr = np.zeros(w.shape[0] + 1, dtype=np.uint64)   # unsigned: numba skips negative-index checks
        np.cumsum(np.bincount(rows, minlength=w.shape[0]), out=indptr[1:])
        return "csr", w[rows, cols], cols.astype(np.uint32), indptr
    return ("dense", w)


def run_recurrence(states: np.ndarray, x: np.ndarray, matrix: tuple, leak: float) -> None:
    """In place: ``states`` (batch, T, N) holds d[t] on entry and x[1..T] on return;
    ``x`` (batch, N) holds x[0] on entry and x[T] on return."""
    if matrix[0] == "csr":
        _, values, indices, indptr = matrix
        if states.shape[0] >= BATCH_TOGETHER:
            x_t = np.ascontiguousarray(x.T)
            _sparse_batch_loop(states, x_t, values, indices, indptr, leak)
            x[:] = x_t.T
        else:
            _sparse_loop(states, x, values, indices, indptr, leak)
    elif states.shape[0] >= BATCH_TOGETHER:
        _dense_batch_loop(states, x, np.ascontiguousarray(matrix[1].T), leak)
    else:
        _dense_loop(states, x, matrix[1], leak)


@numba.njit(**_JIT)
def _sparse_loop(states, x, values, indices, indptr, leak):
    batch, n_steps, n = states.shape
    keep = 1.0 - leak
    pre = np.empty(n, dtype=states.dtype)
    for b in range(batch):
        xb = x[b]
        for t in range(n_steps):
            row = states[b, t]
            for i in range(n):
                acc = 0.0
                for k in range(indptr[i], indptr[i + 1]):
                    acc += values[k] * xb[indices[k]]
                pre[i] = acc + row[i]
            for i in range(n):
                xb[i] = keep * xb[i] + leak * _tanh(pre[i])
                row[i] = xb[i]


@numba.njit(**_JIT)
def _dense_loop(states, x, w, leak):
    batch, n_steps, n = states.shape
    keep = 1.0 - leak
    for b in range(batch):
        xb = x[b]
        for t in range(n_steps):
            row = states[b, t]
            pre = np.dot(w, xb)
            for i in range(n):
                xb[i] = keep * xb[i] + leak * _tanh(pre[i] + row[i])
                row[i] = xb[i]


@numba.njit(**_JIT)
def _sparse_batch_loop(states, x_t, values, indices, indptr, leak):
    """As :func:`_sparse_loop` for the whole batch per step; x_t is x transposed, (N, batch)."""
    batch, n_steps, n = states.shape
    keep = 1.0 - leak
    pre = np.empty((n, batch))
    for t in range(n_steps):
        for i in range(n):
            acc = pre[i]
            acc[:] = 0.0
            for k in range(indptr[i], indptr[i + 1]):
                v, row = values[k], x_t[indices[k]]
                for b in range(batch):
                    acc[b] += v * row[b]
        for i in range(n):
            for b in range(batch):
                value = keep * x_t[i, b] + leak * _tanh(pre[i, b] + states[b, t, i])
                x_t[i, b] = value
                states[b, t, i] = value


@numba.njit(**_JIT)
def _dense_batch_loop(states, x, w_t, leak):
    """As :func:`_dense_loop` for the whole batch per step (x @ W^T, one BLAS product)."""
    batch, n_steps, n = states.shape
    keep = 1.0 - leak
    for t in range(n_steps):
        pre = np.dot(x, w_t)
        for b in range(batch):
            for i in range(n):
                value = keep * x[b, i] + leak * _tanh(pre[b, i] + states[b, t, i])
                x[b, i] = value
                states[b, t, i] = value
