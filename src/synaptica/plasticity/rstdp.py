"""Reward-modulated STDP: the three-factor rule with dopamine as the third factor.

Izhikevich (2007), "Solving the distal reward problem through linkage of STDP and
dopamine signaling", Cereb. Cortex 17:2443; Florian (2007), "Reinforcement learning
through modulation of spike-timing-dependent synaptic plasticity", Neural Comput.
19:1468 (rule MSTDPET). Both are instances of :class:`~synaptica.plasticity.ThreeFactor`
(equations, units and the exact discretisation are in :mod:`synaptica.plasticity.three_factor`)::

    dc/dt = -c / tau_c + STDP(pairings)            (eligibility trace, per synapse)
    dw/dt = learning_rate * c * (d + baseline)     (d: dopamine, a network modulator)

:class:`RewardModulatedSTDP` only changes the defaults, to those of Izhikevich (2007)
and of the MATLAB program published with it (``daspnet.m``), time in ms, weights in
the program's units (mV of input per spike for the Izhikevich neuron):

==========================  =======================  ======================================
paper / program             here                     value
==========================  =======================  ======================================
tau_c = 1 s                 ``tau_c``                1000 ms (program: c *= 0.99 every 10 ms)
STDP window tau = 20 ms     ``tau_plus, tau_minus``  20 ms (program: traces *= 0.95 per ms)
LTP 0.1, LTD 1.5 x 0.1      ``a_plus, a_minus``      0.1, 0.15 (nearest-spike traces, set to
                                                     0.1 at a spike: ``pairing="nearest"``)
s += (0.002 + DA) c         ``learning_rate``,       0.1 / ms and 0.002, with ``interval``
every 10 ms                 ``baseline``             10 ms: w += 0.1 x 10 x c (d + 0.002)
weights in [0, 4]           ``w_min, w_max``         0, 4
dopamine d, tau_d = 0.2 s,  the network modulator    ``net.add_modulator("dopamine",
+0.5 per reward             "dopamine"               tau=200.0)``, pulses of 0.5 with
                                                     ``Modulator.deliver``
==========================  =======================  ======================================

Differences from the program: traces decay with exp(-1/20) = 0.951 per ms instead of
0.95 (20 ms rather than 19.5 ms) and c with exp(-10/1000) = 0.99005 per 10 ms instead of
0.99; depression is applied when the presynaptic neuron spikes, the program applies it
when the spike arrives (after the axonal delay).

Florian's MSTDPET, ``tau_z dz/dt = -z + P+ S_post + P- S_pre`` with presynaptic trace
P+ (amplitude A+, tau_+) and postsynaptic trace P- (A- < 0, tau_-) and
``dw/dt = gamma r(t) z(t)``, is ``RewardModulatedSTDP(pairing="all", a_plus=A+/tau_z,
a_minus=-A-/tau_z, tau_plus=tau_+, tau_minus=tau_-, tau_c=tau_z, learning_rate=gamma,
baseline=0.0, interval=0)`` with the reward r(t) as the modulator (Florian used
A+ = -A- = 1, tau_+- = 20 ms and an eligibility time constant of tens of ms, e.g. 25 ms).
"""
from __future__ import annotations

from synaptica.neurons.base import Parameter
from synaptica.plasticity.three_factor import THREE_FACTOR_PARAMETERS, ThreeFactor

#: Defaults of the common options that differ from the framework's (see module doc).
IZHIKEVICH_2007_OPTIONS = {"w_min": 0.0, "w_max": 4.0, "learning_rate": 0.1, "interval": 10.0,
                           "modulator": "dopamine"}


class RewardModulatedSTDP(ThreeFactor):
    """Dopamine-modulated STDP with the defaults of Izhikevich (2007) (see module doc);
    ``modulator`` defaults to the network modulator named "dopamine"."""

    parameters = {
        **THREE_FACTOR_PARAMETERS,
        "a_plus": Parameter(0.1, "weight", non_negative=True, help="eligibility added per pre-before-post pair"),
        "a_minus": Parameter(0.15, "weight", non_negative=True, help="eligibility removed per post-before-pre pair"),
        "tau_c": Parameter(1000.0, "ms", positive=True, help="decay time of the eligibility trace"),
        "baseline": Parameter(0.002, "modulator", help="tonic dopamine added to the modulator"),
    }

    def __init__(self, pairing: str = "nearest", **options) -> None:
        super().__init__(pairing=pairing, **{**IZHIKEVICH_2007_OPTIONS, **options})
