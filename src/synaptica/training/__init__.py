"""Gradient training of spiking networks: surrogate gradients, learnable neuron
parameters, fused CPU kernels that use spike sparsity, losses and regularisers.

Two ways to train:

* the discrete-time layers of :mod:`.layers` (``LIFLayer``, ``RecurrentLIFLayer``,
  ``SpikingMLP``, ``LeakyReadout``), time-major ``(T, B, features)``, for machine learning;
* any engine :class:`~synaptica.Network` through ``net.run(..., backend="torch")``:
  populations choose their ``surrogate`` and ``detach_reset``, and
  :func:`make_learnable` turns any numeric neuron parameter into a trained one.
"""
from synaptica.training.functional import lif_sequence, lif_sequence_reference, spike_linear
from synaptica.training.layers import LeakyReadout, LIFLayer, LIFNeurons, RecurrentLIFLayer, SpikingMLP
from synaptica.training.losses import (count_mse, first_spike_time_loss, first_spike_times,
                                       firing_rate_regulariser, hoyer_regulariser,
                                       max_membrane_cross_entropy, spike_count_cross_entropy)
from synaptica.training.parametrise import Bounded, Positive, Unconstrained, heterogeneous, make_learnable
from synaptica.training.surrogate import SURROGATE_IDS, Surrogate, surrogate_derivative

__all__ = [
    "Bounded", "LIFLayer", "LIFNeurons", "LeakyReadout", "Positive", "RecurrentLIFLayer", "SURROGATE_IDS",
    "SpikingMLP", "Surrogate", "Unconstrained", "count_mse", "first_spike_time_loss", "first_spike_times",
    "firing_rate_regulariser", "heterogeneous", "hoyer_regulariser", "lif_sequence", "lif_sequence_reference",
    "make_learnable", "max_membrane_cross_entropy", "spike_count_cross_entropy", "spike_linear",
    "surrogate_derivative",
]
