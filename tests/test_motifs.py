"""Circuit motifs: lateral inhibition makes a soft winner-take-all; E-I populations obey Dale's law."""
from __future__ import annotations

import numpy as np
import torch

from synaptica.engine.network import Network
from synaptica.models.motifs import excitatory_inhibitory, lateral_inhibition
from synaptica.neurons import LIF


def spikes_per_neuron(with_inhibition: bool) -> np.ndarray:
    net = Network(dt=0.1, seed=0, dtype=torch.float64)
    cells = net.add_population(10, LIF(), name="cells")
    cells.i_ext[:] = torch.linspace(180.0, 200.0, 10)        # pA, all above rheobase (150 pA)
    if with_inhibition:
        lateral_inhibition(net, cells, LIF(t_ref=0.0), w_to_inhibitory=20000.0, w_from_inhibitory=400.0)
    counts = net.monitor_counts(cells)
    net.run(500.0)
    return counts.counts[0, 0]


def test_lateral_inhibition_lets_the_most_driven_neuron_win():
    free, competing = spikes_per_neuron(False), spikes_per_neuron(True)
    assert np.all(free > 0)                                   # alone, every neuron fires
    assert competing.argmax() == 9 and competing[9] > 0.8 * competing.sum()
    assert competing.sum() < free.sum() / 3


def test_excitatory_inhibitory_obeys_dale_and_stays_finite():
    net = Network(dt=0.1, seed=1)
    exc, inh = excitatory_inhibitory(net, 80, 20, LIF(v_rest=-49.0, v_reset=-60.0, r_m=1.0, t_ref=5.0),
                                     LIF(v_rest=-49.0, v_reset=-60.0, r_m=1.0, t_ref=5.0), p=0.1,
                                     w_exc=1.6, w_inh=9.0)
    for proj in net.projections:
        w = proj.synapse_weights().numpy()
        assert (w >= 0).all() if proj.pre is exc else (w <= 0).all(), proj.name
        assert proj.n_synapses > 0
    counts = net.monitor_counts(exc)
    net.run(300.0)
    rate = counts.counts.sum() / 80 / 0.3
    assert 1.0 < rate < 200.0, rate
