"""Homeostatic synaptic scaling: all weights onto a neuron are scaled multiplicatively so
that its firing rate approaches a target.

Cortical neurons scale the strengths of all their excitatory synapses up when their
activity is chronically low and down when it is high, preserving relative strengths
(Turrigiano, Leslie, Desai, Rutherford & Nelson 1998, "Activity-dependent scaling of
quantal amplitude in neocortical neurons", Nature 391:892). Modelled as in van Rossum,
Bi & Turrigiano (2000), "Stable Hebbian learning from spike timing-dependent
plasticity", J. Neurosci. 20:8812 (their proportional scaling term; the integral term is
left out): a slow activity sensor estimates the postsynaptic rate and every weight onto
neuron j follows::

    tau_rate dy_j/dt = -y_j + tau_rate S_j(t)      (y_j += 1 at each spike of j)
    r_j = 1000 * y_j / tau_rate                    (Hz; y_j / tau_rate is per ms)
    dw_ij/dt = eta * (r_target - r_j) * w_ij

For Poisson firing at rate nu the sensor averages ``r_j = nu`` (its standard deviation
is ``sqrt(nu * 1000 / (2 tau_rate))`` Hz), so ``tau_rate`` should span many spikes.

Discretisation (exactly what the engine computes): y_j decays by ``exp(-dt / tau_rate)``
every step and gains 1 at each spike of j; every ``interval`` ms (``period`` P, the
common parameter ``interval`` rounded to whole steps) and at the first step::

    w <- clip(w + learning_rate * eta * (r_target - r_j) * w * P, w_min, w_max)

with r_j read after this step's decay and spikes (forward Euler over the period, so
keep ``eta * |r_target - r| * P`` well below 1).

Units: ``eta`` in 1 / (Hz ms), ``r_target`` in Hz, ``tau_rate`` and ``period`` in ms;
weights in the projection's units, and ``w_min`` should be >= 0 (scaling of magnitudes:
for ``sign="inhibitory"`` current projections the rule sees the weight magnitude, which
a neuron firing too fast would *decrease*: scaling as written is for excitatory
synapses). Keep the default ``dependence="additive"`` (the rule is multiplicative in
itself).
"""
from __future__ import annotations

from synaptica.neurons.base import Parameter
from synaptica.plasticity.base import PlasticityRule, Trace, split_change


def synaptic_scaling_on_step(w, rate_sensor, eta, r_target, tau_rate, period):
    rate_hz = 1000.0 * rate_sensor / tau_rate
    return split_change(eta * (r_target - rate_hz) * w * period)


class SynapticScaling(PlasticityRule):
    """Multiplicative homeostatic scaling towards a target rate (see module doc)."""

    parameters = {
        "eta": Parameter(1e-7, "1/(Hz ms)", non_negative=True, help="scaling rate"),
        "r_target": Parameter(5.0, "Hz", non_negative=True, help="target postsynaptic rate"),
        "tau_rate": Parameter(10000.0, "ms", positive=True, help="time constant of the rate sensor"),
    }
    post_traces = {"rate_sensor": Trace("tau_rate", "add")}
    on_step = staticmethod(synaptic_scaling_on_step)
    helpers = (split_change,)

    def __init__(self, **options) -> None:
        options.setdefault("interval", 100.0)
        options.setdefault("w_max", 1e9)
        super().__init__(**options)

    def _check(self) -> None:
        if self.values["w_min"] < 0:
            raise ValueError(f"{self.name}: parameter 'w_min' must be >= 0 (weights are scaled "
                             f"multiplicatively), got {self.values['w_min']}")
        if self.dependence != "additive":
            raise ValueError(f"{self.name}: the rule is multiplicative in itself; use dependence='additive'")
