"""BCM rule (Bienenstock, Cooper & Munro 1982, J. Neurosci. 2:32) with the sliding
threshold of Intrator & Cooper (1992, Neural Networks 5:3), rates estimated by traces.

BCM: ``dw/dt = eta * x * phi(y, theta)`` with ``phi = y * (y - theta)``: depression below
the modification threshold theta, potentiation above it; theta slides with the recent
postsynaptic activity, here theta = E[y^2] / y_target (Intrator & Cooper's quadratic
form, scaled so that a neuron firing steadily at y_target has theta = y_target; Law &
Cooper 1994). Rates in Hz are estimated from dimensionless traces (+1 per spike)::

    x = 1000 * x_pre  / tau_pre         (presynaptic rate)
    y = 1000 * y_post / tau_post        (postsynaptic rate)

The rule is continuous, applied every ``interval`` ms (``period`` = the actual interval,
at least dt) in ``on_step``, after this step's spikes are counted in the traces::

    w     += eta * (period / 1000) * x * y * (y - theta)
    theta  = theta * k + (1 - k) * y^2 / y_target,      k = exp(-period / tau_theta)

i.e. theta is a low-pass filter (time constant tau_theta, the "slow trace") of y^2 /
y_target, updated after the weight change; it is kept per synapse (``synapse_state``),
starts at 0 and is reset at every trial start. The engine receives
``eta * period/1000 * x * y^2`` as potentiation and ``eta * period/1000 * x * y * theta``
as depression. Units: rates and theta in Hz, y_target in Hz, eta in weight per second
per Hz^3, time constants in ms. theta must follow y faster than the weights change
(tau_theta well below the weights' time scale) for the rule to be stable.
"""
from __future__ import annotations

from synaptica.primitives import exp
from synaptica.neurons.base import Parameter
from synaptica.plasticity.base import PlasticityRule, Trace


def bcm_on_step(x_pre, y_post, theta, eta, tau_pre, tau_post, tau_theta, y_target, period):
    x = 1000.0 * x_pre / tau_pre
    y = 1000.0 * y_post / tau_post
    c = eta * 0.001 * period * x * y
    k = exp(-period / tau_theta)
    return c * y, c * theta, theta * k + (1.0 - k) * y * y / y_target


class BCM(PlasticityRule):
    """BCM with a sliding threshold theta = E[y^2] / y_target (see module doc)."""

    parameters = {
        "eta": Parameter(1e-6, "weight/(s Hz^3)", non_negative=True, help="learning rate"),
        "tau_pre": Parameter(50.0, "ms", positive=True, help="presynaptic rate estimate"),
        "tau_post": Parameter(50.0, "ms", positive=True, help="postsynaptic rate estimate"),
        "tau_theta": Parameter(1000.0, "ms", positive=True, help="sliding threshold time constant"),
        "y_target": Parameter(10.0, "Hz", positive=True, help="target rate setting the threshold scale"),
    }
    pre_traces = {"x_pre": Trace("tau_pre")}
    post_traces = {"y_post": Trace("tau_post")}
    synapse_state = ("theta",)
    on_step = staticmethod(bcm_on_step)
