"""Spike-based Hebbian and anti-Hebbian correlation rules.

Hebb (1949, The Organization of Behavior) postulated that a synapse strengthens when the
presynaptic cell takes part in firing the postsynaptic one; in rate form
``dw/dt = eta_rate * nu_pre * nu_post`` (Gerstner & Kistler 2002, Spiking Neuron Models,
ch. 10). The spike-based form used here is the correlation term of Kempter, Gerstner &
van Hemmen (1999, Phys. Rev. E 59:4498), ``dw/dt = int W(s) S_pre(t + s) S_post(t) ds``,
with a symmetric exponential learning window W, evaluated online with a presynaptic
trace x_pre (tau_pre) and a postsynaptic trace y_post (tau_post), dimensionless, +1 per
spike::

    Hebbian:      at a post spike  w += eta * x_pre;   at a pre spike  w += eta * y_post
    AntiHebbian:  at a post spike  w -= eta * x_pre;   at a pre spike  w -= eta * y_post

So every pair (pre at t_pre, post at t_post) changes the weight by
``+-eta * exp(-|t_post - t_pre| / tau)``, with tau = tau_pre if the pre spike comes
first (or in the same step) and tau_post otherwise; the order does not matter, only
coincidence. For uncorrelated (Poisson) trains the mean drift is
``+-eta * (tau_pre + tau_post) * nu_pre * nu_post``, Hebb's rate rule with
``eta_rate = eta * (tau_pre + tau_post)``. eta in weight units, time constants in ms.
The rules have no stabilising term: use bounds or ``normalize``.
"""
from __future__ import annotations

from synaptica.neurons.base import Parameter
from synaptica.plasticity.base import PlasticityRule, Trace


def hebbian_on_pre(y_post, eta):
    return eta * y_post, 0.0


def hebbian_on_post(x_pre, eta):
    return eta * x_pre, 0.0


def anti_hebbian_on_pre(y_post, eta):
    return 0.0, eta * y_post


def anti_hebbian_on_post(x_pre, eta):
    return 0.0, eta * x_pre


class Hebbian(PlasticityRule):
    """Spike-based Hebbian correlation rule: coincident spikes potentiate (see module doc)."""

    parameters = {
        "eta": Parameter(1e-3, "weight", non_negative=True, help="change per coincident spike pair"),
        "tau_pre": Parameter(20.0, "ms", positive=True, help="presynaptic trace (coincidence window)"),
        "tau_post": Parameter(20.0, "ms", positive=True, help="postsynaptic trace (coincidence window)"),
    }
    pre_traces = {"x_pre": Trace("tau_pre")}
    post_traces = {"y_post": Trace("tau_post")}
    on_pre = staticmethod(hebbian_on_pre)
    on_post = staticmethod(hebbian_on_post)


class AntiHebbian(Hebbian):
    """Spike-based anti-Hebbian rule: coincident spikes depress (see module doc)."""

    on_pre = staticmethod(anti_hebbian_on_pre)
    on_post = staticmethod(anti_hebbian_on_post)
