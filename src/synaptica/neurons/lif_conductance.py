"""LIF neuron with exponential conductance-based synapses (as NEST's ``iaf_cond_exp``;
the COBA network of Vogels & Abbott 2005 / Brette et al. 2007).

Equations (ms, mV, pA, nS, GOhm)::

    tau_m dv/dt = -(v - v_rest) + r_m (g_exc (e_exc - v) + g_inh (e_inh - v) + i_ext)
    tau_exc dg_exc/dt = -g_exc        tau_inh dg_inh/dt = -g_inh
    threshold, reset and refractoriness as :class:`~synaptica.neurons.lif.LIF`

With conductances frozen over a step the membrane equation is linear, so each step
relaxes v exactly towards its momentary equilibrium (exponential Euler). A projection
adds its weight (nS) to ``g_exc`` or ``g_inh``.
"""
from __future__ import annotations

from synaptica.primitives import exp, maximum, where
from synaptica.neurons.base import Parameter
from synaptica.neurons.lif import LIF, lif_fire


def lif_conductance_coefficients(dt, e_exc, e_inh, tau_m, r_m):
    return {"dt": dt, "tau_m": tau_m, "r_m": r_m, "e_exc": e_exc, "e_inh": e_inh}


def lif_conductance_membrane(v, g_exc, g_inh, refractory, i_ext, dt, tau_m, r_m, e_exc, e_inh, v_rest):
    """Exponential-Euler step of v with conductances frozen over the step."""
    refractory = maximum(refractory - 1.0, 0.0)
    total = 1.0 + r_m * (g_exc + g_inh)
    v_inf = (v_rest + r_m * (g_exc * e_exc + g_inh * e_inh + i_ext)) / total
    v_free = v_inf + (v - v_inf) * exp(-dt * total / tau_m)
    return where(refractory > 0.0, v, v_free), refractory


def lif_conductance_update(v, g_exc, g_inh, refractory, i_ext, dt, tau_m, r_m, e_exc, e_inh,
                           decay_exc, decay_inh, v_rest, v_reset, v_th, refractory_steps, subtract):
    v, refractory = lif_conductance_membrane(v, g_exc, g_inh, refractory, i_ext, dt, tau_m, r_m, e_exc,
                                             e_inh, v_rest)
    v, refractory, s = lif_fire(v, refractory, v_th, v_reset, refractory_steps, subtract)
    return v, g_exc * decay_exc, g_inh * decay_inh, refractory, s


class LIFConductance(LIF):
    """LIF with conductance-based exponential synapses (see module doc)."""

    state = ("v", "g_exc", "g_inh", "refractory")
    receptors = ("g_exc", "g_inh")
    conductance_based = True
    parameters = {
        **LIF.parameters,
        "e_exc": Parameter(0.0, "mV", help="excitatory reversal potential"),
        "e_inh": Parameter(-80.0, "mV", help="inhibitory reversal potential"),
    }
    coefficients_function = staticmethod(lif_conductance_coefficients)
    update_function = staticmethod(lif_conductance_update)
    helpers = (lif_conductance_membrane, lif_fire)

    def initial_state(self):
        return {"v": self.values["v_rest"], "g_exc": 0.0, "g_inh": 0.0, "refractory": 0.0}
