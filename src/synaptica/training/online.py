"""Memory-lean training: online through time (OTTT; Xiao et al., NeurIPS 2022).

Backpropagation through time keeps every step's activations, so its memory grows with
the number of steps T. OTTT instead computes a loss at every step, backpropagates it
through the layers of that step only, and replaces the temporal credit assignment by a
presynaptic eligibility trace ``a_t = lambda a_{t-1} + x_t`` (``lambda`` = the layer's
membrane decay ``beta``): the weight gradient of step t is ``g_t a_t^T`` instead of
``g_t x_t^T``. Gradients accumulate into ``.grad`` step by step and the graph of a step is
freed right after, so activation memory does not depend on T.

The price is accuracy: the gradient ignores how a spike's reset changes later steps and
how a neuron's state carries over (only the leak, via the trace). The measured cost on the
built-in tasks is in the README (``sg-mnist --set mode=online``).
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

from synaptica.training.functional import lif_step
from synaptica.training.layers import LIFLayer, SpikingMLP, check_finite, check_sequence


def online_backward(model: SpikingMLP, spikes: torch.Tensor, labels: torch.Tensor,
                    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> tuple[float, torch.Tensor]:
    """Accumulate OTTT gradients of ``mean_t loss_fn(out_t[None], labels)`` into ``.grad``.

    ``model``: a feed-forward :class:`SpikingMLP` of :class:`LIFLayer`. Returns (mean loss,
    output spike counts (B, C)). The caller zeroes gradients and steps the optimiser.
    """
    if any(type(layer) is not LIFLayer for layer in model.layers):
        raise ValueError("online training supports feed-forward LIFLayer stacks (no recurrent layers)")
    check_sequence(spikes, model.sizes[0], "online_backward")
    n_steps, batch, _ = spikes.shape
    layers = list(model.layers)
    v = [spikes.new_zeros(batch, layer.n_out) for layer in layers]
    traces = [spikes.new_zeros(batch, layer.n_in) for layer in layers]
    counts = spikes.new_zeros(batch, layers[-1].n_out)
    total = 0.0
    for t, x in enumerate(spikes.unbind(0)):
        for l, layer in enumerate(layers):
            neurons = layer.neurons
            beta, threshold = neurons.beta(), neurons.threshold()  # per step: each graph stands alone
            with torch.no_grad():
                traces[l] = beta.mean() * traces[l] + x.detach()
            # value: W x_t + b; gradient w.r.t. W: through the trace a_t (see module doc)
            via_trace = F.linear(traces[l], layer.linear.weight)
            current = F.linear(x, layer.linear.weight.detach(), layer.linear.bias) + via_trace - via_trace.detach()
            v_new, s = lif_step(v[l], current, beta, threshold, neurons.reset, neurons.detach_reset,
                                neurons.surrogate)
            check_finite(v_new.detach(), current.detach()[None], f"{layer.name} (step {t})")
            v[l] = v_new.detach()
            x = s
        loss = loss_fn(x[None], labels) / n_steps
        loss.backward()
        total += float(loss.detach())
        counts += x.detach()
    return total, counts
