"""Pure functions of the training layers: tensors in, tensors out, differentiable.

* :func:`lif_sequence` -- discrete-time LIF over a whole sequence (fused kernel on CPU,
  step-by-step tensor ops elsewhere, identical results and gradients);
* :func:`spike_linear` -- ``x @ W^T + b`` that, on CPU, uses the sparsity of binary ``x``;
* :func:`lif_sequence_reference` -- the plain-PyTorch definition the tests check against.

The neuron (the form used by snnTorch's ``Leaky`` and SpikingJelly's ``LIFNode`` with soft
reset; Neftci, Mostafa & Zenke 2019)::

    h_t = beta * v_{t-1} + I_t                      (I_t: input in threshold units)
    s_t = H(h_t - theta)                            (surrogate gradient in the backward pass)
    v_t = h_t - theta * s_t     (reset="subtract")  or  v_t = h_t * (1 - s_t)  (reset="zero")

``beta = exp(-dt / tau_m)`` and ``theta`` are per-neuron tensors ``(N,)``; with
``detach_reset`` the reset term is treated as a constant in the backward pass. The step is
written once, in :mod:`synaptica.training.neuron`; the tensor path and the fused kernels
both run that definition.
"""
from __future__ import annotations

import numpy as np
import torch

from synaptica.training import kernels, parallel
from synaptica.training.neuron import torch_step
from synaptica.primitives.surrogate import Surrogate, as_surrogate

RESETS = ("subtract", "zero")


def _use_kernel(*tensors: torch.Tensor) -> bool:
    return all(t.device.type == "cpu" and t.dtype in (torch.float32, torch.float64) for t in tensors)


