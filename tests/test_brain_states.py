"""brain-states: the analysis recovers the planted connectivity and hidden states."""
from __future__ import annotations

import numpy as np
import pytest

from synaptica.experiments import get_experiment, load_experiment_config


def _params(**overrides):
    _, params, _ = load_experiment_config("brain-states", [f"{k}={v}" for k, v in overrides.items()])
    return params


def test_planted_network_is_what_the_parameters_say():
    from synaptica.experiments.brain_states import make_network

    p = _params(n_units=20, duration_s=10.0, density=0.2, state_specific=0.5)
    coupling, baseline, states = make_network(p)
    assert coupling.shape == (2, 20, 20) and baseline.shape == (2, 20) and states.shape == (10_000,)
    off = ~np.eye(20, dtype=bool)
    shared = (coupling[0] != 0) & (coupling[1] != 0) & off
    assert shared.sum() == round(0.1 * 380)  # the backbone: density * (1 - state_specific)
    for k in range(2):  # each state: backbone + as many edges of its own, used by no other state
        own = (coupling[k] != 0) & (coupling[1 - k] == 0)
        assert own.sum() == round(0.1 * 380) and not np.any(own & ~off)
    assert np.all(coupling[0][shared] == coupling[1][shared])
    assert set(np.unique(states)) == {0, 1}
    assert np.allclose(baseline.mean(axis=1), 10.0)


def test_brain_states_recovers_states_and_connectivity():
    experiment = get_experiment("brain-states")
    p = _params(n_units=10, duration_s=60.0, density=0.15, coupling_scale=1.5, baseline_hz=15.0, seed=2)
    result = experiment.run(p)
    m = result.metrics
    assert m["state_accuracy"] >= 0.9
    assert m["connectivity_auc"] >= 0.8
    assert min(m["state_connectivity_auc_0"], m["state_connectivity_auc_1"]) >= 0.7
    assert {"connectivity.png", "states.png", "correlograms.png"} <= set(result.figures)


def test_state_bin_must_be_a_multiple_of_the_bin():
    from synaptica.config import ConfigError

    with pytest.raises(ConfigError, match="state_bin"):
        _params(state_bin=0.0015)
