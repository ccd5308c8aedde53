"""Reservoir computing: a fixed recurrent network (the reservoir) plus a trained linear readout.

One interface for both reservoirs: ``reservoir.run(inputs) -> states`` with inputs
(T, n_inputs) or (batch, T, n_inputs) and states (T, n_features) or (batch, T, n_features).

* :mod:`~synaptica.reservoir.esn` -- rate echo-state network (Jaeger 2001), torch, batched.
* :mod:`~synaptica.reservoir.liquid` -- spiking liquid state machine (Maass, Natschlager &
  Markram 2002) simulated by the engine.
* :mod:`~synaptica.reservoir.features` -- spike features of a liquid: traces, counts, rates.
* :mod:`~synaptica.reservoir.readout` -- ridge, logistic and online FORCE/RLS readouts.
* :mod:`~synaptica.reservoir.model` -- ``ReservoirModel(reservoir, readout).fit/predict/score``.
* :mod:`~synaptica.reservoir.tasks` -- memory capacity, NARMA-10, Mackey-Glass, digits, NRMSE.
"""
from __future__ import annotations

import importlib

_EXPORTS = {
    "EchoStateNetwork": "esn", "spectral_radius_of": "esn",
    "Liquid": "liquid",
    "SpikeTrace": "features", "SpikeCounts": "features", "SpikeRates": "features",
    "RidgeReadout": "readout", "LogisticReadout": "readout", "ForceReadout": "readout",
    "train_force": "readout", "run_closed_loop": "readout",
    "ReservoirModel": "model",
    "nrmse": "tasks", "memory_capacity": "tasks", "memory_capacity_of_states": "tasks", "narma10": "tasks",
    "mackey_glass": "tasks", "spike_encoded_digits": "tasks",
}
__all__ = list(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"synaptica.reservoir.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'synaptica.reservoir' has no attribute '{name}'")
