"""synaptica: simulate, train and analyse spiking neural networks."""
__version__ = "0.1.0"
