"""Baselines with temporal memory for ``delay-motifs``, at the learned-delay model's parameter count.

The learned-delay model (:mod:`synaptica.experiments.delay_motifs`) maps ``n_in`` inputs to
one LIF detector per motif class with a weight and a delay per synapse: ``2 n_in n_det``
trainable numbers. A network without delays can still tell a motif from its time-reversed
twin if it remembers: these baselines put ``H`` hidden neurons with memory between the
inputs and the same LIF detectors, ``H`` the largest width whose trainable weights do not
exceed the delay model's (DCLS compares at equal or fewer parameters: Hammouamri,
Khalfaoui-Hassani & Masquelier, ICLR 2024, Table 1):

- ``recurrent_lif``: recurrent LIF hidden layer (:class:`~synaptica.training.layers.RecurrentLIFLayer`,
  no bias), ``n_in H + H^2 + H n_det`` weights; memory in the membrane (``tau_hidden`` steps)
  and in the recurrent loop.
- ``adaptive_lif``: feed-forward adaptive LIF hidden layer (:class:`AdaptiveLIFLayer`),
  ``n_in H + H n_det`` weights; memory in the membrane and in a slow threshold adaptation
  (``tau_adapt`` steps), as in Bellec et al. (NeurIPS 2018) without their recurrence, so the
  two baselines isolate the two kinds of memory.

Neuron time constants and the adaptation strength are fixed (not trained, not counted).
Units: time in steps; thresholds in units of the resting threshold 1.
"""
from __future__ import annotations

import math

import torch

from synaptica.training.functional import lif_step, spike_linear
from synaptica.training.layers import LIFNeurons, RecurrentLIFLayer, check_finite, check_sequence

KINDS = ("recurrent_lif", "adaptive_lif")


def weights_per_hidden(kind: str, n_in: int, n_out: int, hidden: int) -> int:
    """Trainable weights of a ``kind`` network with ``hidden`` units (no biases)."""
    if kind == "recurrent_lif":
        return n_in * hidden + hidden * hidden + hidden * n_out
    if kind == "adaptive_lif":
        return n_in * hidden + hidden * n_out
    raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")


def matched_hidden(kind: str, n_in: int, n_out: int, budget: int) -> int:
    """Largest hidden width whose weights do not exceed ``budget`` (at least 1)."""
    hidden = 1
    while weights_per_hidden(kind, n_in, n_out, hidden + 1) <= budget:
        hidden += 1
    return hidden


class AdaptiveLIFLayer(torch.nn.Module):
    """Feed-forward adaptive LIF: ``(T, B, n_in)`` spikes -> ``(T, B, n_out)`` spikes.

    Per step: ``v_t = beta v_{t-1} + W x_t``, spike when ``v_t`` crosses
    ``theta_t = 1 + strength * a_{t-1}``, reset by subtracting ``theta_t``, and
    ``a_t = rho a_{t-1} + s_t`` with ``beta = exp(-1/tau_m)``, ``rho = exp(-1/tau_adapt)``
    (steps): each spike raises the threshold by ``strength``, decaying with ``tau_adapt``.
    """

    def __init__(self, n_in: int, n_out: int, tau_m: float, tau_adapt: float, strength: float,
                 name: str = "adaptive") -> None:
        super().__init__()
        if not (tau_m > 0 and tau_adapt > 0 and strength >= 0):
            raise ValueError(f"AdaptiveLIFLayer: tau_m, tau_adapt must be > 0 and strength >= 0, "
                             f"got {tau_m}, {tau_adapt}, {strength}")
        self.linear = torch.nn.Linear(n_in, n_out, bias=False)
        self.neurons = LIFNeurons(n_out, beta=math.exp(-1.0 / tau_m))
        self.rho, self.strength, self.n_in, self.name = math.exp(-1.0 / tau_adapt), strength, n_in, name

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_sequence(x, self.n_in, f"{type(self).__name__} '{self.name}'")
        current = spike_linear(x, self.linear.weight)
        beta, surrogate = self.neurons.beta(), self.neurons.surrogate
        v = current.new_zeros(current.shape[1:])
        adaptation = torch.zeros_like(v)
        out = []
        for i_t in current.unbind(0):
            v, s = lif_step(v, i_t, beta, 1.0 + self.strength * adaptation, "subtract", False, surrogate)
            adaptation = self.rho * adaptation + s
            out.append(s)
        check_finite(v, current, self.name)
        return torch.stack(out)


class MemoryDetectors(torch.nn.Module):
    """Inputs -> ``hidden`` memory neurons (``kind``) -> ``n_out`` LIF detectors (beta
    ``detector_beta``); ``forward`` returns the detectors' spikes (T, B, n_out),
    :meth:`current` their input current (for a membrane readout)."""

    def __init__(self, kind: str, n_in: int, n_out: int, hidden: int, detector_beta: float, tau_hidden: float,
                 tau_adapt: float, adapt_strength: float) -> None:
        super().__init__()
        if kind == "recurrent_lif":
            self.hidden = RecurrentLIFLayer(n_in, hidden, bias=False, name="recurrent", beta=math.exp(-1.0 / tau_hidden))
        elif kind == "adaptive_lif":
            self.hidden = AdaptiveLIFLayer(n_in, hidden, tau_hidden, tau_adapt, adapt_strength)
        else:
            raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
        self.readout = torch.nn.Linear(hidden, n_out, bias=False)
        self.neurons = LIFNeurons(n_out, beta=detector_beta)
        self.kind = kind

    def current(self, x: torch.Tensor) -> torch.Tensor:
        """Input current of the detectors (T, B, n_out)."""
        return spike_linear(self.hidden(x), self.readout.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        spikes, _ = self.neurons(self.current(x))
        return spikes
