"""Pair-based spike-timing-dependent plasticity.

For a presynaptic spike at t_pre and a postsynaptic spike at t_post, dt = t_post - t_pre
(Bi & Poo 1998; Song, Miller & Abbott 2000, Nat. Neurosci. 3:919)::

    dw = +a_plus  exp(-dt / tau_plus)    if dt >= 0   (pre before post: potentiation)
    dw = -a_minus exp( dt / tau_minus)   if dt <  0   (post before pre: depression)

computed online with a presynaptic trace x (tau_plus) and a postsynaptic trace y
(tau_minus): a post spike adds ``a_plus * x``, a pre spike subtracts ``a_minus * y``.
``pairing="all"`` sums over all spike pairs (traces add 1 per spike); ``"nearest"``
pairs each spike only with the nearest earlier spike of the other side (traces are
set to 1; symmetric nearest-spike scheme of Morrison, Diesmann & Gerstner 2008,
Biol. Cybern. 98:459). Amplitudes in weight units, time constants in ms.
"""
from __future__ import annotations

from synaptica.neurons.base import Parameter
from synaptica.plasticity.base import PlasticityRule, Trace


def pair_stdp_on_pre(trace_post, a_minus):
    return 0.0, a_minus * trace_post


def pair_stdp_on_post(trace_pre, a_plus):
    return a_plus * trace_pre, 0.0


class PairSTDP(PlasticityRule):
    """Pair-based STDP, all-to-all or nearest-spike pairing (see module doc)."""

    parameters = {
        "a_plus": Parameter(0.01, "weight", non_negative=True, help="potentiation amplitude"),
        "a_minus": Parameter(0.0105, "weight", non_negative=True, help="depression amplitude"),
        "tau_plus": Parameter(20.0, "ms", positive=True, help="potentiation window (presynaptic trace)"),
        "tau_minus": Parameter(20.0, "ms", positive=True, help="depression window (postsynaptic trace)"),
    }
    pre_traces = {"trace_pre": Trace("tau_plus")}
    post_traces = {"trace_post": Trace("tau_minus")}
    on_pre = staticmethod(pair_stdp_on_pre)
    on_post = staticmethod(pair_stdp_on_post)

    def __init__(self, pairing: str = "all", **options) -> None:
        if pairing not in ("all", "nearest"):
            raise ValueError(f"PairSTDP: pairing must be 'all' or 'nearest', got {pairing!r}")
        self.pairing = pairing
        mode = "add" if pairing == "all" else "set"
        self.pre_traces = {"trace_pre": Trace("tau_plus", mode)}
        self.post_traces = {"trace_post": Trace("tau_minus", mode)}
        super().__init__(**options)
