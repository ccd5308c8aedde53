"""Parrot neuron: repeats its input spikes one step later (as NEST's ``parrot_neuron``).

It spikes in a step where its receptor ``i_in`` received input > 0.5, and has no other
dynamics, so the spike times of a population are fully controlled by spike-generator
input: useful for checking plasticity rules against their equations on hand-built
spike trains. Feed it with weight 1 (any value > 0.5).
"""
from __future__ import annotations

from synaptica.primitives import spike
from synaptica.neurons.base import NeuronModel


def parrot_coefficients(dt):
    return {}


def parrot_update(i_in):
    return 0.0 * i_in, spike(i_in - 0.5)


class Parrot(NeuronModel):
    """Relays input spikes (see module doc)."""

    state = ("i_in",)
    receptors = ("i_in",)
    parameters = {}
    coefficients_function = staticmethod(parrot_coefficients)
    update_function = staticmethod(parrot_update)

    def initial_state(self):
        return {"i_in": 0.0}
