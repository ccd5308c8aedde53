"""The pieces of Izhikevich's (2007) program ``daspnet.m`` (ModelDB 84167, published with
"Solving the distal reward problem through linkage of STDP and dopamine signaling",
Cereb. Cortex 17:2443) that the framework's defaults do differently, for
``protocol = "paper"`` of :mod:`synaptica.experiments.distal_reward`. Time in ms, v in mV,
currents and weights in the program's units (mV/ms of input per step of 1 ms).

* :class:`ProgramIzhikevich`: the program's step. A neuron whose v reached 30 in the
  previous step is reset first (v <- c, u <- u + d); v then takes two half steps of
  0.5 ms with the same u and input, and u one step of 1 ms with the new v (so the
  overshoot above 30 also raises u, a property of the program). The spike is reported
  in the step v crosses 30, one step before the program's ``fired``; the 1 ms synaptic
  delay then delivers it in the step the program does. Every spike time is therefore
  shifted by -1 ms, the same for all neurons.
* :class:`ProgramRewardModulatedSTDP`: the program's pairing. A presynaptic spike at step tp and
  a postsynaptic one at tq add 0.1 x 0.95^(tq - tp - 1) to c when tq > tp, and
  -0.15 x 0.95^(tp - tq) when tq <= tp: a pair in the same step depresses (the
  framework's order counts it as pre-before-post). Traces are set, not added, at a spike
  (nearest spike). With ``a_plus = 0.1 / 0.95`` and ``tau = -1 / ln 0.95`` the framework's
  traces give exactly these amounts; ``on_post`` recognises a same-step pair (the
  presynaptic trace is exactly 1) and depresses instead, pairing the postsynaptic spike
  with the presynaptic spike before (kept by ``on_pre``), as the program does.
* :func:`program_input`: the program's input, ``I = 13 (rand - 0.5)`` for every neuron
  and step, i.e. uniform on [-6.5, 6.5].
* :func:`program_targets`: ``post = ceil(N rand)`` (excitatory neurons onto any of the N
  neurons, themselves included, inhibitory ones onto the excitatory neurons), drawn with
  replacement, so a neuron may contact the same target twice.

Decay factors of the program and the time constants that give them exactly:
0.95 per ms (STDP traces, 19.50 ms), 0.99 per 10 ms (eligibility, 994.98 ms), 0.995 per ms
(dopamine, 199.50 ms): :data:`PROGRAM_TAUS_MS`.
"""
from __future__ import annotations

import numpy as np

from synaptica.neurons import Izhikevich
from synaptica.plasticity import RewardModulatedSTDP
from synaptica.plasticity.base import split_change
from synaptica.primitives import exp, spike, where

#: Time constants (ms) that reproduce the program's per-step decay factors exactly.
#: Rounded to 4 decimals (factors within 1e-7 of the program's): -1 / ln 0.95, -10 / ln 0.99, -1 / ln 0.995.
PROGRAM_TAUS_MS = {"tau_stdp_ms": 19.4957, "tau_c_ms": 994.9916, "tau_dopamine_ms": 199.4996}
#: Amplitude of the program's input: I = 13 (rand - 0.5) every ms.
PROGRAM_INPUT_RANGE = 13.0


def program_izhikevich_coefficients(dt, a, b, c, d, v_peak, tau_exc, tau_inh):
    return {"a": a, "b": b, "c": c, "d": d, "v_peak": v_peak,
            "decay_exc": exp(-dt / tau_exc), "decay_inh": exp(-dt / tau_inh)}


def program_izhikevich_update(v, u, i_exc, i_inh, i_ext, a, b, c, d, v_peak, decay_exc, decay_inh):
    fired = spike(v - v_peak)             # reached the peak in the previous step: reset now
    v = where(fired > 0.0, c, v)
    u = u + d * fired
    current = i_ext + i_exc + i_inh
    v = v + 0.5 * ((0.04 * v + 5.0) * v + 140.0 - u + current)   # the program's expression
    v = v + 0.5 * ((0.04 * v + 5.0) * v + 140.0 - u + current)
    u = u + a * (b * v - u)
    return v, u, i_exc * decay_exc, i_inh * decay_inh, spike(v - v_peak)


class ProgramIzhikevich(Izhikevich):
    """Izhikevich (2003) neuron stepped as in ``spnet.m``/``daspnet.m`` (module doc); dt must be 1 ms.

    The parameters, state and initial state of :class:`~synaptica.neurons.Izhikevich`; only
    the step differs."""

    coefficients_function = staticmethod(program_izhikevich_coefficients)
    update_function = staticmethod(program_izhikevich_update)
    helpers = ()


def program_on_pre(c, held, trace_pre, trace_post, a_minus):
    # depression by the postsynaptic trace before this step's spikes; keep the presynaptic
    # trace before this spike, in case the postsynaptic neuron fires in this same step
    return 0.0, 0.0, c - a_minus * trace_post, trace_pre


def program_on_post(c, held, trace_pre, trace_post, a_plus, a_minus):
    # a presynaptic spike in this same step left trace_pre at exactly 1 (set, not decayed).
    # The program then pairs this spike with the presynaptic spike before (held) and
    # depresses by a_minus in all (its postsynaptic trace is 1 after this spike; on_pre
    # took a_minus x trace_post, the trace before it)
    same_step = trace_pre >= 1.0
    change = where(same_step, a_plus * held - a_minus * (1.0 - trace_post), a_plus * trace_pre)
    return 0.0, 0.0, c + change, held


def program_on_step(c, held, modulator, baseline, tau_c, period):
    potentiation, depression = split_change(c * (modulator + baseline) * period)
    return potentiation, depression, c * exp(-period / tau_c), held


class ProgramRewardModulatedSTDP(RewardModulatedSTDP):
    """Dopamine-modulated STDP with the pairing of ``daspnet.m`` (module doc): pass
    ``a_plus = 0.1 / 0.95``, ``a_minus = 0.15``, ``tau_plus = tau_minus = -1 / ln 0.95``.
    Per synapse: the eligibility ``c`` and ``held``, the presynaptic trace before the
    latest presynaptic spike (used only when pre and post fire in the same step)."""

    synapse_state = ("c", "held")
    on_pre = staticmethod(program_on_pre)
    on_post = staticmethod(program_on_post)
    on_step = staticmethod(program_on_step)

    def __init__(self, **options) -> None:
        super().__init__(pairing="nearest", **options)


def program_input(rng: np.random.Generator, steps: int, n: int, amplitude: float = PROGRAM_INPUT_RANGE) -> np.ndarray:
    """``amplitude (rand - 0.5)`` for ``steps`` steps of ``n`` neurons, shape (steps, 1, n)."""
    return amplitude * (rng.random((steps, 1, n)) - 0.5)


def program_targets(rng: np.random.Generator, n_exc: int, n_inh: int, m: int) -> tuple[np.ndarray, np.ndarray]:
    """Targets drawn with replacement: (n_exc, m) in [0, N) and (n_inh, m) in [0, n_exc)."""
    return rng.integers(0, n_exc + n_inh, (n_exc, m)), rng.integers(0, n_exc, (n_inh, m))
