"""Adaptive exponential integrate-and-fire (AdEx): Brette & Gerstner (2005),
J. Neurophysiol. 94:3637.

Equations (ms, mV, pA, nS, pF)::

    C dv/dt = -g_l (v - e_l) + g_l delta_t exp((v - v_t) / delta_t) - w + I
    tau_w dw/dt = a (v - e_l) - w
    v >= v_peak  ->  spike; v <- v_reset, w <- w + b
    I = i_ext + i_exc + i_inh, exponential current synapses as in LIF.

Forward Euler over ``dt`` (use dt <= 0.1 ms); the exponential term is capped to keep
the upswing finite within one step. Defaults are the paper's cortical pyramidal cell.
"""
from __future__ import annotations

from synaptica.primitives import exp, minimum
from synaptica.neurons.reset import fire_and_reset
from synaptica.neurons.base import EXPONENTIAL_SYNAPSE_PARAMETERS, NeuronModel, Parameter


def adex_coefficients(dt, c_m, g_l, e_l, v_t, delta_t, a, tau_w, b, v_reset, v_peak, tau_exc, tau_inh):
    return {"dt": dt, "c_m": c_m, "g_l": g_l, "e_l": e_l, "v_t": v_t, "delta_t": delta_t, "a": a,
            "tau_w": tau_w, "b": b, "v_reset": v_reset, "v_peak": v_peak,
            "decay_exc": exp(-dt / tau_exc), "decay_inh": exp(-dt / tau_inh)}


def adex_update(v, w, i_exc, i_inh, i_ext, dt, c_m, g_l, e_l, v_t, delta_t, a, tau_w, b, v_reset,
                v_peak, decay_exc, decay_inh):
    upswing = g_l * delta_t * exp(minimum((v - v_t) / delta_t, 20.0))
    dv = (-g_l * (v - e_l) + upswing - w + i_ext + i_exc + i_inh) / c_m
    w = w + dt * (a * (v - e_l) - w) / tau_w
    v = v + dt * dv
    v, s_reset, s = fire_and_reset(v, v_peak, v_reset)
    return v, w + b * s_reset, i_exc * decay_exc, i_inh * decay_inh, s


class AdEx(NeuronModel):
    """Adaptive exponential integrate-and-fire neuron (see module doc)."""

    state = ("v", "w", "i_exc", "i_inh")
    receptors = ("i_exc", "i_inh")
    parameters = {
        "c_m": Parameter(281.0, "pF", positive=True, help="membrane capacitance"),
        "g_l": Parameter(30.0, "nS", positive=True, help="leak conductance"),
        "e_l": Parameter(-70.6, "mV", help="leak reversal"),
        "v_t": Parameter(-50.4, "mV", help="threshold slope centre"),
        "delta_t": Parameter(2.0, "mV", positive=True, help="slope factor"),
        "a": Parameter(4.0, "nS", help="subthreshold adaptation"),
        "tau_w": Parameter(144.0, "ms", positive=True, help="adaptation time constant"),
        "b": Parameter(80.5, "pA", help="spike-triggered adaptation"),
        "v_reset": Parameter(-70.6, "mV", help="reset potential"),
        "v_peak": Parameter(20.0, "mV", help="spike detection"),
        **EXPONENTIAL_SYNAPSE_PARAMETERS,
    }
    coefficients_function = staticmethod(adex_coefficients)
    update_function = staticmethod(adex_update)
    helpers = (fire_and_reset,)

    def initial_state(self):
        return {"v": self.values["e_l"], "w": 0.0, "i_exc": 0.0, "i_inh": 0.0}
