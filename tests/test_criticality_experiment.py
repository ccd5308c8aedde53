"""The criticality experiment: its branching network, its measurements and bad input."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

from synaptica.experiments import criticality as crit

SMALL = {**{k: f.default for k, f in crit.SCHEMA.items()}, "n_trials": 100, "trial_steps": 1000, "n_bootstrap": 0}


@pytest.fixture(scope="module")
def spontaneous_runs():
    """Spontaneous spikes of one network at a sub-critical, critical and super-critical m."""
    return {m: crit.spontaneous(SMALL, m, seed=3) for m in (0.8, 0.9, 1.0, 1.2)}


def test_one_active_unit_has_m_descendants(spontaneous_runs):
    """The engine network implements the branching ratio: E[A(t+1) | A(t) = 1] = m + h."""
    for m in (0.8, 0.9, 1.0):
        activity = crit.trial_activity(spontaneous_runs[m][0], SMALL)
        single = activity[:, :-1] == 1
        offspring = activity[:, 1:][single].mean() - SMALL["drive_per_step"]
        assert abs(offspring - m) < 0.06, (m, offspring)


def test_mr_survives_subsampling_and_naive_does_not(spontaneous_runs):
    """Wilting & Priesemann 2018: with 10 % of the units the one-step estimate collapses,
    multistep regression stays where it is on all units."""
    est = crit.branching_estimates(*spontaneous_runs[0.9], SMALL, seed=3)
    assert 0.8 < est["mr_full"] < 0.97 and 0.8 < est["naive_full"] < 0.97
    assert abs(est["mr_sub"] - est["mr_full"]) < 0.03
    assert est["naive_sub"] < 0.5 * est["naive_full"]


def test_sub_critical_below_one_super_critical_above(spontaneous_runs):
    low = crit.branching_estimates(*spontaneous_runs[0.8], SMALL, seed=3)
    high = crit.branching_estimates(*spontaneous_runs[1.2], SMALL, seed=3)
    assert low["mr_full"] < 0.9 and low["mr_sub"] < 0.9 and low["ratio_full"] < 0.95
    assert high["ratio_full"] > 1.0   # descendants per ancestor: growth before saturation
    runaway_low = crit.avalanche_statistics(crit.trial_activity(spontaneous_runs[0.8][0], SMALL), SMALL, 3)
    runaway_high = crit.avalanche_statistics(crit.trial_activity(spontaneous_runs[1.2][0], SMALL), SMALL, 3)
    assert runaway_low["runaway_fraction"] < 0.02 < 0.1 < runaway_high["runaway_fraction"]


def test_critical_exponents_near_mean_field(spontaneous_runs):
    """Beggs & Plenz 2003 / mean-field branching: alpha_S = 3/2, alpha_T = 2 at m = 1; the
    sub-critical size distribution is steeper."""
    critical = crit.avalanche_statistics(crit.trial_activity(spontaneous_runs[1.0][0], SMALL), SMALL, 3)
    sub = crit.avalanche_statistics(crit.trial_activity(spontaneous_runs[0.8][0], SMALL), SMALL, 3)
    assert critical["n_avalanches"] > 500
    assert abs(critical["alpha_size"] - 1.5) < 0.12
    assert abs(critical["alpha_duration"] - 2.0) < 0.3
    assert sub["alpha_size"] > critical["alpha_size"] + 0.1


def test_bounded_counts_drop_runs_cut_by_the_trial_edges():
    activity = np.array([[0, 1, 2, 0, 3], [4, 0, 1, 0, 0]], dtype=float)
    counts, runaway = crit.bounded_counts(activity)
    assert counts.tolist() == [0, 1, 2, 0, 0, 0, 0, 0, 1, 0, 0, 0]
    assert runaway == pytest.approx(1 / 4)


def test_lz_of_a_periodic_raster_is_below_its_shuffle():
    p = {**SMALL, "n_units": 20, "n_trials": 1, "trial_steps": 400, "lz_steps": 400}
    steps = np.repeat(np.arange(0, 400, 4), 20)
    ids = np.tile(np.arange(20), 100)
    out = crit.lz_complexity(steps, ids, p, seed=0)
    assert out["lz_vs_shuffled"] < 0.5


def test_memory_capacity_falls_in_the_super_critical_network():
    p = {**SMALL, "mc_train": 1500, "mc_test": 800}
    sub, sup = crit.memory_task(p, 0.8, seed=2), crit.memory_task(p, 1.3, seed=2)
    assert sub["memory_capacity"] > 0.6
    assert sup["memory_capacity"] < sub["memory_capacity"] - 0.15


def test_constant_or_nan_states_are_named():
    with pytest.raises(ValueError, match="NaN or infinite"):
        crit.check_reservoir_states(np.array([[0.0, 1.0], [np.nan, 0.0]]), "run x")
    for states, cause in ((np.zeros((5, 3)), "dead"), (np.ones((5, 3)), "saturated"),
                          (np.tile([0.0, 1.0, 0.0], (5, 1)), "frozen")):
        with pytest.warns(UserWarning, match=cause):
            assert not crit.check_reservoir_states(states, "run x")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert crit.check_reservoir_states(np.eye(3), "run x")


def test_a_saturated_reservoir_warns_and_scores_zero():
    """Gate always open (m = K): after the washout every unit spikes in every step."""
    p = {**SMALL, "n_units": 50, "out_degree": 10, "drive_per_step": 0.0, "mc_train": 100, "mc_test": 50,
         "mc_max_delay": 30, "n_input": 5}
    with pytest.warns(UserWarning, match="saturated"):
        out = crit.memory_task(p, 10.0, seed=1)
    assert out["memory_capacity"] == 0.0


def test_bad_settings_name_the_key():
    base = {k: f.default for k, f in crit.SCHEMA.items()}
    assert crit.check_sizes(base) is None
    assert "out_degree" in crit.check_sizes({**base, "out_degree": 2000})
    assert "n_input" in crit.check_sizes({**base, "n_input": 5000})
    assert "m_values" in crit.check_sizes({**base, "m_values": [20.0]})
    assert "m_values" in crit.check_sizes({**base, "m_values": []})
    assert "mr_kmax" in crit.check_sizes({**base, "mr_kmax": 999, "trial_steps": 100})
    with pytest.raises(ValueError, match="m_values"):
        crit.build_network({**base, "out_degree": 2}, 3.0, seed=0, drive_rates_hz=0.0)
