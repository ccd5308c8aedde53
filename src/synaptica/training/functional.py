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
``detach_reset`` the reset term is treated as a constant in the backward pass.
"""
from __future__ import annotations

import numba
import torch

from synaptica.training import kernels
from synaptica.primitives.surrogate import Surrogate, as_surrogate

RESETS = ("subtract", "zero")


def _use_kernel(*tensors: torch.Tensor) -> bool:
    return all(t.device.type == "cpu" and t.dtype in (torch.float32, torch.float64) for t in tensors)


def _threads() -> None:
    kernels.start_threads()
    wanted = max(1, min(torch.get_num_threads(), numba.config.NUMBA_NUM_THREADS))
    if numba.get_num_threads() != wanted:
        numba.set_num_threads(wanted)


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
    ``v_{t-1}`` and ``I_t``. The step the recurrent layer, the online rule and the
    reference sequence share."""
    h = beta * v + current
    s = as_surrogate(surrogate)(h - threshold)
    r = s.detach() if detach_reset else s
    return (h * (1.0 - r) if reset == "zero" else h - threshold * r), s


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


class _LIFSequence(torch.autograd.Function):
    @staticmethod
    def forward(ctx, current, beta, threshold, v0, reset_to_zero, detach_reset, surrogate, overwrite):
        _threads()
        current = current.detach().contiguous()
        n_steps, batch, n = current.shape
        spike_bytes = torch.empty(current.shape, dtype=torch.uint8)
        h_store = current if overwrite else torch.empty_like(current)  # h_t replaces I_t in place
        v_final = current.new_empty(batch, n)
        kernels.lif_forward(current.numpy(), beta.detach().contiguous().numpy(),
                            threshold.detach().contiguous().numpy(), v0.detach().contiguous().numpy(),
                            reset_to_zero, spike_bytes.numpy(), h_store.numpy(), v_final.numpy())
        # Saved: h (float) and the spikes as bytes; the surrogate is recomputed from h.
        ctx.save_for_backward(spike_bytes, h_store, v0.detach(), beta.detach(), threshold.detach())
        ctx.flags = (reset_to_zero, detach_reset, surrogate)
        ctx.consumed = False
        return spike_bytes.to(current.dtype), v_final

    @staticmethod
    def backward(ctx, grad_spikes, grad_v_final):
        _threads()
        if ctx.consumed:
            raise RuntimeError("the fused LIF kernel frees its saved state during backward: backpropagate "
                               "through it once (retain_graph is not supported; use lif_sequence_reference)")
        ctx.consumed = True
        spikes, h_store, v0, beta, threshold = ctx.saved_tensors
        reset_to_zero, detach_reset, surrogate = ctx.flags
        n_steps, batch, n = h_store.shape
        grad_spikes = (torch.zeros_like(h_store) if grad_spikes is None else grad_spikes).contiguous()
        grad_v_final = (torch.zeros_like(v0) if grad_v_final is None else grad_v_final).contiguous()
        # dL/dh_t overwrites h_t in place (the kernel reads each h before writing there, and
        # h_{t-1} is read before step t-1 is reached): activation memory one tensor smaller
        grad_current = h_store
        grad_v0 = torch.empty_like(v0)
        want_beta = ctx.needs_input_grad[1]
        beta_rows = h_store.new_zeros(batch if want_beta else 0, n)
        theta_rows = h_store.new_zeros(batch, n)
        kernels.lif_backward(grad_spikes.numpy(), grad_v_final.numpy(), spikes.numpy(), h_store.numpy(),
                             v0.contiguous().numpy(), beta.contiguous().numpy(), threshold.contiguous().numpy(),
                             reset_to_zero, detach_reset, surrogate.kernel_id, float(surrogate.width),
                             grad_current.numpy(), grad_v0.numpy(), beta_rows.numpy(), theta_rows.numpy())
        grad_beta = beta_rows.sum(0) if want_beta else None
        grad_threshold = theta_rows.sum(0) if ctx.needs_input_grad[2] else None
        return grad_current, grad_beta, grad_threshold, grad_v0, None, None, None, None


#: Above this fraction of ones a dense matrix multiply is faster than the spike lists.
SPARSE_MAX_DENSITY = 0.25


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
    indptr, indices, ok = kernels.binary_rows(flat.detach().contiguous().numpy(), SPARSE_MAX_DENSITY)
    if not ok:
        return torch.nn.functional.linear(x, weight, bias)
    bias_ = weight.new_zeros(weight.shape[0]) if bias is None else bias
    # rows of one sample across time steps are `stride` apart in a time-major (T, B, F) input
    stride = flat.shape[0] // x.shape[0] if x.dim() >= 3 else flat.shape[0]
    out = _SpikeLinear.apply(flat, weight, bias_, torch.from_numpy(indptr), torch.from_numpy(indices), stride)
    return out.reshape(*x.shape[:-1], weight.shape[0])


class _SpikeLinear(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, indptr, indices, stride):
        _threads()
        out = x.new_empty(x.shape[0], weight.shape[0])
        kernels.gather_rows(indptr.numpy(), indices.numpy(), weight.detach().t().contiguous().numpy(),
                            bias.detach().contiguous().numpy(), out.numpy(), stride)
        ctx.stride = stride
        # The spike lists stand in for x (int32 per spike instead of a float per input).
        ctx.save_for_backward(weight.detach() if ctx.needs_input_grad[0] else weight.new_empty(0),
                              indptr, indices)
        ctx.n_in = x.shape[1]
        return out

    @staticmethod
    def backward(ctx, grad_out):
        _threads()
        weight, indptr, indices = ctx.saved_tensors
        grad_out = grad_out.contiguous()
        grad_x = grad_out @ weight if ctx.needs_input_grad[0] else None
        grad_w = grad_b = None
        if ctx.needs_input_grad[1]:
            grad_wt = grad_out.new_zeros(ctx.n_in, grad_out.shape[1])
            kernels.scatter_rows(indptr.numpy(), indices.numpy(), grad_out.numpy(), grad_wt.numpy(),
                                 numba.get_num_threads(), ctx.stride)
            grad_w = grad_wt.t().contiguous()
        if ctx.needs_input_grad[2]:
            grad_b = grad_out.sum(0)
        return grad_x, grad_w, grad_b, None, None, None
