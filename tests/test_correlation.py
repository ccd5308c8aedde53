"""All-pairs correlograms, STTC, count correlations and Golomb's chi.

Oracles: Elephant 1.2.1 (``elephant.spike_train_correlation``) pair by pair, brute-force
definitions, and planted structure (a known delay, a known shared-input fraction).
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest

from synaptica.analysis.correlation import (correlogram_lags, cross_correlograms, golomb_chi,
                                            spike_count_correlation, sttc)
from synaptica.record import SpikeRecord

neo = pytest.importorskip("neo")
pq = pytest.importorskip("quantities")
conversion = pytest.importorskip("elephant.conversion")
ecorr = pytest.importorskip("elephant.spike_train_correlation")

pytestmark = pytest.mark.filterwarnings("ignore:The 'copy' argument", "ignore:Detected empty spike trains",
                                        "ignore:Binning discarded")
T_STOP = 30.0005  # not a whole number of 1 ms bins: the partial last bin is dropped by both
DELAY = 0.003


@pytest.fixture(scope="module")
def trains() -> list[np.ndarray]:
    """Independent Poisson units, a follower of unit 0 delayed by 3 ms, a bursty unit with
    several spikes per 1 ms bin, a unit spiking in the dropped partial bin, a silent unit."""
    rng = np.random.default_rng(7)
    base = [np.sort(rng.uniform(0, 30, n)) for n in (300, 250, 400)]
    copied = base[0][(rng.random(base[0].size) < 0.5) & (base[0] < 29.9)]
    follower = np.sort(np.concatenate([copied + DELAY + rng.normal(0, 1e-4, copied.size), rng.uniform(0, 29.9, 100)]))
    onsets = rng.uniform(0, 29.9, 60)
    bursty = np.sort((onsets[:, None] + rng.uniform(0, 0.0025, (60, 4))).ravel())
    late = np.sort(np.concatenate([rng.uniform(0, 30, 80), [30.0002, 30.0004]]))
    return [*base, follower, bursty, late, np.array([])]


@pytest.fixture(scope="module")
def record(trains) -> SpikeRecord:
    return SpikeRecord.from_trains(trains, t_stop=T_STOP)


@pytest.fixture(scope="module")
def neo_trains(trains):
    return [neo.SpikeTrain(t, t_start=0.0, t_stop=T_STOP, units="s") for t in trains]


def test_correlograms_identical_to_elephant_for_every_ordered_pair(record, neo_trains):
    lag = 25
    mine = cross_correlograms(record, 0.001, lag)
    assert mine.shape == (record.n_units, record.n_units, 2 * lag + 1) and mine.dtype == np.int64
    binned = [conversion.BinnedSpikeTrain(st, bin_size=1 * pq.ms) for st in neo_trains]
    for i in range(record.n_units):
        for j in range(record.n_units):
            hist, lags = ecorr.cross_correlation_histogram(
                binned[i], binned[j], window=[-lag, lag], border_correction=False, binary=False,
                kernel=None, method="speed")
            np.testing.assert_array_equal(mine[i, j], hist.magnitude.ravel().astype(np.int64), err_msg=f"pair {i},{j}")
    np.testing.assert_array_equal(lags, np.arange(-lag, lag + 1))
    # the diagonal centre counts each spike with itself: sum of squared bin counts (> spikes for bursts)
    counts = record.bin(0.001)
    np.testing.assert_array_equal(np.diagonal(mine[:, :, lag]), (counts ** 2).sum(axis=0))
    assert mine[4, 4, lag] > record.bin(0.001)[:, 4].sum()


def test_positive_lag_means_the_second_unit_fires_later(record):
    mine = cross_correlograms(record, 0.001, 10)
    lags = correlogram_lags(0.001, 10)
    peak = lags[np.argmax(mine[0, 3])]
    assert peak == pytest.approx(DELAY)
    assert lags[np.argmax(mine[3, 0])] == pytest.approx(-DELAY)
    np.testing.assert_array_equal(mine[3, 0], mine[0, 3][::-1])  # mirror symmetry of all pairs


def test_pairs_subset_and_bad_arguments(record):
    full = cross_correlograms(record, 0.002, 5)
    pairs = [(3, 0), (0, 3), (2, 2), (3, 0)]
    sub = cross_correlograms(record, 0.002, 5, pairs=pairs)
    np.testing.assert_array_equal(sub, full[[3, 0, 2, 3], [0, 3, 2, 0]])
    with pytest.raises(ValueError, match="max_lag_bins"):
        cross_correlograms(record, 0.001, -1)
    with pytest.raises(ValueError, match="max_lag_bins"):
        cross_correlograms(record, 10.0, 5)
    with pytest.raises(ValueError, match="pairs"):
        cross_correlograms(record, 0.001, 5, pairs=[(0, 99)])
    with pytest.raises(ValueError, match="SpikeRecord"):
        cross_correlograms(np.zeros(3), 0.001, 5)


def _sttc_reference(trains, dt, t_start, t_stop):
    """Cutts & Eglen 2014 straight from the definition, by brute force (one pair)."""
    def tiled_fraction(a, b):
        return np.mean(np.any(np.abs(a[:, None] - b[None, :]) <= dt, axis=1))

    def covered(a):  # fraction of a fine time grid within dt of a spike
        grid = np.linspace(t_start, t_stop, 600_001)
        return np.mean(np.any(np.abs(grid[:, None] - a[None, :]) <= dt, axis=1))

    a, b = trains
    pa, pb = tiled_fraction(a, b), tiled_fraction(b, a)
    ta, tb = covered(a), covered(b)
    return 0.5 * (pa - tb) / (1 - pa * tb) + 0.5 * (pb - ta) / (1 - pb * ta)


def test_sttc_equals_elephant_with_its_tolerance(record, neo_trains):
    mine = sttc(record, 0.005, rtol=1e-5)
    expected = np.array([[ecorr.spike_time_tiling_coefficient(a, b, dt=0.005 * pq.s) if len(a) and len(b) else np.nan
                          for b in neo_trains] for a in neo_trains])
    np.testing.assert_allclose(mine, expected, rtol=1e-12, atol=1e-15, equal_nan=True)
    np.testing.assert_allclose(np.diag(mine)[:-1], 1.0)
    assert np.isnan(mine[-1]).all()
    assert mine[0, 3] > 0.4 > abs(mine[0, 1])  # the follower tiles unit 0; independent units do not


def test_sttc_default_is_the_papers_definition():
    # spikes 5.0004 ms apart at t ~ 100 s: outside dt = 5 ms, but inside Elephant's isclose tolerance
    a = np.array([100.0, 100.2, 100.31])
    b = np.array([100.0050004, 100.4])
    record = SpikeRecord.from_trains([a, b], t_start=99.9, t_stop=100.5)
    paper = sttc(record, 0.005)[0, 1]
    grid_based = _sttc_reference((a, b), 0.005, 99.9, 100.5)
    assert paper == pytest.approx(grid_based, abs=2e-4)  # T from a 1 us grid
    elephant = ecorr.spike_time_tiling_coefficient(neo.SpikeTrain(a, t_start=99.9, t_stop=100.5, units="s"),
                                                   neo.SpikeTrain(b, t_start=99.9, t_stop=100.5, units="s"),
                                                   dt=0.005 * pq.s)
    assert sttc(record, 0.005, rtol=1e-5)[0, 1] == pytest.approx(elephant, rel=1e-12)
    assert abs(paper - elephant) > 0.1


@pytest.mark.parametrize("bin_size", [0.001, 0.1])  # Elephant's sparse and dense (np.corrcoef) paths
def test_spike_count_correlation_equals_elephant(record, neo_trains, bin_size):
    mine = spike_count_correlation(record, bin_size)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = ecorr.correlation_coefficient(conversion.BinnedSpikeTrain(neo_trains, bin_size=bin_size * pq.s))
    np.testing.assert_allclose(mine, expected, rtol=1e-12, atol=1e-14, equal_nan=True)


def _shared_input_record(n_units, rho, rng, duration=400.0, rate=10.0):
    """Each unit = a shared Poisson train (rate rho * rate) + a private one: count correlation rho."""
    shared = rng.uniform(0, duration, rng.poisson(rho * rate * duration))
    trains = [np.sort(np.concatenate([shared, rng.uniform(0, duration, rng.poisson((1 - rho) * rate * duration))]))
              for _ in range(n_units)]
    return SpikeRecord.from_trains(trains, t_stop=duration)


def test_golomb_chi_matches_definition_and_planted_synchrony():
    rng = np.random.default_rng(11)
    n, rho = 20, 0.3
    record = _shared_input_record(n, rho, rng)
    counts = record.bin(0.01).astype(float)
    brute = np.sqrt(counts.mean(axis=1).var() / counts.var(axis=0).mean())
    assert golomb_chi(record, 0.01) == pytest.approx(brute, rel=1e-10)
    # chi^2 = (1 + (n - 1) rho) / n for units of equal variance and pairwise correlation rho
    assert golomb_chi(record, 0.01) ** 2 == pytest.approx((1 + (n - 1) * rho) / n, rel=0.08)
    independent = _shared_input_record(n, 0.0, rng)
    assert golomb_chi(independent, 0.01) == pytest.approx(1 / np.sqrt(n), rel=0.1)
    # filtered traces: brute force with an explicit exponential convolution
    tau, b = 0.02, 0.001
    dense = record.bin(b).astype(float)
    kernel = np.exp(-np.arange(0, 400) * b / tau)
    traces = np.stack([np.convolve(dense[:, u], kernel)[: dense.shape[0]] for u in range(n)], axis=1)
    brute = np.sqrt(traces.mean(axis=1).var() / traces.var(axis=0).mean())
    assert golomb_chi(record, b, tau=tau) == pytest.approx(brute, rel=1e-9)


def test_golomb_chi_is_one_for_identical_units():
    train = np.sort(np.random.default_rng(2).uniform(0, 10, 200))
    record = SpikeRecord.from_trains([train] * 5, t_stop=10.0)
    assert golomb_chi(record, 0.005) == pytest.approx(1.0, rel=1e-12)
    assert golomb_chi(record, 0.001, tau=0.01) == pytest.approx(1.0, rel=1e-12)
    with pytest.raises(ValueError, match="tau"):
        golomb_chi(record, 0.001, tau=0.0)
