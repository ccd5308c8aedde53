"""Simulated coupled Poisson GLM networks: rates, coupling effects, states, reproducibility."""
import numpy as np
import pytest

from synaptica.record import SpikeRecord
from synaptica.analysis.synthetic import (alpha_kernel, markov_states, random_coupling,
                                          simulate_coupled_glm)


def test_uncoupled_units_fire_at_their_baseline():
    base = np.array([5.0, 20.0, 50.0])
    rec = simulate_coupled_glm(np.zeros((3, 3)), base, 200.0, seed=3)
    assert isinstance(rec, SpikeRecord) and rec.n_units == 3 and rec.t_stop == 200.0
    counts = rec.bin(0.001)
    assert counts.shape == (200_000, 3)
    rate = counts.sum(0) / 200.0
    # Poisson: the count over 200 s has sd sqrt(rate * 200)
    assert np.all(np.abs(rate - base) < 4 * np.sqrt(base / 200.0))
    # conditionally Poisson per bin: variance == mean (Fano factor 1) for independent bins
    fano = counts.var(0) / counts.mean(0)
    assert np.all(np.abs(fano - 1) < 0.03)


def test_coupling_multiplies_the_rate_by_exp_of_the_filter():
    """Unit 0 drives unit 1 with strength c: after a spike of 0 at lag l, unit 1's rate is
    baseline * exp(c * kernel(l)) (1's own spikes do not feed back: its self-coupling is 0)."""
    c = 1.2
    coupling = np.array([[0.0, 0.0], [c, 0.0]])
    rec = simulate_coupled_glm(coupling, [4.0, 20.0], 600.0, seed=5)
    counts = rec.bin(0.001)
    kernel = alpha_kernel(0.001)
    pre = np.flatnonzero(counts[:, 0])
    # keep isolated presynaptic spikes so only one filter tail acts
    gaps = np.diff(pre)
    iso = pre[1:-1][(gaps[:-1] > 30) & (gaps[1:] > 30)]
    iso = iso[iso + 26 < counts.shape[0]]
    lag = int(np.argmax(kernel)) + 1  # the peak, 4 ms
    after = counts[iso + lag, 1].mean()
    baseline = 20.0 * 0.001
    expected = baseline * np.exp(c * kernel[lag - 1])
    assert expected / baseline == pytest.approx(np.exp(c), rel=1e-12)
    se = np.sqrt(expected / iso.size)
    assert abs(after - expected) < 4 * se
    # far from the spike (lag > window) the rate is back to baseline
    assert abs(counts[iso - 15, 1].mean() - baseline) < 4 * np.sqrt(baseline / iso.size)


def test_basis_weights_and_kernel_shape_give_the_same_network():
    kernel = alpha_kernel(0.001)
    coupling = random_coupling(6, 0.4, 1.0, seed=2)
    a = simulate_coupled_glm(coupling, np.full(6, 10.0), 20.0, seed=9)
    b = simulate_coupled_glm(coupling[..., None], np.full(6, 10.0), 20.0, basis=kernel[:, None], seed=9)
    c = simulate_coupled_glm(coupling, np.full(6, 10.0), 20.0, basis=kernel, seed=9)
    np.testing.assert_array_equal(a.bin(0.001), b.bin(0.001))
    np.testing.assert_array_equal(a.times, c.times)


def test_reproducible_and_seed_dependent():
    coupling = random_coupling(5, 0.3, 1.0, seed=1)
    a = simulate_coupled_glm(coupling, np.full(5, 10.0), 10.0, seed=4)
    b = simulate_coupled_glm(coupling, np.full(5, 10.0), 10.0, seed=4)
    c = simulate_coupled_glm(coupling, np.full(5, 10.0), 10.0, seed=5)
    np.testing.assert_array_equal(a.times, b.times)
    np.testing.assert_array_equal(a.ids, b.ids)
    assert a.n_spikes != c.n_spikes or not np.array_equal(a.times, c.times)


def test_states_switch_baselines_and_coupling():
    n_bins = 400_000
    states = markov_states(n_bins, 2, 20_000, seed=1)
    base = np.array([[5.0, 5.0], [30.0, 30.0]])
    coupling = np.zeros((2, 2, 2))
    coupling[1, 1, 0] = 1.5  # 0 -> 1 only in state 1
    rec = simulate_coupled_glm(coupling, base, n_bins * 0.001, states=states, seed=2)
    counts = rec.bin(0.001)
    for s in (0, 1):
        rate0 = counts[states == s, 0].mean() / 0.001
        assert abs(rate0 - base[s, 0]) < 4 * np.sqrt(base[s, 0] / (np.sum(states == s) * 0.001))
    # the coupling acts in state 1 only: unit 1 fires more 4 ms after unit 0 there
    pre = np.flatnonzero(counts[:-4, 0])
    in_state = states[pre + 4]
    lift = [counts[pre[in_state == s] + 4, 1].mean() / (base[s, 1] * 0.001) for s in (0, 1)]
    assert lift[0] == pytest.approx(1.0, abs=0.25)
    assert lift[1] > 2.5


