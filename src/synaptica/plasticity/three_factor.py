"""Three-factor plasticity: STDP sets a synaptic eligibility trace, a neuromodulator turns
it into a weight change.

The framework of "neo-Hebbian" three-factor rules (Frémaux & Gerstner 2016, "Neuromodulated
spike-timing-dependent plasticity, and theory of three-factor learning rules",
Front. Neural Circuits 9:85): the coincidence of pre- and postsynaptic activity (factors
one and two) leaves a decaying flag, the eligibility trace ``c`` of each synapse, and a
third factor ``M(t)`` broadcast by a neuromodulator (dopamine-like reward, an error,
novelty, attention) decides whether and in which direction the flag becomes a weight
change. In continuous time::

    dc/dt = -c / tau_c + a_plus  x_pre(t)  S_post(t) - a_minus y_post(t) S_pre(t)
    dw/dt = learning_rate * c(t) * (M(t) + baseline)

with ``S`` spike trains (sums of Dirac deltas), ``x_pre`` a presynaptic trace (time
constant ``tau_plus``) and ``y_post`` a postsynaptic trace (``tau_minus``), so a pair
pre-before-post at distance dt adds ``a_plus exp(-dt / tau_plus)`` to c, post-before-pre
adds ``-a_minus exp(-dt / tau_minus)`` (pair STDP as in
:class:`~synaptica.plasticity.PairSTDP`, ``pairing="all"`` or ``"nearest"``).

Discretisation (exactly what the engine computes, see :mod:`synaptica.plasticity.base`
for the order within a step). Let ``P = period`` be the time between two ``on_step``
calls (the common parameter ``interval``, rounded to whole steps; one step ``dt`` when
0) and ``M_n`` the modulator value at step n (after its own decay and pulses of step n):

1. traces decay by ``exp(-dt / tau)`` every step; a presynaptic spike at step n first
   sets ``c <- c - a_minus * y_post`` (postsynaptic trace before this step's
   postsynaptic spikes), then increments ``x_pre``; a postsynaptic spike sets
   ``c <- c + a_plus * x_pre`` (presynaptic trace including this step's spikes), then
   increments ``y_post``. Same-step pairs count as pre-before-post;
2. at every step n with ``n % (P / dt) == 0``::

       w <- clip(w + learning_rate * c * (M_n + baseline) * P, w_min, w_max)
       c <- c * exp(-P / tau_c)

   i.e. the weight integral is a left Riemann sum over intervals of length P that
   starts with the eligibility accumulated up to and including step n, and c decays
   exactly (by the analytic factor) once per period. With ``interval = 0`` (P = dt)
   c therefore decays exactly every step; with a longer interval, pairings within a
   period are all decayed from the end of that period (error at most P in their age),
   as in Izhikevich's (2007) program, which updates weights and eligibility every 10 ms.

Units: ``a_plus``, ``a_minus`` and c in weight units (pA, nS or mV as the projection),
``M`` and ``baseline`` in the modulator's units, ``period`` and time constants in ms,
``learning_rate`` in 1 / (modulator unit x ms). ``bounds="soft"`` and
``dependence="multiplicative"`` act on the positive and negative parts of the change.

The modulator is an argument named ``modulator``, bound when the rule is made to a
network modulator by name (``ThreeFactor(modulator="dopamine")``; default: a modulator
called "modulator"); :meth:`Network.connect` fails if the network has no such modulator.
"""
from __future__ import annotations

from synaptica.primitives import exp
from synaptica.neurons.base import Parameter
from synaptica.plasticity.base import PlasticityRule, Trace, split_change


def three_factor_on_pre(c, trace_post, a_minus):
    return 0.0, 0.0, c - a_minus * trace_post


def three_factor_on_post(c, trace_pre, a_plus):
    return 0.0, 0.0, c + a_plus * trace_pre


def three_factor_on_step(c, modulator, baseline, tau_c, period):
    potentiation, depression = split_change(c * (modulator + baseline) * period)
    return potentiation, depression, c * exp(-period / tau_c)


THREE_FACTOR_PARAMETERS = {
    "a_plus": Parameter(0.01, "weight", non_negative=True, help="eligibility added per pre-before-post pair"),
    "a_minus": Parameter(0.0105, "weight", non_negative=True, help="eligibility removed per post-before-pre pair"),
    "tau_plus": Parameter(20.0, "ms", positive=True, help="potentiation window (presynaptic trace)"),
    "tau_minus": Parameter(20.0, "ms", positive=True, help="depression window (postsynaptic trace)"),
    "tau_c": Parameter(1000.0, "ms", positive=True, help="decay time of the eligibility trace"),
    "baseline": Parameter(0.0, "modulator", help="tonic modulator level added to M"),
}


class ThreeFactor(PlasticityRule):
    """Eligibility trace from pair STDP, gated by a neuromodulator (see module doc)."""

    parameters = THREE_FACTOR_PARAMETERS
    pre_traces = {"trace_pre": Trace("tau_plus")}
    post_traces = {"trace_post": Trace("tau_minus")}
    synapse_state = ("c",)
    modulators = ("modulator",)
    on_pre = staticmethod(three_factor_on_pre)
    on_post = staticmethod(three_factor_on_post)
    on_step = staticmethod(three_factor_on_step)
    helpers = (split_change,)

    def __init__(self, pairing: str = "all", **options) -> None:
        if pairing not in ("all", "nearest"):
            raise ValueError(f"{type(self).__name__}: pairing must be 'all' or 'nearest', got {pairing!r}")
        for arg in self.modulators:  # a Modulator object stands for its name
            if arg in options and not isinstance(options[arg], str):
                name = getattr(options[arg], "name", None)
                if not isinstance(name, str):
                    raise ValueError(f"{type(self).__name__}: '{arg}' must name a network modulator "
                                     f"(a string), got {options[arg]!r}")
                options[arg] = name
        self.pairing = pairing
        mode = "add" if pairing == "all" else "set"
        self.pre_traces = {"trace_pre": Trace("tau_plus", mode)}
        self.post_traces = {"trace_post": Trace("tau_minus", mode)}
        super().__init__(**options)

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={v!r}" for k, v in self.values.items())
        return (f"{type(self).__name__}({shown}, modulator={self.modulator_names['modulator']!r}, "
                f"pairing={self.pairing!r}, bounds={self.bounds!r})")
