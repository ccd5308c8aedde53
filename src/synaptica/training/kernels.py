"""Fused CPU kernels of the training layers (numba; compiled on first use, cached on disk).

Two things make surrogate-gradient training of feed-forward SNNs slow in eager PyTorch:
dozens of small elementwise ops per time step, and dense matrix multiplies on inputs that
are binary and mostly zero. These kernels handle both:

* :func:`lif_forward` / :func:`lif_backward` run the whole LIF recurrence over T steps in
  one pass each. The forward pass compiles the step of :mod:`synaptica.training.neuron`
  and the backward pass the surrogate of :mod:`synaptica.primitives.surrogate` (one
  kernel per surrogate, compiled when first used): the same functions the torch path
  runs, not a copy;
* :func:`binary_rows` lists the active inputs of each row of a 0/1 matrix (CSR), and
  :func:`gather_rows` / :func:`scatter_rows` compute ``X @ W`` and ``X^T @ G`` from that
  list: one vector add per spike instead of one multiply-add per input.

Every kernel is serial and releases the GIL. The two products, the heavy part, also have
a thin ``parallel=True`` wrapper (:func:`gather_rows_parallel`, :func:`scatter_rows_parallel`)
that runs the serial kernel on ranges of samples on numba's threads;
:mod:`synaptica.training.parallel` picks serial or parallel call by call. Serial kernels
compile in a fraction of the time of whole ``parallel=True`` ones, and the LIF passes
(a few ms per batch) stay serial. Arrays are NumPy views of CPU tensors (float32 or
float64, C-contiguous), layout ``(T, B, N)``.
"""
from __future__ import annotations

import hashlib
import inspect
import math
from functools import lru_cache

import numba
import numpy as np
from numba.extending import overload

from synaptica.primitives import bind
from synaptica.primitives import surrogate as surrogates
from synaptica.training import neuron

_JIT = dict(nogil=True, cache=True, fastmath=True, error_model="numpy")
_INLINE = numba.njit(inline="always", fastmath=True, error_model="numpy")


@_INLINE
def _where(condition, a, b):
    return a if condition else b


@_INLINE
def _spike(x):
    return 1.0 if x >= 0.0 else 0.0


@_INLINE
def _identity(x):
    return x


#: Scalar forms of the primitives the neuron step and the surrogates use (elementwise
#: inside the kernels; arithmetic in float64 constants, stored in the arrays' dtype).
SCALAR_PRIMITIVES = {"exp": math.exp, "where": _where, "minimum": min, "maximum": max, "spike": _spike,
                     "detach": _identity}

_LIF = neuron.bind_all(SCALAR_PRIMITIVES, _INLINE)
_step, _reset = _LIF["step"], _LIF["reset"]
_SLOPES = {name: _INLINE(bind(f, SCALAR_PRIMITIVES)) for name, f in surrogates.DERIVATIVES.items()}

#: Hash of the definitions compiled into the kernels. numba keys its disk cache on this
#: file and on a kernel's closure variables; every kernel that inlines a definition from
#: another module closes over this, so editing neuron.py or surrogate.py recompiles.
SOURCE = hashlib.sha256((inspect.getsource(neuron) + inspect.getsource(surrogates)).encode()).hexdigest()[:16]


def _slope(name, x, width):
    """``sigma'(x)`` of surrogate ``name``; in a kernel ``name`` must be a constant."""
    return surrogates.DERIVATIVES[name](x, width)


@overload(_slope, inline="always", prefer_literal=True)
def _slope_numba(name, x, width):
    if not isinstance(name, numba.types.StringLiteral):
        return None
    slope = _SLOPES[name.literal_value]  # chosen at compile time: no branch in the loop
    return lambda name, x, width: slope(x, width)


def _lif_forward(source: str):
    @numba.njit(**_JIT)
    def lif_forward(current, beta, threshold, v0, to_zero, spikes, spike_bytes, h_store, v_out):
        """:func:`neuron.step` over T steps. Writes the spikes (T,B,N) as floats into
        ``spikes`` and as 0/1 bytes into ``spike_bytes`` (kept for the backward pass), h_t
        into h_store (T,B,N; may be ``current`` itself: the backward pass recomputes the
        surrogate from it) and the final v into v_out (B,N)."""
        source  # noqa: B018 (a closure variable: part of the cache key, see SOURCE)
        n_steps, batch, n = current.shape
        v = np.empty(n, dtype=v_out.dtype)
        for b in range(batch):
            v[:] = v0[b]
            for t in range(n_steps):
                cur, hs, sp, sb = current[t, b], h_store[t, b], spikes[t, b], spike_bytes[t, b]
                for j in range(n):
                    h, s, v_new = _step(v[j], cur[j], beta[j], threshold[j], to_zero)
                    hs[j] = h
                    sp[j] = s
                    sb[j] = s
                    v[j] = v_new
            v_out[b] = v

    return lif_forward


lif_forward = _lif_forward(SOURCE)


@lru_cache(maxsize=None)
def lif_backward(surrogate: str):
    """The reverse pass of :func:`lif_forward` with surrogate ``surrogate`` (a name of
    :data:`~synaptica.primitives.surrogate.DERIVATIVES`); compiled when first used."""
    if surrogate not in surrogates.DERIVATIVES:
        raise ValueError(f"unknown surrogate {surrogate!r}")
    return _lif_backward(surrogate, SOURCE)


