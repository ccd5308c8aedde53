"""STDP with non-Hebbian spike terms: one-shot learning that overwrites what it stores.

Kempter, Gerstner & van Hemmen (1999), "Hebbian learning and spiking neurons",
Phys. Rev. E 59:4498, write a synapse's change as a learning window plus two terms
that need one side only: ``w_in`` per presynaptic spike and ``w_out`` per postsynaptic
spike. Here the window is the causal half of pair STDP and both single-spike terms
depress (amounts in weight units, trace dimensionless, tau in ms)::

    at a presynaptic spike:   w -= a_pre                       (presynaptically gated)
    at a postsynaptic spike:  w += a_plus * x_pre - a_post     (x_pre: nearest-spike
                                                                trace, tau_plus)

with hard bounds [w_min, w_max] after each event. The engine runs the presynaptic term
before the postsynaptic one within a step (see :mod:`synaptica.plasticity.base`), so with
``a_pre = a_plus = w_max - w_min`` a presynaptic spike first clears all of its synapses
and a coincident postsynaptic spike (x_pre = 1) sets its synapse to w_max: the outgoing
weights of a neuron become a copy of what fired with it (Grossberg's outstar). With
``a_pre = 0`` and ``a_post = w_max - w_min`` a postsynaptic spike clears its incoming
synapses and restores those whose input fired just before (the instar). The forgetting
is the point: relearning through the same neuron replaces the old memory, as in the CA3
content-addressable memory of Casanueva-Morato et al. (2024, :mod:`synaptica.models.ca3`).
A short ``tau_plus`` keeps later, recall-driven spikes from re-potentiating.
"""
from __future__ import annotations

from synaptica.neurons.base import Parameter
from synaptica.plasticity.base import PlasticityRule, Trace


def spike_terms_on_pre(a_pre):
    return 0.0, a_pre


def spike_terms_on_post(x_pre, a_plus, a_post):
    return a_plus * x_pre, a_post


class STDPWithSpikeTerms(PlasticityRule):
    """Causal pair STDP plus depressing single-spike terms (see module doc)."""

    parameters = {
        "a_plus": Parameter(1.0, "weight", non_negative=True, help="potentiation at a post spike, times x_pre"),
        "a_pre": Parameter(0.0, "weight", non_negative=True, help="depression at every presynaptic spike"),
        "a_post": Parameter(0.0, "weight", non_negative=True, help="depression at every postsynaptic spike"),
        "tau_plus": Parameter(0.1, "ms", positive=True, help="presynaptic trace (causal window)"),
    }
    pre_traces = {"x_pre": Trace("tau_plus", "set")}
    on_pre = staticmethod(spike_terms_on_pre)
    on_post = staticmethod(spike_terms_on_post)
