"""Symmetric STDP (sym-STDP) of Hao, Huang, Dong & Xu (2020), "A biologically plausible
supervised learning method for spiking neural networks using the symmetric STDP rule",
Neural Networks 121:387-395 (arXiv:1812.06574).

The rule models the dopamine-modulated STDP window measured at hippocampal synapses
(Zhang, Lau & Bi 2009, PNAS 106:13028), where both spike orders potentiate. With a
presynaptic trace x_pre (tau_pre) and a postsynaptic trace x_post (tau_post), both
dimensionless and +1 per spike (all-to-all pairs)::

    at a postsynaptic spike:  w += a_causal  * x_pre     (pre before post)
    at a presynaptic spike:   w += a_acausal * x_post    (post before pre)

so every pair of a pre spike at t_pre and a post spike at t_post adds::

    dw = a_causal  * exp(-(t_post - t_pre) / tau_pre)    if t_post >= t_pre
    dw = a_acausal * exp(-(t_pre - t_post) / tau_post)   if t_post <  t_pre

i.e. ``A exp(-|dt| / tau)`` for both orders when the two sides are equal. There is no
depression term: in the paper the weights are kept in check by hard bounds [0, w_max]
and by synaptic scaling, the normalisation of each neuron's incoming weight sum before
every example, which is this framework's ``normalize`` option with
:meth:`Network.set_trials` (a total of 78.4 for the 784 inputs in the authors' code; 78 in Diehl &
Cook 2015).

Defaults follow the authors' published code (haoyz/sym-STDP-SNN, model.h): a learning
rate eta applied to traces that jump by 0.1, so a_causal = a_acausal = eta x 0.1 per pair
at dt = 0, with tau_pre = tau_post = 20 ms and weights in [0, 1]. The default 2e-3 is
their input-to-hidden eta = 0.02 for 1600 hidden neurons; they use 0.005 (5e-4) for 100
and 400 hidden neurons and 0.04 (4e-3, w_max 8) from hidden to label layer
(:mod:`synaptica.experiments.sym_stdp_digits` picks by size). Amplitudes in weight
units, time constants in ms.
"""
from __future__ import annotations

from synaptica.neurons.base import Parameter
from synaptica.plasticity.base import PlasticityRule, Trace


def symmetric_stdp_on_pre(x_post, a_acausal):
    return a_acausal * x_post, 0.0


def symmetric_stdp_on_post(x_pre, a_causal):
    return a_causal * x_pre, 0.0


class SymmetricSTDP(PlasticityRule):
    """Symmetric (potentiation-only) STDP of Hao et al. (2020) (see module doc)."""

    parameters = {
        "a_causal": Parameter(2e-3, "weight", non_negative=True,
                              help="potentiation per pre-before-post pair at dt = 0"),
        "a_acausal": Parameter(2e-3, "weight", non_negative=True,
                               help="potentiation per post-before-pre pair at dt = 0"),
        "tau_pre": Parameter(20.0, "ms", positive=True, help="presynaptic trace (pre-before-post window)"),
        "tau_post": Parameter(20.0, "ms", positive=True, help="postsynaptic trace (post-before-pre window)"),
        "w_max": Parameter(1.0, "weight", help="upper weight bound"),
    }
    pre_traces = {"x_pre": Trace("tau_pre")}
    post_traces = {"x_post": Trace("tau_post")}
    on_pre = staticmethod(symmetric_stdp_on_pre)
    on_post = staticmethod(symmetric_stdp_on_post)