def _lif_backward(surrogate: str, source: str):
    @numba.njit(**_JIT)
    def lif_backward(grad_spikes, grad_v_final, spikes, h_store, v0, beta, threshold, to_zero, detach_reset,
                     width, grad_current, grad_v0, grad_beta_rows, grad_threshold_rows):
        """Reverse pass; grad_current may be h_store itself (each h is read before its
        slot is written). Per-row partial sums of the parameter gradients go to
        grad_*_rows (B,N) (summed over the batch by the caller); grad_beta_rows with 0
        rows skips the beta gradient.

        neuron.reset is v = h - s c with c = h (to zero) or theta (subtract). With
        sigma = sigma'(h - theta), z = 1 for reset to zero, k = 0 if the reset is detached:
        dv/dh = 1 - z s - k sigma c;  dv/dtheta = -(1 - z) s + k sigma c;  ds/dh = -ds/dtheta = sigma.
        """
        source  # noqa: B018 (a closure variable: part of the cache key, see SOURCE)
        n_steps, batch, n = grad_spikes.shape
        want_beta = grad_beta_rows.shape[0] == batch
        z = 1.0 if to_zero else 0.0
        k = 0.0 if detach_reset else 1.0
        sg = np.empty(n, dtype=h_store.dtype)
        v_prev = np.empty(n, dtype=h_store.dtype)
        for b in range(batch):
            gv = grad_v_final[b].copy()
            g_theta = grad_threshold_rows[b]
            for t in range(n_steps - 1, -1, -1):
                hs, sp, gs, gc = h_store[t, b], spikes[t, b], grad_spikes[t, b], grad_current[t, b]
                for j in range(n):  # its own loop, so that it vectorises
                    sg[j] = _slope(surrogate, hs[j] - threshold[j], width)
                for j in range(n):
                    s = 1.0 if sp[j] else 0.0
                    reset_slope = k * sg[j] * (hs[j] if to_zero else threshold[j])
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
                        hp, spp = h_store[t - 1, b], spikes[t - 1, b]
                        for j in range(n):
                            v_prev[j] = _reset(hp[j], 1.0 if spp[j] else 0.0, threshold[j], to_zero)
                    g_beta = grad_beta_rows[b]
                    for j in range(n):
                        g_beta[j] += gc[j] * v_prev[j]
            grad_v0[b] = gv

    return lif_backward


@numba.njit(**_JIT)
def binary_rows(x, max_density):
    """CSR of the ones of a 2-D 0/1 float matrix: (indptr, indices, ok). ok is False (and
    the lists unusable) if x has a value other than 0 or 1, or more than max_density ones."""
    rows, cols = x.shape
    indptr = np.zeros(rows + 1, dtype=np.int64)
    bad = 0
    for r in range(rows):
        c = 0.0
        for i in range(cols):  # branch-free, so it vectorises
            v = x[r, i]
            c += v
            bad += (v != 0.0) & (v != 1.0)
        indptr[r + 1] = indptr[r] + int(c)
    if bad > 0 or indptr[rows] > max_density * rows * cols:
        return indptr, np.zeros(0, dtype=np.int32), False
    indices = np.empty(indptr[rows], dtype=np.int32)
    buf = np.empty(cols, dtype=np.int32)
    for r in range(rows):
        k = 0
        for i in range(cols):  # write every index, advance only on a one: no branch to mispredict
            buf[k] = i
            k += x[r, i] == 1.0
        indices[indptr[r]:indptr[r + 1]] = buf[:k]
    return indptr, indices, True


@numba.njit(**_JIT)
def gather_rows(indptr, indices, weight_t, bias, out, stride, lo, hi):
    """out[r] = bias + sum of weight_t[i] over the active inputs i of row r  (X @ W^T),
    for the samples lo..hi-1.

    Sample b's rows are ``b, b + stride, b + 2 stride, ...`` (its time steps in a
    time-major batch); they are done together: they draw on the same few input rows of
    weight_t, which then stay in the core's cache.
    """
    rows, n_out = out.shape
    steps = rows // stride
    acc = np.empty(n_out, dtype=out.dtype)
    for b in range(lo, hi):
        for t in range(steps):
            r = t * stride + b
            acc[:] = bias
            for k in range(indptr[r], indptr[r + 1]):
                w = weight_t[indices[k]]
                for j in range(n_out):
                    acc[j] += w[j]
            out[r] = acc


@numba.njit(**_JIT)
def scatter_rows(indptr, indices, grad, out, bias_out, stride, lo, hi):
    """out (n_in, n_out) += X^T @ grad and bias_out (n_out,) += the sum of grad's rows,
    over the samples lo..hi-1 (rows as in :func:`gather_rows`): each active (r, i) adds
    grad[r] to out[i]."""
    rows, n_out = grad.shape
    steps = rows // stride
    for b in range(lo, hi):
        for t in range(steps):
            r = t * stride + b
            g = grad[r]
            for j in range(n_out):
                bias_out[j] += g[j]
            for k in range(indptr[r], indptr[r + 1]):
                o = out[indices[k]]
                for j in range(n_out):
                    o[j] += g[j]


@numba.njit(parallel=True, **_JIT)
def gather_rows_parallel(indptr, indices, weight_t, bias, out, stride, n_parts):
    """:func:`gather_rows` for all samples, cut into n_parts ranges run on numba's threads."""
    for c in numba.prange(n_parts):
        gather_rows(indptr, indices, weight_t, bias, out, stride, stride * c // n_parts, stride * (c + 1) // n_parts)


@numba.njit(parallel=True, **_JIT)
def scatter_rows_parallel(indptr, indices, grad, parts, bias_parts, stride):
    """:func:`scatter_rows` for all samples, cut into ``len(parts)`` ranges run on numba's
    threads, range c summing into parts[c] (n_in, n_out) and bias_parts[c] (n_out,)
    (zeroed by the caller, who adds them up): no two threads write the same element."""
    n_parts = parts.shape[0]
    for c in numba.prange(n_parts):
        scatter_rows(indptr, indices, grad, parts[c], bias_parts[c], stride, stride * c // n_parts,
                     stride * (c + 1) // n_parts)
