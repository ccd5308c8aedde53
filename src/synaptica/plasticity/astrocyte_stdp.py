"""STDP whose depression rate is an astrocyte's calcium (NALSM).

Ivanov & Michmizos 2021, "Increasing liquid state machine performance with edge-of-chaos
dynamics organized by astrocyte-modulated plasticity", NeurIPS 34 (paper eqs. 5-6;
authors' code ``NALSM_STDP.py``, ``STDP_w_astro_depression``). Each neuron keeps a trace
x (dimensionless) that decays with ``tau`` (ms) and grows by ``trace_amplitude`` per
spike (the paper: x <- exp(-1/10) (x + 0.1 S)). For a synapse from an excitatory or input
neuron (weight w >= 0)::

    post spike:  dw = +eta_plus * x_pre          (pre before post: potentiation)
    pre spike:   dw = -A(t)     * x_post         (post before pre: depression)

with a fixed potentiation rate ``eta_plus`` (the paper: 0.15) and the astrocyte's A(t)
(:mod:`synaptica.plasticity.astrocyte`) as the depression rate. For a synapse from an
inhibitory neuron (``inhibitory=True``; the engine hands rules the weight magnitude |w|)
the paper swaps the rates: a post spike strengthens inhibition by A(t) x_pre, a pre
spike weakens it by eta_plus x_post. A negative A turns depression into potentiation (as
in the authors' code). Weights are clipped to [w_min, w_max] (weight units of the
projection; the paper: [0, 3] excitatory and input, [-3, 0] inhibitory).

Here the engine's traces add 1 per spike, so the rates are multiplied by
``trace_amplitude`` (0.1); the engine's trace decay exp(-dt / tau) replaces the authors'
fitted per-step factor (0.9048 for tau = 10 ms, the same to 4 digits). The astrocyte is
bound by name: ``AstrocyteSTDP(astrocyte="astro")``.
"""
from __future__ import annotations

from synaptica.neurons.base import Parameter
from synaptica.plasticity.base import Trace, split_change
from synaptica.plasticity.three_factor import ThreeFactor
from synaptica.primitives import where


def astro_stdp_on_pre(trace_post, astrocyte, eta_plus, trace_amplitude, inhibitory):
    rate = where(inhibitory > 0.5, eta_plus, astrocyte)
    potentiation, depression = split_change(-trace_amplitude * rate * trace_post)
    return potentiation, depression


def astro_stdp_on_post(trace_pre, astrocyte, eta_plus, trace_amplitude, inhibitory):
    rate = where(inhibitory > 0.5, astrocyte, eta_plus)
    potentiation, depression = split_change(trace_amplitude * rate * trace_pre)
    return potentiation, depression


class AstrocyteSTDP(ThreeFactor):
    """Pair STDP with the astrocyte's A(t) as depression rate (see module doc).

    ``inhibitory=True`` for projections from inhibitory neurons (rates swapped)."""

    parameters = {
        "eta_plus": Parameter(0.15, "", non_negative=True, help="fixed potentiation rate (paper: 0.15)"),
        "trace_amplitude": Parameter(0.1, "", positive=True, help="trace increment per spike (paper: 0.1)"),
        "tau": Parameter(10.0, "ms", positive=True, help="trace time constant (paper: 10 ms)"),
        "inhibitory": Parameter(0.0, "", non_negative=True, help="1: presynaptic neurons are inhibitory"),
    }
    pre_traces = {"trace_pre": Trace("tau")}
    post_traces = {"trace_post": Trace("tau")}
    synapse_state = ()
    modulators = ("astrocyte",)
    on_pre = staticmethod(astro_stdp_on_pre)
    on_post = staticmethod(astro_stdp_on_post)
    on_step = None
    helpers = (split_change,)

    def __init__(self, inhibitory: bool = False, **options) -> None:
        if not isinstance(inhibitory, (bool, int)) or inhibitory not in (0, 1):
            raise ValueError(f"AstrocyteSTDP: inhibitory must be True or False, got {inhibitory!r}")
        super().__init__(pairing="all", inhibitory=float(inhibitory), **options)
        # ThreeFactor names its windows tau_plus / tau_minus; this rule has one, tau
        self.pre_traces, self.post_traces = type(self).pre_traces, type(self).post_traces

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={v!r}" for k, v in self.values.items())
        return f"AstrocyteSTDP({shown}, astrocyte={self.modulator_names['astrocyte']!r})"
