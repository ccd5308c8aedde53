"""Circuit motifs built from projections: soft winner-take-all by lateral inhibition, and
balanced excitatory-inhibitory populations.

* :func:`lateral_inhibition`: every neuron of a population excites its own inhibitory
  partner (one-to-one), which inhibits all the other neurons (all-to-all but self), as in
  Diehl & Cook (2015): the first neurons to fire silence the rest, a soft
  winner-take-all whose hardness is set by the weights.
* :func:`excitatory_inhibitory`: an excitatory and an inhibitory population randomly
  connected with probability ``p`` within and between them, with Dale's law (every
  projection from a population has one sign), as in Brunel (2000) and Vogels & Abbott
  (2005).
"""
from __future__ import annotations

import numpy as np

from synaptica.engine.population import Population
from synaptica.neurons.base import NeuronModel


def lateral_inhibition(net, population: Population, inhibitory_model: NeuronModel, w_to_inhibitory: float,
                       w_from_inhibitory: float, name: str | None = None) -> Population:
    """Add the inhibitory partners of ``population`` and wire the motif; returns them.

    Weights are in the units of the receptors (nS for conductance models, pA for current
    models; ``w_from_inhibitory`` as a magnitude, its sign comes from Dale's law)."""
    name = name or f"{population.name}_inh"
    inhibitory = net.add_population(population.n, inhibitory_model, name=name)
    net.connect(population, inhibitory, one_to_one=True, weight=w_to_inhibitory, sign="excitatory",
                name=f"{population.name}->{name}")
    lateral = np.full((population.n, population.n), abs(w_from_inhibitory))
    np.fill_diagonal(lateral, 0.0)
    if not getattr(population.model, "conductance_based", False):
        lateral = -lateral
    net.connect(inhibitory, population, weight=lateral, sign="inhibitory", name=f"{name}->{population.name}")
    return inhibitory


def excitatory_inhibitory(net, n_exc: int, n_inh: int, exc_model: NeuronModel, inh_model: NeuronModel, p: float,
                          w_exc: float, w_inh: float, delay: float | None = None,
                          names: tuple[str, str] = ("exc", "inh")) -> tuple[Population, Population]:
    """Two populations, all four projections random with probability ``p``; excitatory
    weight ``w_exc`` and inhibitory weight ``w_inh`` (magnitudes) on every synapse."""
    exc = net.add_population(n_exc, exc_model, name=names[0])
    inh = net.add_population(n_inh, inh_model, name=names[1])
    for pre, sign, w in ((exc, "excitatory", abs(w_exc)), (inh, "inhibitory", abs(w_inh))):
        for post in (exc, inh):
            weight = w if sign == "excitatory" or getattr(post.model, "conductance_based", False) else -w
            net.connect(pre, post, p=p, weight=weight, sign=sign, delay=delay, allow_self=False,
                        name=f"{pre.name}->{post.name}")
    return exc, inh
