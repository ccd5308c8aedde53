"""Fused CPU kernels of the ELM neuron's memory recurrence (numba; compiled on first use, cached).

The memory half of :func:`synaptica.training.elm.memory_step` is a chain of small matrix
products per time step (``B x d_m`` by ``d_m x n_hidden``): eager PyTorch spends most of
its time on per-op overhead, about 0.26 ms per step forward and backward at the default
sizes. :func:`trace_forward` and :func:`memory_forward` run the whole recurrence over T steps in one call and
:func:`memory_backward` its exact adjoint (backpropagation through time written out
by hand); :class:`TraceScan` and :class:`MemoryScan` wrap them as ``torch.autograd.Function``s. The step is the
one of :func:`~synaptica.training.elm.memory_step` (module docstring of
:mod:`synaptica.training.elm`)::

    a_t = kappa * m_{t-1}
    h_t = relu(drive_t + a_t W_hm^T)
    c_t = G tanh(S (h_t W_d^T + b_d))
    m_t = a_t + lam (1 - kappa) c_t

``tests/test_elm.py`` checks the forward pass against the torch step and the backward pass
with ``torch.autograd.gradcheck`` in float64. Arrays are C-contiguous NumPy views of CPU
tensors, float32 or float64, batch-first ``(B, T, ...)``; kernels are serial (the sizes are
tiny) and release the GIL.
"""
from __future__ import annotations

import numba
import numpy as np
import torch

from synaptica.training.elm import TANH_GAIN, TANH_SLOPE
from synaptica.training.kernels import _JIT


@numba.njit(**_JIT)
def memory_forward(drives, m0, kappa, w_hm, w_d, b_d, lam, memory, hidden, change):
    """Fill ``memory`` (B, T, D), ``hidden`` (B, T, H) and ``change`` (B, T, D) from
    ``drives`` (B, T, H), ``m0`` (B, D), ``kappa`` (D,), ``w_hm`` (H, D), ``w_d`` (D, H),
    ``b_d`` (D,) and the scale ``lam``."""
    n_batch, n_steps, n_hidden = drives.shape
    n_memory = m0.shape[1]
    gain = lam * (1.0 - kappa)
    decayed = np.empty(n_memory, dtype=drives.dtype)
    for b in range(n_batch):
        for d in range(n_memory):
            decayed[d] = kappa[d] * m0[b, d]
        for t in range(n_steps):
            for j in range(n_hidden):
                z = drives[b, t, j]
                for d in range(n_memory):
                    z += w_hm[j, d] * decayed[d]
                hidden[b, t, j] = z if z > 0.0 else 0.0
            for d in range(n_memory):
                u = b_d[d]
                for j in range(n_hidden):
                    u += w_d[d, j] * hidden[b, t, j]
                c = TANH_GAIN * np.tanh(TANH_SLOPE * u)
                change[b, t, d] = c
                memory[b, t, d] = decayed[d] + gain[d] * c
            for d in range(n_memory):
                decayed[d] = kappa[d] * memory[b, t, d]


@numba.njit(**_JIT)
def memory_backward(grad_memory, m0, kappa, w_hm, w_d, lam, memory, hidden, change,
                    grad_drives, grad_m0, grad_kappa, grad_w_hm, grad_w_d, grad_b_d):
    """The adjoint of :func:`memory_forward`: from ``grad_memory`` (B, T, D) fill
    ``grad_drives`` (B, T, H) and ``grad_m0`` (B, D), and add into the zeroed
    ``grad_kappa`` (D,), ``grad_w_hm`` (H, D), ``grad_w_d`` (D, H) and ``grad_b_d`` (D,)."""
    n_batch, n_steps, n_memory = grad_memory.shape
    n_hidden = hidden.shape[2]
    gain = lam * (1.0 - kappa)
    carry = np.empty(n_memory, dtype=grad_memory.dtype)   # dL/dm_t from later steps
    grad_u = np.empty(n_memory, dtype=grad_memory.dtype)
    grad_z = np.empty(n_hidden, dtype=grad_memory.dtype)
    decayed = np.empty(n_memory, dtype=grad_memory.dtype)
    slope = TANH_GAIN * TANH_SLOPE
    for b in range(n_batch):
        carry[:] = 0.0
        for t in range(n_steps - 1, -1, -1):
            for d in range(n_memory):
                previous = memory[b, t - 1, d] if t > 0 else m0[b, d]
                decayed[d] = kappa[d] * previous
                grad_m = grad_memory[b, t, d] + carry[d]
                carry[d] = grad_m                      # dL/da_t, completed below
                c = change[b, t, d]
                grad_kappa[d] -= lam * c * grad_m      # through gain = lam (1 - kappa)
                # c = G tanh(S u): dc/du = G S (1 - (c / G)^2)
                grad_u[d] = gain[d] * grad_m * slope * (1.0 - (c / TANH_GAIN) ** 2)
                grad_b_d[d] += grad_u[d]
            for j in range(n_hidden):
                h = hidden[b, t, j]
                g = 0.0
                for d in range(n_memory):
                    grad_w_d[d, j] += grad_u[d] * h
                    g += grad_u[d] * w_d[d, j]
                grad_z[j] = g if h > 0.0 else 0.0
                grad_drives[b, t, j] = grad_z[j]
            for j in range(n_hidden):
                gz = grad_z[j]
                if gz != 0.0:
                    for d in range(n_memory):
                        grad_w_hm[j, d] += gz * decayed[d]
                        carry[d] += gz * w_hm[j, d]
            for d in range(n_memory):
                previous = memory[b, t - 1, d] if t > 0 else m0[b, d]
                grad_kappa[d] += carry[d] * previous
                carry[d] *= kappa[d]                   # dL/dm_{t-1}
        for d in range(n_memory):
            grad_m0[b, d] = carry[d]


