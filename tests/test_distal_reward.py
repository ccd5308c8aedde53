"""Distal reward (Izhikevich 2007): the rewarded synapse grows to the upper bound while the
other excitatory synapses do not; without rewards it does not grow.

A small network (40 + 10 neurons, 10 synapses each) with the paper's plasticity
parameters and two hours of model time (~6 s per run): what decides the outcome is the
number of rewards, i.e. the simulated time, not the network size (see the module doc of
synaptica.experiments.distal_reward)."""
from __future__ import annotations

import numpy as np
import pytest

from synaptica.experiments import get_experiment, load_experiment_config
from synaptica.experiments.distal_reward import SCHEMA, run_distal_reward, simulate

SMALL = {k: f.default for k, f in SCHEMA.items()} | {"n_exc": 40, "n_inh": 10, "synapses_per_neuron": 10,
                                                      "duration_s": 7200, "seed": 1}


@pytest.fixture(scope="module")
def rewarded():
    return run_distal_reward(SMALL).metrics


@pytest.fixture(scope="module")
def control():
    return run_distal_reward(SMALL | {"reward": False}).metrics


def test_rewarded_synapse_grows_to_the_upper_bound(rewarded):
    w_max = rewarded["w_max"]
    assert rewarded["n_rewards"] > 50
    assert rewarded["rewarded_reached_bound"]
    assert rewarded["rewarded_weight_max"] == w_max
    assert rewarded["rewarded_weight_final"] >= 0.9 * w_max
    assert rewarded["rewarded_weight_last_tenth_mean"] >= 0.85 * w_max  # stays there


def test_other_synapses_do_not(rewarded):
    w_max = rewarded["w_max"]
    assert rewarded["others_max"] < w_max
    assert rewarded["others_fraction_at_bound"] == 0.0
    assert rewarded["others_p95"] < 0.5 * w_max
    assert rewarded["others_mean"] < SMALL["w_exc"]  # no overall growth (depression-dominated STDP)
    assert 0.5 < rewarded["mean_rate_exc_hz"] < 2.0


def test_without_reward_the_synapse_does_not_grow(control):
    assert control["n_rewards"] == 0 and control["n_coincidences"] > 20
    assert control["rewarded_weight_max"] < 0.25 * control["w_max"]
    assert not control["rewarded_reached_bound"]


def test_checkpoint_resume_gives_the_same_run(tmp_path):
    params = SMALL | {"duration_s": 12, "reward_amount": 5.0}
    straight = simulate(params)
    path = tmp_path / "run.checkpoint.npz"
    simulate(params, checkpoint=path)  # saves after every second (12 // 10 = 1), last after 11 s
    assert path.exists()
    resumed = simulate(params, checkpoint=path)  # resumes after 11 s, runs the last second
    np.testing.assert_array_equal(resumed["exc"].weights.numpy(), straight["exc"].weights.numpy())
    np.testing.assert_array_equal(resumed["history"], straight["history"])
    assert resumed["rewards"] == straight["rewards"] > 0
    assert resumed["spikes"].count == straight["spikes"].count


def test_registered_with_packaged_defaults():
    experiment, params, origin = load_experiment_config("distal-reward")
    assert experiment is get_experiment("distal-reward")
    assert origin == "distal-reward.toml"
    assert params == {k: f.default for k, f in SCHEMA.items()}
