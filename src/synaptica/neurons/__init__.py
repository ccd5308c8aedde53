"""Neuron models: each file one model, described once for every engine path."""
from synaptica.neurons.adex import AdEx
from synaptica.neurons.alif import AdaptiveLIF
from synaptica.neurons.alif_conductance import AdaptiveLIFConductance
from synaptica.neurons.base import NeuronModel, Parameter
from synaptica.neurons.dendritic import DendriticSegment as DendriticSegment, DendriticSoma as DendriticSoma
from synaptica.neurons.izhikevich import IZHIKEVICH_PRESETS, Izhikevich
from synaptica.neurons.lif import LIF
from synaptica.neurons.lif_conductance import LIFConductance
from synaptica.neurons.parrot import Parrot

__all__ = ["AdEx", "AdaptiveLIF", "AdaptiveLIFConductance", "IZHIKEVICH_PRESETS", "Izhikevich", "LIF", "LIFConductance",
           "NeuronModel", "Parameter", "Parrot"]
