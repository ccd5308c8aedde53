"""The STDP rule of Diehl & Cook (2015), "Unsupervised learning of digit recognition using
spike-timing-dependent plasticity", Front. Comput. Neurosci. 9:99, as in their published
Brian code (the rule the paper's results were obtained with).

Traces, dimensionless, set to 1 at each spike of their neuron (nearest-spike interaction):
``pre`` (tau_pre = 20 ms), ``post1`` (tau_post1 = 20 ms), ``post2`` (tau_post2 = 40 ms)::

    at a presynaptic spike:   w -= nu_pre  * post1
    at a postsynaptic spike:  w += nu_post * pre * post2_before

where ``post2_before`` is post2 just before this postsynaptic spike sets it to 1 (so the
potentiation is a pre-post-post triplet term, Pfister & Gerstner 2006), and ``pre``
includes a presynaptic spike in the same step (Brian runs the pre pathway first). The
weights are clipped to [0, w_max], w_max = 1; nu_pre = 1e-4, nu_post = 1e-2. Their
network also normalises each excitatory neuron's input weights to a sum of 78 before
every example: ``normalize=78.0`` with :meth:`Network.set_trials`.
"""
from __future__ import annotations

from synaptica.neurons.base import Parameter
from synaptica.plasticity.base import PlasticityRule, Trace


def diehl_cook_on_pre(post1, nu_pre):
    return 0.0, nu_pre * post1


def diehl_cook_on_post(pre, post2, nu_post):
    return nu_post * pre * post2, 0.0


class DiehlCookSTDP(PlasticityRule):
    """Diehl & Cook (2015) STDP with a postsynaptic triplet term (see module doc)."""

    parameters = {
        "nu_pre": Parameter(1e-4, "weight", non_negative=True, help="depression per presynaptic spike"),
        "nu_post": Parameter(1e-2, "weight", non_negative=True, help="potentiation per postsynaptic spike"),
        "tau_pre": Parameter(20.0, "ms", positive=True, help="presynaptic trace"),
        "tau_post1": Parameter(20.0, "ms", positive=True, help="postsynaptic trace for depression"),
        "tau_post2": Parameter(40.0, "ms", positive=True, help="postsynaptic trace for potentiation"),
        "w_max": Parameter(1.0, "weight", help="upper weight bound"),
    }
    pre_traces = {"pre": Trace("tau_pre", "set")}
    post_traces = {"post1": Trace("tau_post1", "set"), "post2": Trace("tau_post2", "set")}
    on_pre = staticmethod(diehl_cook_on_pre)
    on_post = staticmethod(diehl_cook_on_post)
