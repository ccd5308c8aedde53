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

``torch.compile``: the fused kernels are numba code on NumPy views, which dynamo cannot
trace. They are also registered as opaque custom operators (``torch.ops.synaptica.*``,
:func:`torch.library.custom_op`) with shape-only fake implementations and their backward
passes (:func:`torch.library.register_autograd`), and while compiling the layers call
those. The operators run the same kernel calls as the eager path; they only do not reuse
memory in place (a compiled graph owns its buffers), so a compiled model keeps one
(T, B, N) tensor more per LIF layer and the binary input of each spike-list product.
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
    if torch.compiler.is_compiling():
        spikes, v_final, _, _ = torch.ops.synaptica.lif_sequence(current, beta, threshold, v0, reset == "zero",
                                                                 detach_reset, surrogate.name, float(surrogate.width))
        return spikes, v_final
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


def _lif_forward(current: torch.Tensor, beta: torch.Tensor, threshold: torch.Tensor, v0: torch.Tensor,
                 reset_to_zero: bool, h_store: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The fused forward pass on contiguous CPU tensors: ``(spikes (T, B, N), spike bytes
    (T, B, N) uint8, v_final (B, N))``; h_t is written into ``h_store`` (may be ``current``)."""
    n_steps, batch, n = current.shape
    spikes = torch.empty_like(current)
    spike_bytes = torch.empty(current.shape, dtype=torch.uint8)
    v_final = current.new_empty(batch, n)
    arrays = (current.numpy(), beta.numpy(), threshold.numpy(), v0.numpy(), reset_to_zero,
              spikes.numpy(), spike_bytes.numpy(), h_store.numpy(), v_final.numpy())
    kernels.lif_forward(*arrays)  # serial: ~1 ms for the benchmark's 1.6 M neuron-steps
    return spikes, spike_bytes, v_final


def _lif_backward(grad_spikes: torch.Tensor | None, grad_v_final: torch.Tensor | None, spikes: torch.Tensor,
                  h_store: torch.Tensor, v0: torch.Tensor, beta: torch.Tensor, threshold: torch.Tensor,
                  flags: tuple[bool, bool, str, float], grad_current: torch.Tensor, want_beta: bool,
                  want_threshold: bool) -> tuple[torch.Tensor | None, torch.Tensor | None, torch.Tensor]:
    """The fused reverse pass: dL/dI_t into ``grad_current`` (may be ``h_store``: each h is
    read before its slot is written); returns ``(grad_beta (N,) or None, grad_threshold (N,)
    or None, grad_v0 (B, N))``. ``flags``: (reset to zero, detach reset, surrogate name, width)."""
    reset_to_zero, detach_reset, surrogate, width = flags
    n_steps, batch, n = h_store.shape
    dtype = h_store.dtype
    grad_spikes = (_zeros(*h_store.shape, dtype=dtype) if grad_spikes is None else grad_spikes).contiguous()
    grad_v_final = (_zeros(batch, n, dtype=dtype) if grad_v_final is None else grad_v_final).contiguous()
    grad_v0 = torch.empty_like(v0)
    beta_rows = _zeros(batch if want_beta else 0, n, dtype=dtype)
    theta_rows = _zeros(batch, n, dtype=dtype)
    arrays = (grad_spikes.numpy(), grad_v_final.numpy(), spikes.numpy(), h_store.numpy(), v0.numpy(),
              beta.numpy(), threshold.numpy(), reset_to_zero, detach_reset, float(width),
              grad_current.numpy(), grad_v0.numpy(), beta_rows.numpy(), theta_rows.numpy())
    kernels.lif_backward(surrogate)(*arrays)  # serial: ~3 ms for the benchmark's 1.6 M neuron-steps
    # row sums in NumPy: small, and no torch pool op (see _zeros)
    grad_beta = torch.from_numpy(beta_rows.numpy().sum(0)) if want_beta else None
    grad_threshold = torch.from_numpy(theta_rows.numpy().sum(0)) if want_threshold else None
    return grad_beta, grad_threshold, grad_v0


class _LIFSequence(torch.autograd.Function):
    @staticmethod
    def forward(ctx, current, beta, threshold, v0, reset_to_zero, detach_reset, surrogate, overwrite):
        current = current.detach().contiguous()
        h_store = current if overwrite else torch.empty_like(current)  # h_t replaces I_t in place
        beta, threshold, v0 = (x.detach().contiguous() for x in (beta, threshold, v0))
        spikes, spike_bytes, v_final = _lif_forward(current, beta, threshold, v0, reset_to_zero, h_store)
        # Saved: h (float) and the spikes as bytes; the surrogate is recomputed from h.
        ctx.save_for_backward(spike_bytes, h_store, v0, beta, threshold)
        ctx.flags = (reset_to_zero, detach_reset, surrogate.name, surrogate.width)
        ctx.consumed = False
        return spikes, v_final

    @staticmethod
    def backward(ctx, grad_spikes, grad_v_final):
        if ctx.consumed:
            raise RuntimeError("the fused LIF kernel frees its saved state during backward: backpropagate "
                               "through it once (retain_graph is not supported; use lif_sequence_reference)")
        ctx.consumed = True
        spikes, h_store, v0, beta, threshold = ctx.saved_tensors
        # dL/dh_t overwrites h_t in place (the kernel reads each h before writing there, and
        # h_{t-1} is read before step t-1 is reached): activation memory one tensor smaller
        grad_beta, grad_threshold, grad_v0 = _lif_backward(
            grad_spikes, grad_v_final, spikes, h_store, v0, beta, threshold, ctx.flags, h_store,
            ctx.needs_input_grad[1], ctx.needs_input_grad[2])
        return h_store, grad_beta, grad_threshold, grad_v0, None, None, None, None


# The same passes as opaque operators for torch.compile (module doc): functional (fresh
# output buffers), so their graphs may be replayed.
@torch.library.custom_op("synaptica::lif_sequence", mutates_args=())
def _lif_sequence_op(current: torch.Tensor, beta: torch.Tensor, threshold: torch.Tensor, v0: torch.Tensor,
                     reset_to_zero: bool, detach_reset: bool, surrogate: str,
                     width: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(spikes, v_final, spike bytes, h) of the fused forward pass."""
    current, beta, threshold, v0 = (x.detach().contiguous() for x in (current, beta, threshold, v0))
    h_store = torch.empty_like(current)
    spikes, spike_bytes, v_final = _lif_forward(current, beta, threshold, v0, reset_to_zero, h_store)
    return spikes, v_final, spike_bytes, h_store


@_lif_sequence_op.register_fake
def _lif_sequence_fake(current, beta, threshold, v0, reset_to_zero, detach_reset, surrogate, width):
    shape = tuple(current.shape)
    return (current.new_empty(shape), current.new_empty(shape[1:]), current.new_empty(shape, dtype=torch.uint8),
            current.new_empty(shape))


@torch.library.custom_op("synaptica::lif_sequence_backward", mutates_args=())
def _lif_sequence_backward_op(grad_spikes: torch.Tensor, grad_v_final: torch.Tensor, spike_bytes: torch.Tensor,
                              h_store: torch.Tensor, v0: torch.Tensor, beta: torch.Tensor, threshold: torch.Tensor,
                              reset_to_zero: bool, detach_reset: bool, surrogate: str,
                              width: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(grad current, grad beta, grad threshold, grad v0) of the fused reverse pass."""
    grad_current = torch.empty(h_store.shape, dtype=h_store.dtype)
    grad_beta, grad_threshold, grad_v0 = _lif_backward(
        grad_spikes.detach(), grad_v_final.detach(), spike_bytes, h_store, v0, beta, threshold,
        (reset_to_zero, detach_reset, surrogate, width), grad_current, True, True)
    return grad_current, grad_beta, grad_threshold, grad_v0


@_lif_sequence_backward_op.register_fake
def _lif_sequence_backward_fake(grad_spikes, grad_v_final, spike_bytes, h_store, v0, beta, threshold, *flags):
    return h_store.new_empty(h_store.shape), beta.new_empty(beta.shape), beta.new_empty(beta.shape), \
        v0.new_empty(v0.shape)


def _lif_sequence_setup(ctx, inputs, output):
    current, beta, threshold, v0, *flags = inputs
    _, _, spike_bytes, h_store = output
    ctx.save_for_backward(spike_bytes, h_store, v0, beta, threshold)
    ctx.flags = flags


def _lif_sequence_grad(ctx, grad_spikes, grad_v_final, _grad_bytes, _grad_h):
    spike_bytes, h_store, v0, beta, threshold = ctx.saved_tensors
    grad_spikes = torch.zeros_like(h_store) if grad_spikes is None else grad_spikes
    grad_v_final = torch.zeros_like(v0) if grad_v_final is None else grad_v_final
    grads = torch.ops.synaptica.lif_sequence_backward(grad_spikes, grad_v_final, spike_bytes, h_store, v0, beta,
                                                      threshold, *ctx.flags)
    return (*grads, None, None, None, None)


_lif_sequence_op.register_autograd(_lif_sequence_grad, setup_context=_lif_sequence_setup)


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
    bias_ = weight.new_zeros(weight.shape[0]) if bias is None else bias
    # rows of one sample across time steps are `stride` apart in a time-major (T, B, F) input
    stride = flat.shape[0] // x.shape[0] if x.dim() >= 3 else flat.shape[0]
    if torch.compiler.is_compiling():  # the spike lists depend on the data: built inside the operator
        out = torch.ops.synaptica.spike_linear(flat, weight, bias_, stride)
    else:
        lists = binary_rows(flat.detach().contiguous().numpy())
        if lists is None:
            return torch.nn.functional.linear(x, weight, bias)
        out = _SpikeLinear.apply(flat, weight, bias_, *(torch.from_numpy(a) for a in lists), stride)
    return out.reshape(*x.shape[:-1], weight.shape[0])


def _gather(indptr: np.ndarray, indices: np.ndarray, weight: torch.Tensor, bias: torch.Tensor,
            stride: int) -> torch.Tensor:
    """``X @ W^T + b`` (rows, n_out) from the CSR lists of the binary X."""
    out = weight.new_empty(len(indptr) - 1, weight.shape[0])
    # W^T copied by NumPy (a torch copy would be a thread-pool op, see _zeros)
    weight_t = np.ascontiguousarray(weight.detach().numpy().T)
    args = (indptr, indices, weight_t, bias.detach().contiguous().numpy(), out.numpy(), stride)
    parallel.run(f"gather {weight_t.dtype} {tuple(weight.shape)}", len(indices) * weight.shape[0],
                 lambda: kernels.gather_rows(*args, 0, stride),
                 lambda n: kernels.gather_rows_parallel(*args, n))
    return out


class _SpikeLinear(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, indptr, indices, stride):
        out = _gather(indptr.numpy(), indices.numpy(), weight, bias, stride)
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


# spike_linear as an opaque operator for torch.compile (module doc). Its input x (rows,
# n_in) is kept for the backward pass, which lists its ones again.
@torch.library.custom_op("synaptica::spike_linear", mutates_args=())
def _spike_linear_op(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, stride: int) -> torch.Tensor:
    """``x @ weight.T + bias`` (rows, n_out) for x (rows, n_in): sparse if x is binary and sparse."""
    x, weight, bias = x.detach(), weight.detach(), bias.detach()
    lists = binary_rows(x.contiguous().numpy())
    if lists is None:
        return torch.nn.functional.linear(x, weight, bias)
    return _gather(*lists, weight, bias, stride)


@_spike_linear_op.register_fake
def _spike_linear_fake(x, weight, bias, stride):
    return x.new_empty(x.shape[0], weight.shape[0])


@torch.library.custom_op("synaptica::spike_linear_backward", mutates_args=())
def _spike_linear_backward_op(grad_out: torch.Tensor, x: torch.Tensor, weight: torch.Tensor, stride: int,
                              want_x: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(grad x (rows, n_in), or (0, n_in) if not ``want_x``; grad weight; grad bias)."""
    grad_out, x, weight = grad_out.detach().contiguous(), x.detach().contiguous(), weight.detach()
    grad_x = grad_out @ weight if want_x else x.new_empty(0, x.shape[1])
    lists = binary_rows(x.numpy())
    if lists is None:
        return grad_x, grad_out.t() @ x, grad_out.sum(0)
    grad_wt, grad_b = _scatter(*lists, grad_out.numpy(), x.shape[1], stride)
    return grad_x, torch.from_numpy(np.ascontiguousarray(grad_wt.T)), torch.from_numpy(grad_b)


@_spike_linear_backward_op.register_fake
def _spike_linear_backward_fake(grad_out, x, weight, stride, want_x):
    return x.new_empty(x.shape if want_x else (0, x.shape[1])), weight.new_empty(weight.shape), \
        weight.new_empty(weight.shape[0])


def _spike_linear_setup(ctx, inputs, output):
    x, weight, bias, stride = inputs
    ctx.save_for_backward(x, weight)
    ctx.stride = stride


def _spike_linear_grad(ctx, grad_out):
    x, weight = ctx.saved_tensors
    want_x = ctx.needs_input_grad[0]
    grad_x, grad_w, grad_b = torch.ops.synaptica.spike_linear_backward(grad_out, x, weight, ctx.stride, want_x)
    return grad_x if want_x else None, grad_w, grad_b, None


_spike_linear_op.register_autograd(_spike_linear_grad, setup_context=_spike_linear_setup)


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
