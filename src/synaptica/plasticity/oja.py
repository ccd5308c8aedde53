"""Oja's rule (Oja 1982, "A simplified neuron model as a principal component analyzer",
J. Math. Biol. 15:267-273) with firing rates estimated by traces.

Oja's rate rule is ``dw/dt = eta * y * (x - y * w)``: Hebbian growth ``x * y`` and a decay
``y^2 * w`` that keeps the norm of the weight vector bounded (for a linear neuron
y = sum_j w_j x_j it converges to unit norm along the inputs' first principal
component). The spiking form implemented here replaces one factor y by the
postsynaptic spike train and the remaining rates by trace estimates in Hz::

    x_hat = 1000 * x_pre  / tau_pre     (presynaptic rate, Hz; x_pre +1 per pre spike)
    y_hat = 1000 * y_post / tau_post    (postsynaptic rate, Hz; y_post +1 per post spike)

    at each postsynaptic spike:  w += eta * (x_hat - y_hat * w)

with ``x_hat`` including presynaptic spikes of the same step and ``y_hat`` taken before
this postsynaptic spike is counted (so a spike is not paired with itself); nothing
happens at presynaptic spikes. Averaged over uncorrelated spike trains at rates
nu_pre, nu_post (Hz) the drift is ``<dw/dt> = eta * nu_post * (nu_pre - nu_post * w)``
per second, Oja's rule with rates in Hz (the estimates are unbiased up to
O(dt / tau)). ``eta``: weight change per postsynaptic spike per Hz; ``w`` is
dimensionless here (it multiplies a rate in the decay term). The engine receives the
Hebbian part as potentiation and ``eta * y_hat * w`` as depression.
"""
from __future__ import annotations

from synaptica.neurons.base import Parameter
from synaptica.plasticity.base import PlasticityRule, Trace


def oja_on_post(w, x_pre, y_post, eta, tau_pre, tau_post):
    return eta * 1000.0 * x_pre / tau_pre, eta * 1000.0 * y_post / tau_post * w


class Oja(PlasticityRule):
    """Oja's normalised Hebbian rule with trace-estimated rates (see module doc)."""

    parameters = {
        "eta": Parameter(1e-4, "1/Hz", non_negative=True, help="learning rate per postsynaptic spike"),
        "tau_pre": Parameter(100.0, "ms", positive=True, help="presynaptic rate estimate"),
        "tau_post": Parameter(100.0, "ms", positive=True, help="postsynaptic rate estimate"),
    }
    pre_traces = {"x_pre": Trace("tau_pre")}
    post_traces = {"y_post": Trace("tau_post")}
    on_post = staticmethod(oja_on_post)