def lif_sequence(current: torch.Tensor, beta: torch.Tensor, threshold: torch.Tensor,
                 v0: torch.Tensor | None = None, reset: str = "subtract", detach_reset: bool = False,
                 surrogate: Surrogate | str | None = None,
                 overwrite_current: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Run the LIF recurrence (module doc) over ``current`` (T, B, N).

    Returns ``(spikes (T, B, N), v_final (B, N))``. Gradients flow to ``current``,
    ``beta``, ``threshold`` and ``v0``. ``overwrite_current=True`` lets the CPU kernel
    keep h_t in ``current``'s own memory (one (T, B, N) tensor less); only for a current
    nobody reads afterwards, as in :class:`~synaptica.training.layers.LIFLayer`.
    """
    if reset not in RESETS:
        raise ValueError(f"reset must be one of {RESETS}, got {reset!r}")
    surrogate = as_surrogate(surrogate)
    n_steps, batch, n = current.shape
    beta = torch.as_tensor(beta, dtype=current.dtype, device=current.device).expand(n)
    threshold = torch.as_tensor(threshold, dtype=current.dtype, device=current.device).expand(n)
    if v0 is None:
        v0 = current.new_zeros(batch, n)
    if not _use_kernel(current, beta, threshold, v0):
        return lif_sequence_reference(current, beta, threshold, v0, reset, detach_reset, surrogate)
    return _LIFSequence.apply(current, beta, threshold, v0, reset == "zero", detach_reset, surrogate,
                              overwrite_current and current.is_contiguous())


def lif_step(v: torch.Tensor, current: torch.Tensor, beta, threshold, reset: str = "subtract",
             detach_reset: bool = False, surrogate: Surrogate | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """One step of the LIF of the module doc with tensor ops: ``(v_t, s_t)`` from
    ``v_{t-1}`` and ``I_t``. It is :func:`synaptica.training.neuron.step`, the definition
    the fused kernels compile, here on tensors; the recurrent layer, the online rule and
    the reference sequence use it."""
    _, s, v = torch_step(as_surrogate(surrogate), detach_reset)(v, current, beta, threshold, reset == "zero")
    return v, s


def lif_sequence_reference(current, beta, threshold, v0=None, reset="subtract", detach_reset=False,
                           surrogate=None):
    """Plain-PyTorch LIF over time (autograd through every step); the definition the fused
    kernel must reproduce."""
    surrogate = as_surrogate(surrogate)
    v = current.new_zeros(current.shape[1:]) if v0 is None else v0
    out = []
    for i_t in current.unbind(0):  # unbind, not current[t]: indexing makes backward O(T^2)
        v, s = lif_step(v, i_t, beta, threshold, reset, detach_reset, surrogate)
        out.append(s)
    return torch.stack(out), v


_NUMPY_DTYPES = {torch.float32: np.float32, torch.float64: np.float64}


def _zeros(*shape: int, dtype: torch.dtype) -> torch.Tensor:
    """A zero tensor from calloc: no fill pass, and no torch thread-pool op (on a busy
    machine every such op may wait a scheduler tick for a descheduled pool thread)."""
    return torch.from_numpy(np.zeros(shape, dtype=_NUMPY_DTYPES[dtype]))


class _LIFSequence(torch.autograd.Function):
    @staticmethod
    def forward(ctx, current, beta, threshold, v0, reset_to_zero, detach_reset, surrogate, overwrite):
        current = current.detach().contiguous()
        n_steps, batch, n = current.shape
        spikes = torch.empty_like(current)
        spike_bytes = torch.empty(current.shape, dtype=torch.uint8)
        h_store = current if overwrite else torch.empty_like(current)  # h_t replaces I_t in place
        v_final = current.new_empty(batch, n)
        beta, threshold, v0 = (x.detach().contiguous() for x in (beta, threshold, v0))
        arrays = (current.numpy(), beta.numpy(), threshold.numpy(), v0.numpy(), reset_to_zero,
                  spikes.numpy(), spike_bytes.numpy(), h_store.numpy(), v_final.numpy())
        kernels.lif_forward(*arrays)  # serial: ~1 ms for the benchmark's 1.6 M neuron-steps
        # Saved: h (float) and the spikes as bytes; the surrogate is recomputed from h.
        ctx.save_for_backward(spike_bytes, h_store, v0, beta, threshold)
        ctx.flags = (reset_to_zero, detach_reset, surrogate)
        ctx.consumed = False
        return spikes, v_final

    @staticmethod
    def backward(ctx, grad_spikes, grad_v_final):
        if ctx.consumed:
            raise RuntimeError("the fused LIF kernel frees its saved state during backward: backpropagate "
                               "through it once (retain_graph is not supported; use lif_sequence_reference)")
        ctx.consumed = True
        spikes, h_store, v0, beta, threshold = ctx.saved_tensors
        reset_to_zero, detach_reset, surrogate = ctx.flags
        n_steps, batch, n = h_store.shape
        dtype = h_store.dtype
        grad_spikes = (_zeros(*h_store.shape, dtype=dtype) if grad_spikes is None else grad_spikes).contiguous()
        grad_v_final = (_zeros(batch, n, dtype=dtype) if grad_v_final is None else grad_v_final).contiguous()
        # dL/dh_t overwrites h_t in place (the kernel reads each h before writing there, and
        # h_{t-1} is read before step t-1 is reached): activation memory one tensor smaller
        grad_current = h_store
        grad_v0 = torch.empty_like(v0)
        want_beta = ctx.needs_input_grad[1]
        beta_rows = _zeros(batch if want_beta else 0, n, dtype=dtype)
        theta_rows = _zeros(batch, n, dtype=dtype)
        kernel = kernels.lif_backward(surrogate.name)
        arrays = (grad_spikes.numpy(), grad_v_final.numpy(), spikes.numpy(), h_store.numpy(), v0.numpy(),
                  beta.numpy(), threshold.numpy(), reset_to_zero, detach_reset, float(surrogate.width),
                  grad_current.numpy(), grad_v0.numpy(), beta_rows.numpy(), theta_rows.numpy())
        kernel(*arrays)  # serial: ~3 ms for the benchmark's 1.6 M neuron-steps
        # row sums in NumPy: small, and no torch pool op (see _zeros)
        grad_beta = torch.from_numpy(beta_rows.numpy().sum(0)) if want_beta else None
        grad_threshold = torch.from_numpy(theta_rows.numpy().sum(0)) if ctx.needs_input_grad[2] else None
        return grad_current, grad_beta, grad_threshold, grad_v0, None, None, None, None


#: Above this fraction of ones a dense matrix multiply is faster than the spike lists.
SPARSE_MAX_DENSITY = 0.25


def binary_rows(x: np.ndarray, max_density: float = SPARSE_MAX_DENSITY) -> tuple[np.ndarray, np.ndarray] | None:
    """CSR lists ``(indptr (rows + 1,) int64, indices (nnz,) int32)`` of the ones of a 2-D
    0/1 float matrix; None if ``x`` has a value other than 0 or 1 or more than
    ``max_density`` ones (the caller then multiplies densely)."""
    indptr, indices, ok = kernels.binary_rows(x, max_density)
    return (indptr, indices) if ok else None


def spike_linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """``x @ weight.T + bias`` for ``x`` of shape (..., n_in); ``weight`` (n_out, n_in).

    On CPU, when ``x`` holds only zeros and ones with at most
    :data:`SPARSE_MAX_DENSITY` ones, the product and the weight gradient are computed
    from the list of ones (one vector add per spike); otherwise it is the dense product.
    The result is the same up to float rounding either way.
    """
    if x.shape[-1] != weight.shape[1]:
        raise ValueError(f"spike_linear: input has {x.shape[-1]} features, weight expects {weight.shape[1]}")
    if not (_use_kernel(x, weight) and x.dtype == weight.dtype) or x.numel() == 0:
        return torch.nn.functional.linear(x, weight, bias)
    flat = x.reshape(-1, x.shape[-1])
    lists = binary_rows(flat.detach().contiguous().numpy())
    if lists is None:
        return torch.nn.functional.linear(x, weight, bias)
    bias_ = weight.new_zeros(weight.shape[0]) if bias is None else bias
    # rows of one sample across time steps are `stride` apart in a time-major (T, B, F) input
    stride = flat.shape[0] // x.shape[0] if x.dim() >= 3 else flat.shape[0]
    out = _SpikeLinear.apply(flat, weight, bias_, *(torch.from_numpy(a) for a in lists), stride)
    return out.reshape(*x.shape[:-1], weight.shape[0])


class _SpikeLinear(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, indptr, indices, stride):
        out = x.new_empty(x.shape[0], weight.shape[0])
        # W^T copied by NumPy (a torch copy would be a thread-pool op, see _zeros)
        weight_t = np.ascontiguousarray(weight.detach().numpy().T)
        args = (indptr.numpy(), indices.numpy(), weight_t, bias.detach().contiguous().numpy(), out.numpy(), stride)
        parallel.run(f"gather {weight_t.dtype} {tuple(weight.shape)}", len(indices) * weight.shape[0],
                     lambda: kernels.gather_rows(*args, 0, stride),
                     lambda n: kernels.gather_rows_parallel(*args, n))
        ctx.stride = stride
        # The spike lists stand in for x (int32 per spike instead of a float per input).
        ctx.save_for_backward(weight.detach() if ctx.needs_input_grad[0] else weight.new_empty(0),
                              indptr, indices)
        ctx.n_in = x.shape[1]
        return out

    @staticmethod
    def backward(ctx, grad_out):
        weight, indptr, indices = ctx.saved_tensors
        grad_out = grad_out.contiguous()
        grad_x = grad_out @ weight if ctx.needs_input_grad[0] else None
        grad_w = grad_b = None
        if ctx.needs_input_grad[1] or ctx.needs_input_grad[2]:
            grad_wt, grad_b = _scatter(indptr.numpy(), indices.numpy(), grad_out.numpy(), ctx.n_in, ctx.stride)
            grad_w = torch.from_numpy(np.ascontiguousarray(grad_wt.T)) if ctx.needs_input_grad[1] else None
            grad_b = torch.from_numpy(grad_b) if ctx.needs_input_grad[2] else None
        return grad_x, grad_w, grad_b, None, None, None


def _scatter(indptr: np.ndarray, indices: np.ndarray, grad: np.ndarray, n_in: int,
             stride: int) -> tuple[np.ndarray, np.ndarray]:
    """``(X^T @ grad (n_in, n_out), grad summed over rows (n_out,))``; in parallel, each
    thread sums into its own zeroed copy and the copies are added."""
    n_out = grad.shape[1]
    result = []

    def serial() -> None:
        out, bias_out = np.zeros((n_in, n_out), grad.dtype), np.zeros(n_out, grad.dtype)
        kernels.scatter_rows(indptr, indices, grad, out, bias_out, stride, 0, stride)
        result.append((out, bias_out))

    def threaded(n: int) -> None:
        parts, bias_parts = np.zeros((n, n_in, n_out), grad.dtype), np.zeros((n, n_out), grad.dtype)
        kernels.scatter_rows_parallel(indptr, indices, grad, parts, bias_parts, stride)
        for c in range(1, n):
            parts[0] += parts[c]
            bias_parts[0] += bias_parts[c]
        result.append((parts[0], bias_parts[0]))

    parallel.run(f"scatter {grad.dtype} {(n_out, n_in)}", len(indices) * n_out, serial, threaded)
    return result[0]