@numba.njit(**_JIT)
def trace_forward(x, s0, kappa, weight, traces):
    """``traces[b, t] = kappa * traces[b, t - 1] + weight * x[b, t]`` from ``s0`` (B, N)."""
    n_batch, n_steps, n_in = x.shape
    for b in range(n_batch):
        for i in range(n_in):
            s = s0[b, i]
            for t in range(n_steps):
                s = kappa[i] * s + weight[i] * x[b, t, i]
                traces[b, t, i] = s


@numba.njit(**_JIT)
def trace_backward(grad_traces, x, s0, kappa, weight, traces, grad_x, grad_s0, grad_kappa, grad_weight):
    """The adjoint of :func:`trace_forward` (the parameter gradients are added into zeroed arrays)."""
    n_batch, n_steps, n_in = x.shape
    for b in range(n_batch):
        for i in range(n_in):
            carry = 0.0                                  # dL/ds_t
            for t in range(n_steps - 1, -1, -1):
                carry += grad_traces[b, t, i]
                grad_x[b, t, i] = weight[i] * carry
                grad_weight[i] += x[b, t, i] * carry
                grad_kappa[i] += carry * (traces[b, t - 1, i] if t > 0 else s0[b, i])
                carry *= kappa[i]
            grad_s0[b, i] = carry


def _numpy(tensor: torch.Tensor) -> np.ndarray:
    return tensor.detach().contiguous().numpy()


class MemoryScan(torch.autograd.Function):
    """``memory (B, T, D) = scan(drives (B, T, H), m0 (B, D), kappa, w_hm, w_d, b_d; lam)``:
    the ELM memory recurrence over all steps on the CPU, with its hand-written adjoint.
    Double backward is not supported (use the eager path, ``ELMLayer(fused=False)``)."""

    @staticmethod
    def forward(ctx, drives, m0, kappa, w_hm, w_d, b_d, lam: float):
        n_batch, n_steps, n_hidden = drives.shape
        n_memory = m0.shape[1]
        dtype = drives.dtype
        memory = torch.empty(n_batch, n_steps, n_memory, dtype=dtype)
        hidden = torch.empty(n_batch, n_steps, n_hidden, dtype=dtype)
        change = torch.empty(n_batch, n_steps, n_memory, dtype=dtype)
        m0, kappa, w_hm, w_d = (t.detach().contiguous() for t in (m0, kappa, w_hm, w_d))
        memory_forward(_numpy(drives), m0.numpy(), kappa.numpy(), w_hm.numpy(), w_d.numpy(), _numpy(b_d),
                       float(lam), memory.numpy(), hidden.numpy(), change.numpy())
        ctx.save_for_backward(m0, kappa, w_hm, w_d, memory, hidden, change)
        ctx.lam = float(lam)
        return memory

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_memory):
        m0, kappa, w_hm, w_d, memory, hidden, change = ctx.saved_tensors
        grads = [torch.empty_like(hidden), torch.empty_like(m0), torch.zeros_like(kappa), torch.zeros_like(w_hm),
                 torch.zeros_like(w_d), torch.zeros_like(kappa)]
        memory_backward(_numpy(grad_memory.to(memory.dtype)), m0.numpy(), kappa.numpy(), w_hm.numpy(), w_d.numpy(),
                        ctx.lam, memory.numpy(), hidden.numpy(), change.numpy(), *(g.numpy() for g in grads))
        return (*grads, None)


class TraceScan(torch.autograd.Function):
    """``traces (B, T, N) = scan(x (B, T, N), s0 (B, N), kappa (N,), weight (N,))``: the
    synaptic traces ``s_t = kappa s_{t-1} + weight x_t`` on the CPU, with their adjoint."""

    @staticmethod
    def forward(ctx, x, s0, kappa, weight):
        x, s0, kappa, weight = (t.detach().contiguous() for t in (x, s0, kappa, weight))
        traces = torch.empty_like(x)
        trace_forward(x.numpy(), s0.numpy(), kappa.numpy(), weight.numpy(), traces.numpy())
        ctx.save_for_backward(x, s0, kappa, weight, traces)
        return traces

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_traces):
        x, s0, kappa, weight, traces = ctx.saved_tensors
        grads = [torch.empty_like(x), torch.empty_like(s0), torch.zeros_like(kappa), torch.zeros_like(weight)]
        trace_backward(_numpy(grad_traces.to(x.dtype)), x.numpy(), s0.numpy(), kappa.numpy(), weight.numpy(),
                       traces.numpy(), *(g.numpy() for g in grads))
        return tuple(grads)


def trace_scan(x: torch.Tensor, s0: torch.Tensor, kappa: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """The fused synaptic traces (:class:`TraceScan`); CPU tensors of one dtype."""
    return TraceScan.apply(x, s0, kappa, weight)


def memory_scan(drives: torch.Tensor, m0: torch.Tensor, kappa: torch.Tensor, w_hm: torch.Tensor,
                w_d: torch.Tensor, b_d: torch.Tensor, lam: float) -> torch.Tensor:
    """The fused memory recurrence (:class:`MemoryScan`); CPU tensors of one dtype."""
    return MemoryScan.apply(drives, m0, kappa, w_hm, w_d, b_d, lam)