def test_rate_clip_prevents_blow_up():
    coupling = np.full((4, 4), 3.0)  # runaway excitation
    rec = simulate_coupled_glm(coupling, np.full(4, 20.0), 5.0, seed=0, max_rate_hz=200.0)
    rate = rec.bin(0.001).mean(0) / 0.001
    assert np.all(rate <= 200.0 * 1.1)
    assert np.all(rate > 100.0)


def test_spike_times_fall_inside_their_bins():
    rec = simulate_coupled_glm(np.zeros((2, 2)), [40.0, 40.0], 5.0, seed=1, t_start=2.0)
    assert rec.t_start == 2.0 and rec.t_stop == 7.0
    frac = ((rec.times - 2.0) / 0.001) % 1.0
    assert frac.min() >= 0.05 - 1e-6 and frac.max() <= 0.95 + 1e-6


def test_random_coupling_structure():
    w = random_coupling(20, 0.1, 2.0, seed=3, excitatory_fraction=0.7)
    off = ~np.eye(20, dtype=bool)
    assert np.count_nonzero(w[off]) == round(0.1 * 380)
    assert np.all(np.diag(w) == 0)
    mags = np.abs(w[w != 0])
    assert mags.min() >= 1.0 and mags.max() <= 3.0
    assert 0.4 < np.mean(w[w != 0] > 0) < 1.0
    r = random_coupling(5, 0.0, 1.0, refractory=2.5)
    np.testing.assert_array_equal(r, -2.5 * np.eye(5))
    assert not np.array_equal(random_coupling(20, 0.1, seed=1), random_coupling(20, 0.1, seed=2))


def test_markov_states_dwell_times():
    states = markov_states(1_000_000, 3, 500.0, seed=7)
    assert states.shape == (1_000_000,) and states.dtype == np.int64
    assert set(np.unique(states)) == {0, 1, 2}
    switches = np.flatnonzero(np.diff(states))
    assert np.all(states[switches] != states[switches + 1])
    assert np.mean(np.diff(switches)) == pytest.approx(500.0, rel=0.1)
    assert np.all(markov_states(100, 1, 10.0) == 0)


def test_alpha_kernel_peak():
    k = alpha_kernel(0.001)
    assert k.shape == (25,)
    assert np.argmax(k) == 3 and k[3] == pytest.approx(1.0)


@pytest.mark.parametrize("kwargs, match", [
    (dict(coupling=np.zeros((3, 2)), baseline_hz=np.ones(3), duration=1.0), "square"),
    (dict(coupling=np.zeros((3, 3)), baseline_hz=np.ones(2), duration=1.0), "baseline_hz"),
    (dict(coupling=np.zeros((3, 3)), baseline_hz=-np.ones(3), duration=1.0), "> 0"),
    (dict(coupling=np.zeros((3, 3)), baseline_hz=np.ones(3), duration=0.0), "duration"),
    (dict(coupling=np.zeros((2, 3, 3)), baseline_hz=np.ones(3), duration=1.0), "states"),
    (dict(coupling=np.zeros((2, 3, 3)), baseline_hz=np.ones(3), duration=1.0, states=np.zeros(5, int)), "one entry per bin"),
    (dict(coupling=np.zeros((2, 3, 3)), baseline_hz=np.ones(3), duration=0.01, states=np.full(10, 2)), "states must be integers"),
    (dict(coupling=np.full((3, 3), np.nan), baseline_hz=np.ones(3), duration=1.0), "NaN"),
    (dict(coupling=np.zeros((3, 3, 2)), baseline_hz=np.ones(3), duration=1.0, basis=np.ones((5, 3))), "last axis"),
])
def test_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        simulate_coupled_glm(kwargs.pop("coupling"), kwargs.pop("baseline_hz"), kwargs.pop("duration"), **kwargs)


def test_bad_helpers():
    with pytest.raises(ValueError, match="density"):
        random_coupling(5, 1.5)
    with pytest.raises(ValueError, match="mean_dwell_bins"):
        markov_states(10, 2, 0.5)
