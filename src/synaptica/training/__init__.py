"""Gradient training of spiking networks: surrogate gradients, learnable neuron
parameters, fused CPU kernels that use spike sparsity, losses and regularisers.

Two ways to train:

* the discrete-time layers of :mod:`.layers` (``LIFLayer``, ``RecurrentLIFLayer``,
  ``SpikingMLP``, ``LeakyReadout``), time-major ``(T, B, features)``, for machine learning;
* any engine :class:`~synaptica.Network` through ``net.run(..., backend="torch")``:
  populations choose their ``surrogate`` and ``detach_reset``, and
  :func:`make_learnable` turns any numeric neuron parameter into a trained one;
  :class:`synaptica.training.mixed.MixedTrainer` trains some projections by gradient
  while local rules change others.
"""
from synaptica.training.elm import ELMLayer as ELMLayer, ELMState as ELMState, elm_step as elm_step
from synaptica.training.delays import DelayedLinear, annealed_sigma, delay_kernel, integer_delay_current
from synaptica.training.functional import lif_sequence, lif_sequence_reference, spike_linear
from synaptica.training.layers import LeakyReadout, LIFLayer, LIFNeurons, RecurrentLIFLayer, SpikingMLP
from synaptica.training.losses import (count_mse, first_spike_time_loss, first_spike_times,
                                       firing_rate_regulariser, hoyer_regulariser,
                                       max_membrane_cross_entropy, spike_count_cross_entropy)
from synaptica.training.parametrise import Bounded, Positive, Unconstrained, heterogeneous, make_learnable
from synaptica.training.modes import LoRALinear, NeuronModulation, count_trainable
from synaptica.training.online import online_backward
from synaptica.training.stochastic import EscapeNoiseLIFLayer, EscapeNoiseNeurons, escape_probability
from synaptica.primitives.surrogate import SURROGATE_IDS, Surrogate, surrogate_derivative
from synaptica.training.trainer import LOSSES, Trainer, poisson_encode

__all__ = [
    "DelayedLinear", "EscapeNoiseLIFLayer", "EscapeNoiseNeurons", "LOSSES", "LoRALinear", "NeuronModulation",
    "Trainer", "annealed_sigma", "count_trainable", "delay_kernel", "escape_probability", "integer_delay_current",
    "online_backward", "poisson_encode",
    "Bounded", "LIFLayer", "LIFNeurons", "LeakyReadout", "Positive", "RecurrentLIFLayer", "SURROGATE_IDS",
    "SpikingMLP", "Surrogate", "Unconstrained", "count_mse", "first_spike_time_loss", "first_spike_times",
    "firing_rate_regulariser", "heterogeneous", "hoyer_regulariser", "lif_sequence", "lif_sequence_reference",
    "make_learnable", "max_membrane_cross_entropy", "spike_count_cross_entropy", "spike_linear",
    "surrogate_derivative",
]
