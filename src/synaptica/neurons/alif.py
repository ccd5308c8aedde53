"""Adaptive LIF: LIF whose threshold jumps at each spike and relaxes back.

Equations (spike-triggered threshold adaptation as in Bellec et al. 2018, "Long
short-term memory and learning-to-learn in networks of spiking neurons", and the
adaptive-threshold neurons of Diehl & Cook 2015)::

    subthreshold dynamics of v, i_exc, i_inh exactly as :class:`~synaptica.neurons.lif.LIF`
    tau_adapt dtheta/dt = -theta
    v >= v_th + theta  ->  spike, reset as LIF, theta <- theta + theta_jump

Units: ms, mV, pA, GOhm; ``theta`` and ``theta_jump`` in mV.
"""
from __future__ import annotations

from synaptica.primitives import exp
from synaptica.neurons.lif import LIF, lif_fire, lif_membrane
from synaptica.neurons.base import Parameter


def alif_coefficients(dt, tau_adapt, theta_jump):
    return {"decay_adapt": exp(-dt / tau_adapt), "theta_jump": theta_jump}


def alif_update(v, i_exc, i_inh, refractory, theta, i_ext, decay_m, decay_exc, decay_inh,
                couple_exc, couple_inh, drive_ext, v_rest, v_reset, v_th, refractory_steps,
                subtract, decay_adapt, theta_jump):
    v, i_exc, i_inh, refractory = lif_membrane(v, i_exc, i_inh, refractory, i_ext, decay_m,
                                               decay_exc, decay_inh, couple_exc, couple_inh,
                                               drive_ext, v_rest)
    theta = theta * decay_adapt
    v, refractory, s = lif_fire(v, refractory, v_th + theta, v_reset, refractory_steps, subtract)
    return v, i_exc, i_inh, refractory, theta + theta_jump * s, s


class AdaptiveLIF(LIF):
    """LIF with spike-triggered threshold adaptation (see module doc)."""

    state = ("v", "i_exc", "i_inh", "refractory", "theta")
    parameters = {
        **LIF.parameters,
        "tau_adapt": Parameter(100.0, "ms", positive=True, help="threshold adaptation time constant"),
        "theta_jump": Parameter(1.0, "mV", non_negative=True, help="threshold increase per spike"),
    }
    coefficients_function = staticmethod(alif_coefficients)
    update_function = staticmethod(alif_update)

    def initial_state(self):
        return {**super().initial_state(), "theta": 0.0}
