"""Inhibitory STDP that balances excitation: the symmetric rule of Vogels, Sprekeler,
Zenke, Clopath & Gerstner (2011), "Inhibitory plasticity balances excitation and
inhibition in sensory pathways and memory networks", Science 334:1569.

Each neuron keeps a trace x (time constant ``tau``, x += 1 at each of its spikes). For
the synapse from inhibitory neuron i to neuron j::

    presynaptic spike of i:   w_ij += eta * (x_j - alpha)
    postsynaptic spike of j:  w_ij += eta * x_i
    alpha = 2 * rho0 * tau    (rho0 in Hz, tau in ms: alpha = 2 * rho0 * tau / 1000)

Near-coincident spikes (either order, window ~tau) strengthen inhibition, lone
presynaptic spikes weaken it by ``eta * alpha``, so the postsynaptic rate is driven to
the target ``rho0`` (the paper: tau = 20 ms, rho0 = 5 Hz, alpha = 0.2).

Weights are magnitudes (w >= w_min >= 0): use the rule on projections with
``sign="inhibitory"`` onto a current receptor (the rule sees |w|, the engine subtracts
it) or onto an inhibitory conductance (e.g. ``g_inh``, nS). Order within a step (see
:mod:`synaptica.plasticity.base`): a presynaptic spike reads x_j before this step's
postsynaptic spikes, a postsynaptic spike reads x_i including this step's presynaptic
spikes, so a same-step pair adds ``eta * (x_j - alpha) + eta * (x_i + 1)``. Units:
``eta`` in weight units, ``tau`` in ms, ``rho0`` in Hz.
"""
from __future__ import annotations

from synaptica.neurons.base import Parameter
from synaptica.plasticity.base import PlasticityRule, Trace, split_change


def inhibitory_stdp_on_pre(trace_post, eta, rho0, tau):
    return split_change(eta * (trace_post - 2.0 * rho0 * tau * 0.001))


def inhibitory_stdp_on_post(trace_pre, eta):
    return eta * trace_pre, 0.0


class InhibitorySTDP(PlasticityRule):
    """Vogels et al. (2011) inhibitory plasticity (see module doc)."""

    parameters = {
        "eta": Parameter(1e-3, "weight", non_negative=True, help="learning rate (change per unit of trace)"),
        "rho0": Parameter(5.0, "Hz", non_negative=True, help="target postsynaptic rate"),
        "tau": Parameter(20.0, "ms", positive=True, help="time constant of both traces"),
    }
    pre_traces = {"trace_pre": Trace("tau", "add")}
    post_traces = {"trace_post": Trace("tau", "add")}
    on_pre = staticmethod(inhibitory_stdp_on_pre)
    on_post = staticmethod(inhibitory_stdp_on_post)
    helpers = (split_change,)

    def __init__(self, **options) -> None:
        options.setdefault("w_max", 1e9)
        super().__init__(**options)

    def _check(self) -> None:
        if self.values["w_min"] < 0:
            raise ValueError(f"{self.name}: parameter 'w_min' must be >= 0 (inhibitory weights are "
                             f"magnitudes), got {self.values['w_min']}")

    def validate_for(self, projection, network) -> None:
        super().validate_for(projection, network)
        if not (projection.conductance or projection.sign == "inhibitory"):
            raise ValueError(f"{self.name} on projection '{projection.name}': the rule learns inhibitory "
                             f"weight magnitudes; connect with sign='inhibitory' (current receptors) or "
                             f"onto a conductance receptor")

    def alpha(self) -> float:
        """Depression per presynaptic spike in units of eta: 2 rho0 tau (dimensionless)."""
        return 2.0 * self.values["rho0"] * self.values["tau"] * 1e-3
