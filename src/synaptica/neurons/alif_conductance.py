"""Adaptive-threshold LIF with conductance-based synapses: the excitatory neuron of
Diehl & Cook (2015), "Unsupervised learning of digit recognition using spike-timing-
dependent plasticity", Front. Comput. Neurosci. 9:99.

Equations (ms, mV, nS, GOhm)::

    membrane and conductances exactly as :class:`~synaptica.neurons.lif_conductance.LIFConductance`
    tau_adapt dtheta/dt = -theta
    v >= v_th + theta  ->  spike, reset, theta <- theta + theta_jump

Diehl & Cook use tau_adapt = 1e7 ms and theta_jump = 0.05 mV, so theta is a slowly
growing, homeostatic threshold that stops single neurons from winning every input;
set theta_jump = 0 to freeze it (their test phase).
"""
from __future__ import annotations

from synaptica.neurons.alif import AdaptiveLIF, alif_coefficients
from synaptica.neurons.lif import lif_fire
from synaptica.neurons.lif_conductance import LIFConductance, lif_conductance_membrane


def alif_conductance_update(v, g_exc, g_inh, refractory, theta, i_ext, dt, tau_m, r_m, e_exc, e_inh,
                            decay_exc, decay_inh, v_rest, v_reset, v_th, refractory_steps, subtract,
                            decay_adapt, theta_jump):
    v, refractory = lif_conductance_membrane(v, g_exc, g_inh, refractory, i_ext, dt, tau_m, r_m, e_exc,
                                             e_inh, v_rest)
    theta = theta * decay_adapt
    v, refractory, s = lif_fire(v, refractory, v_th + theta, v_reset, refractory_steps, subtract)
    return v, g_exc * decay_exc, g_inh * decay_inh, refractory, theta + theta_jump * s, s


class AdaptiveLIFConductance(LIFConductance):
    """Conductance-based LIF with an adaptive threshold (see module doc)."""

    state = ("v", "g_exc", "g_inh", "refractory", "theta")
    parameters = {
        **LIFConductance.parameters,
        "tau_adapt": AdaptiveLIF.parameters["tau_adapt"],
        "theta_jump": AdaptiveLIF.parameters["theta_jump"],
    }
    coefficients_function = staticmethod(alif_coefficients)
    update_function = staticmethod(alif_conductance_update)

    def initial_state(self):
        return {**super().initial_state(), "theta": 0.0}
