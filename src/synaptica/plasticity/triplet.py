"""Triplet spike-timing-dependent plasticity (Pfister & Gerstner 2006, J. Neurosci. 26:9673).

Each synapse sees two presynaptic traces, r1 (time constant tau_plus) and r2 (tau_x),
and two postsynaptic traces, o1 (tau_minus) and o2 (tau_y). All are dimensionless,
decay as ``exp(-dt / tau)`` and jump at the spikes of their neuron (+1 for all-to-all
interactions, set to 1 for nearest-spike interactions). The weight changes only at
spikes::

    at a presynaptic spike  t_pre:   w -= o1(t_pre)  * (a2_minus + a3_minus * r2(t_pre - eps))
    at a postsynaptic spike t_post:  w += r1(t_post) * (a2_plus  + a3_plus  * o2(t_post - eps))

where ``r2(t_pre - eps)`` and ``o2(t_post - eps)`` are the values just before the
neuron's own spike is counted (equations 3 and 4 of the paper). The engine gives exactly
this: ``on_pre`` runs before the presynaptic traces are incremented and ``on_post``
before the postsynaptic ones (see :mod:`synaptica.plasticity.base`). In closed form,
for all-to-all interactions, a post spike at t adds::

    sum_{t_i <= t} exp(-(t - t_i)/tau_plus) * (a2_plus + a3_plus * sum_{t_k < t} exp(-(t - t_k)/tau_y))

(t_i presynaptic, t_k earlier postsynaptic spikes) and a pre spike at t removes::

    sum_{t_k < t} exp(-(t - t_k)/tau_minus) * (a2_minus + a3_minus * sum_{t_j < t} exp(-(t - t_j)/tau_x))

A pre and a post spike in the same step count as pre-before-post (as for PairSTDP).

Defaults: the paper's fit to visual cortex data (Sjoestrom, Turrigiano & Nelson 2001),
all-to-all interactions, full model (Table 4): tau_plus = 16.8 ms, tau_minus = 33.7 ms,
tau_x = 101 ms, tau_y = 125 ms, a2_plus = 5e-10, a3_plus = 6.2e-3, a2_minus = 7e-3,
a3_minus = 2.3e-4. The minimal model is ``a3_minus=0`` (tau_x then plays no role); with
``a3_plus = a3_minus = 0`` the rule is pair STDP. For the nearest-spike fits of the paper
pass ``pairing="nearest"`` together with that table's nearest-spike values. Amplitudes
are in weight units, time constants in ms.
"""
from __future__ import annotations

from synaptica.neurons.base import Parameter
from synaptica.plasticity.base import PlasticityRule, Trace


def triplet_stdp_on_pre(o1, r2, a2_minus, a3_minus):
    return 0.0, o1 * (a2_minus + a3_minus * r2)


def triplet_stdp_on_post(r1, o2, a2_plus, a3_plus):
    return r1 * (a2_plus + a3_plus * o2), 0.0


class TripletSTDP(PlasticityRule):
    """Triplet STDP of Pfister & Gerstner (2006), all-to-all or nearest-spike (see module doc)."""

    parameters = {
        "a2_plus": Parameter(5e-10, "weight", non_negative=True, help="pair potentiation amplitude"),
        "a3_plus": Parameter(6.2e-3, "weight", non_negative=True, help="triplet potentiation amplitude"),
        "a2_minus": Parameter(7e-3, "weight", non_negative=True, help="pair depression amplitude"),
        "a3_minus": Parameter(2.3e-4, "weight", non_negative=True, help="triplet depression amplitude"),
        "tau_plus": Parameter(16.8, "ms", positive=True, help="fast presynaptic trace r1"),
        "tau_x": Parameter(101.0, "ms", positive=True, help="slow presynaptic trace r2"),
        "tau_minus": Parameter(33.7, "ms", positive=True, help="fast postsynaptic trace o1"),
        "tau_y": Parameter(125.0, "ms", positive=True, help="slow postsynaptic trace o2"),
    }
    pre_traces = {"r1": Trace("tau_plus"), "r2": Trace("tau_x")}
    post_traces = {"o1": Trace("tau_minus"), "o2": Trace("tau_y")}
    on_pre = staticmethod(triplet_stdp_on_pre)
    on_post = staticmethod(triplet_stdp_on_post)

    def __init__(self, pairing: str = "all", **options) -> None:
        if pairing not in ("all", "nearest"):
            raise ValueError(f"TripletSTDP: pairing must be 'all' or 'nearest', got {pairing!r}")
        self.pairing = pairing
        mode = "add" if pairing == "all" else "set"
        self.pre_traces = {"r1": Trace("tau_plus", mode), "r2": Trace("tau_x", mode)}
        self.post_traces = {"o1": Trace("tau_minus", mode), "o2": Trace("tau_y", mode)}
        super().__init__(**options)
