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
from synaptica.primitives import where


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


# -- burst-consolidated one-shot rules (always-on learning of the paper protocol) --------------
#
# The CA3 memory of Casanueva-Morato et al. (2024) learns with plasticity always on: a
# learning operation holds its input for 3 ms (3 spikes at dt = 1 ms), a recall operation
# lasts 1 ms (1 spike). The two rules below use that difference. A *burst* is a spike that
# follows another of the same neuron within about ``tau_burst`` (its burst trace, which
# adds 1 per spike, is >= ``burst_threshold`` before the spike). The first spike of a burst
# (and a lone recall spike) re-tags each synapse: tag = 1 if the partner neuron spiked in
# the same step (trace x_now, set to 1 per spike, tau_now << dt), else 0. Every later spike
# of the burst consolidates: w <- w_min + a_set * tag (a_set = w_max - w_min; returned as
# potentiation 2 a_set tag and depression a_set, clipped to the bounds). Lone spikes never
# consolidate, so recall leaves every weight as it was. Weight units of the projection,
# times in ms, traces dimensionless.


def burst_first(burst, burst_threshold):
    return where(burst < burst_threshold, 1.0, 0.0)


def outstar_burst_on_pre(x_burst, tag, a_set, burst_threshold):
    first = burst_first(x_burst, burst_threshold)
    return (1.0 - first) * 2.0 * a_set * tag, (1.0 - first) * a_set, (1.0 - first) * tag


def outstar_burst_on_post(x_burst, x_now, tag, burst_threshold):
    # a post spike in the step of the first presynaptic spike of a burst tags the synapse
    coincident_first = where(x_now > 0.5, burst_first(x_burst - 1.0, burst_threshold), 0.0)
    return 0.0, 0.0, where(coincident_first > 0.5, 1.0, tag)


def instar_burst_on_post(y_burst, x_now, tag, a_set, burst_threshold):
    first = burst_first(y_burst, burst_threshold)
    new_tag = where(first > 0.5, where(x_now > 0.5, 1.0, 0.0), tag)
    return (1.0 - first) * 2.0 * a_set * tag, (1.0 - first) * a_set, new_tag


BURST_PARAMETERS = {
    "a_set": Parameter(1.0, "weight", positive=True, help="w_max - w_min: the step a consolidation sets"),
    "tau_burst": Parameter(1.0, "ms", positive=True, help="burst trace (spikes closer than ~1.5 tau_burst form a burst)"),
    "burst_threshold": Parameter(0.2, "1", positive=True, help="burst trace level marking a spike as a burst's later spike"),
    "tau_now": Parameter(0.1, "ms", positive=True, help="coincidence trace (one step at dt = 1 ms)"),
}


class OutstarBurstRule(PlasticityRule):
    """Presynaptic bursts consolidate, coincident first spikes tag (section comment above):
    a cue neuron's outgoing weights become a copy of the content that fired with it."""

    parameters = BURST_PARAMETERS
    pre_traces = {"x_burst": Trace("tau_burst", "add"), "x_now": Trace("tau_now", "set")}
    synapse_state = ("tag",)
    on_pre = staticmethod(outstar_burst_on_pre)
    on_post = staticmethod(outstar_burst_on_post)
    helpers = (burst_first,)


class InstarBurstRule(PlasticityRule):
    """Postsynaptic bursts consolidate, inputs coincident with the burst's first spike are
    kept (section comment above): a cue neuron's incoming weights become its content."""

    parameters = BURST_PARAMETERS
    pre_traces = {"x_now": Trace("tau_now", "set")}
    post_traces = {"y_burst": Trace("tau_burst", "add")}
    synapse_state = ("tag",)
    on_post = staticmethod(instar_burst_on_post)
    helpers = (burst_first,)
