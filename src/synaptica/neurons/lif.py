"""Leaky integrate-and-fire neuron with exponential current synapses, integrated exactly.

Equations (Lapicque 1907; exact integration after Rotter & Diesmann 1999, as in
NEST's ``iaf_psc_exp`` and Brian2's ``method='exact'``)::

    tau_m dv/dt     = -(v - v_rest) + r_m (i_exc + i_inh + i_ext)
    tau_exc di_exc/dt = -i_exc          tau_inh di_inh/dt = -i_inh
    v >= v_th  ->  spike; v <- v_reset (reset="value") or v <- v - (v_th - v_reset)
                   (reset="subtract"); v is held for t_ref after a spike.

The linear system is solved in closed form over each step, assuming only ``i_ext``
constant within the step, so the subthreshold trajectory is exact at every step.
Units: ms, mV, pA, GOhm. A projection adds its weight (pA) to ``i_exc`` or ``i_inh``.
The refractory period is counted in whole steps: integration resumes exactly
``round(t_ref / dt)`` steps after the spike.
"""
from __future__ import annotations

import numpy as np

from synaptica.primitives import exp, maximum, spike, detach, where
from synaptica.neurons.base import EXPONENTIAL_SYNAPSE_PARAMETERS, NeuronModel, Parameter


def lif_coefficients(dt, tau_m, tau_exc, tau_inh, v_rest, v_reset, v_th, r_m, t_ref, reset):
    decay_m = exp(-dt / tau_m)

    def coupling(tau_s):
        # Voltage response at t=dt to a unit current decaying with tau_s, in units of r_m.
        # tau_s == tau_m is the limit (dt / tau_m) exp(-dt / tau_m); avoid 0/0 there.
        difference = tau_s - tau_m
        near = abs(difference) < 1e-9 * tau_m
        safe = where(near, 1.0, difference)
        general = tau_s / safe * (exp(-dt / tau_s) - decay_m)
        return where(near, dt / tau_m * decay_m, general)

    return {
        "decay_m": decay_m,
        "decay_exc": exp(-dt / tau_exc),
        "decay_inh": exp(-dt / tau_inh),
        "couple_exc": r_m * coupling(tau_exc),
        "couple_inh": r_m * coupling(tau_inh),
        "drive_ext": r_m * (1.0 - decay_m),
        "v_rest": v_rest,
        "v_reset": v_reset,
        "v_th": v_th,
        "refractory_steps": (t_ref / dt + 0.5) // 1.0,
        "subtract": reset,
    }


def lif_membrane(v, i_exc, i_inh, refractory, i_ext, decay_m, decay_exc, decay_inh, couple_exc,
                 couple_inh, drive_ext, v_rest):
    """Exact subthreshold step; v is held while the refractory counter (steps) is > 0."""
    refractory = maximum(refractory - 1.0, 0.0)
    v_free = (v_rest + (v - v_rest) * decay_m + drive_ext * i_ext
              + couple_exc * i_exc + couple_inh * i_inh)
    v = where(refractory > 0.0, v, v_free)
    return v, i_exc * decay_exc, i_inh * decay_inh, refractory


def lif_fire(v, refractory, threshold, v_reset, refractory_steps, subtract):
    """Spike where v >= threshold; reset by value or by subtracting (threshold - v_reset)."""
    s = spike(v - threshold)
    s_reset = detach(s)
    v = v - s_reset * where(subtract > 0.5, threshold - v_reset, v - v_reset)
    refractory = where(s_reset > 0.0, refractory_steps, refractory)
    return v, refractory, s


def lif_update(v, i_exc, i_inh, refractory, i_ext, decay_m, decay_exc, decay_inh, couple_exc,
               couple_inh, drive_ext, v_rest, v_reset, v_th, refractory_steps, subtract):
    v, i_exc, i_inh, refractory = lif_membrane(v, i_exc, i_inh, refractory, i_ext, decay_m,
                                               decay_exc, decay_inh, couple_exc, couple_inh,
                                               drive_ext, v_rest)
    v, refractory, s = lif_fire(v, refractory, v_th, v_reset, refractory_steps, subtract)
    return v, i_exc, i_inh, refractory, s


class LIF(NeuronModel):
    """Leaky integrate-and-fire neuron, current-based exponential synapses (see module doc)."""

    state = ("v", "i_exc", "i_inh", "refractory")
    receptors = ("i_exc", "i_inh")
    parameters = {
        "tau_m": Parameter(20.0, "ms", positive=True, help="membrane time constant"),
        **EXPONENTIAL_SYNAPSE_PARAMETERS,
        "v_rest": Parameter(-65.0, "mV", help="resting (leak reversal) potential"),
        "v_reset": Parameter(-65.0, "mV", help="reset potential"),
        "v_th": Parameter(-50.0, "mV", help="firing threshold"),
        "r_m": Parameter(0.1, "GOhm", positive=True, help="membrane resistance (mV per pA)"),
        "t_ref": Parameter(2.0, "ms", non_negative=True, help="absolute refractory period"),
        "reset": Parameter("value", choices=("value", "subtract"), help="reset mechanism"),
    }
    coefficients_function = staticmethod(lif_coefficients)
    update_function = staticmethod(lif_update)
    helpers = (lif_membrane, lif_fire)

    def __init__(self, **values):
        super().__init__(**values)
        if np.any(np.asarray(self.values["v_reset"]) >= np.asarray(self.values["v_th"])):
            raise ValueError(f"{type(self).__name__}: parameter 'v_reset' must be below 'v_th'")

    def initial_state(self):
        return {"v": self.values["v_rest"], "i_exc": 0.0, "i_inh": 0.0, "refractory": 0.0}
