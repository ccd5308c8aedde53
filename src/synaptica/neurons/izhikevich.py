"""Izhikevich (2003) simple model: "Simple model of spiking neurons", IEEE TNN 14:1569.

Equations (v in mV, t in ms, currents in the model's own units, as in the paper)::

    dv/dt = 0.04 v^2 + 5 v + 140 - u + I        du/dt = a (b v - u)
    v >= v_peak (30 mV)  ->  spike; v <- c, u <- u + d
    I = i_ext + i_exc + i_inh,  tau_exc di_exc/dt = -i_exc,  tau_inh di_inh/dt = -i_inh

Integrated with forward Euler over ``dt`` (the paper uses 0.5-1 ms; use dt <= 0.25 ms
for accurate spike shapes). Standard parameter sets: :data:`IZHIKEVICH_PRESETS`.
"""
from __future__ import annotations

from synaptica.primitives import exp
from synaptica.neurons.reset import fire_and_reset
from synaptica.neurons.base import EXPONENTIAL_SYNAPSE_PARAMETERS, NeuronModel, Parameter

#: (a, b, c, d) of the classes in Izhikevich (2003), Fig. 2.
IZHIKEVICH_PRESETS = {
    "RS": (0.02, 0.2, -65.0, 8.0),   # regular spiking (cortical excitatory)
    "IB": (0.02, 0.2, -55.0, 4.0),   # intrinsically bursting
    "CH": (0.02, 0.2, -50.0, 2.0),   # chattering
    "FS": (0.1, 0.2, -65.0, 2.0),    # fast spiking (inhibitory)
    "LTS": (0.02, 0.25, -65.0, 2.0),  # low-threshold spiking (inhibitory)
}


def izhikevich_coefficients(dt, a, b, c, d, v_peak, tau_exc, tau_inh):
    return {"dt": dt, "a": a, "b": b, "c": c, "d": d, "v_peak": v_peak,
            "decay_exc": exp(-dt / tau_exc), "decay_inh": exp(-dt / tau_inh)}


def izhikevich_update(v, u, i_exc, i_inh, i_ext, dt, a, b, c, d, v_peak, decay_exc, decay_inh):
    current = i_ext + i_exc + i_inh
    v_new = v + dt * (0.04 * v * v + 5.0 * v + 140.0 - u + current)
    u = u + dt * a * (b * v - u)
    v, s_reset, s = fire_and_reset(v_new, v_peak, c)
    return v, u + d * s_reset, i_exc * decay_exc, i_inh * decay_inh, s


class Izhikevich(NeuronModel):
    """Izhikevich (2003) neuron; ``Izhikevich.preset("FS")`` gives a standard class."""

    state = ("v", "u", "i_exc", "i_inh")
    receptors = ("i_exc", "i_inh")
    parameters = {
        "a": Parameter(0.02, "1/ms", positive=True, help="recovery rate"),
        "b": Parameter(0.2, "", help="sensitivity of u to v"),
        "c": Parameter(-65.0, "mV", help="after-spike reset of v"),
        "d": Parameter(8.0, "", help="after-spike increment of u"),
        "v_peak": Parameter(30.0, "mV", help="spike cut-off"),
        **EXPONENTIAL_SYNAPSE_PARAMETERS,
    }
    coefficients_function = staticmethod(izhikevich_coefficients)
    update_function = staticmethod(izhikevich_update)
    helpers = (fire_and_reset,)

    @classmethod
    def preset(cls, name: str, **overrides) -> "Izhikevich":
        if name not in IZHIKEVICH_PRESETS:
            raise ValueError(f"Izhikevich: unknown preset {name!r}; known: {sorted(IZHIKEVICH_PRESETS)}")
        a, b, c, d = IZHIKEVICH_PRESETS[name]
        return cls(**{"a": a, "b": b, "c": c, "d": d, **overrides})

    def initial_state(self):
        v0 = -65.0
        return {"v": v0, "u": self.values["b"] * v0, "i_exc": 0.0, "i_inh": 0.0}
