"""synaptica: simulate, train and analyse spiking neural networks.

The common names are importable from the top level (``from synaptica import Network,
LIF``); they load lazily so that ``synaptica --help`` does not import torch.
"""
from __future__ import annotations

import importlib

__version__ = "0.1.0"

_EXPORTS = {
    "Network": "synaptica.engine.network",
    "LIF": "synaptica.neurons", "AdaptiveLIF": "synaptica.neurons", "LIFConductance": "synaptica.neurons",
    "Izhikevich": "synaptica.neurons", "AdEx": "synaptica.neurons", "NeuronModel": "synaptica.neurons",
    "AdaptiveLIFConductance": "synaptica.neurons", "Parrot": "synaptica.neurons",
}
__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'synaptica' has no attribute '{name}'")
