"""Single-unit statistics on a SpikeRecord: Elephant 1.2.1 as the oracle, plus closed forms."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

from synaptica.record import SpikeRecord
from synaptica.analysis.stats import cv, cv2, fano_factor, isi, isi_cv, lv, psth, rates

neo = pytest.importorskip("neo")
pq = pytest.importorskip("quantities")
estats = pytest.importorskip("elephant.statistics")

T_STOP = 60.0
pytestmark = pytest.mark.filterwarnings("ignore:The 'copy' argument")


@pytest.fixture(scope="module")
def trains() -> list[np.ndarray]:
    """Poisson, gamma-regular and bursty units, a 2-spike unit and a silent one."""
    rng = np.random.default_rng(1)
    poisson = np.sort(rng.uniform(0, T_STOP, 600))
    regular = np.cumsum(rng.gamma(8.0, 1 / 80.0, 700))
    regular = regular[regular < T_STOP]
    onsets = np.sort(rng.uniform(0, T_STOP - 1, 40))
    bursty = np.sort((onsets[:, None] + np.cumsum(rng.exponential(0.004, (40, 5)), axis=1)).ravel())
    slow = np.sort(rng.uniform(0, T_STOP, 50) * np.linspace(0.2, 1, 50))  # rate drifts
    return [poisson, regular, bursty, slow, np.array([3.0, 7.5]), np.array([])]


@pytest.fixture(scope="module")
def record(trains) -> SpikeRecord:
    return SpikeRecord.from_trains(trains, t_stop=T_STOP)


def _neo(train, t_start=0.0, t_stop=T_STOP):
    return neo.SpikeTrain(train, t_start=t_start, t_stop=t_stop, units="s")


def test_rates_equal_elephant_mean_firing_rate(record, trains):
    expected = [float(estats.mean_firing_rate(_neo(t)).rescale("Hz").magnitude) for t in trains]
    np.testing.assert_allclose(rates(record), expected, rtol=1e-12)


def test_isi_list_and_flat_equal_elephant(record, trains):
    per_unit = isi(record)
    for mine, train in zip(per_unit, trains):
        np.testing.assert_array_equal(mine, estats.isi(train))
    flat, owner = isi(record, flat=True)
    np.testing.assert_array_equal(flat, np.concatenate(per_unit))
    np.testing.assert_array_equal(owner, np.repeat(np.arange(len(trains)), [p.size for p in per_unit]))


def test_cv_cv2_lv_equal_elephant(record, trains):
    mine_cv, mine_cv2, mine_lv = cv(record), cv2(record), lv(record)
    for u, train in enumerate(trains):
        intervals = estats.isi(train)
        if train.size < 3:  # Elephant's with_nan=True gives NaN below two intervals
            assert np.isnan(mine_cv[u]) and np.isnan(mine_cv2[u]) and np.isnan(mine_lv[u])
            continue
        assert mine_cv[u] == pytest.approx(estats.cv(intervals), rel=1e-12)
        assert mine_cv2[u] == pytest.approx(estats.cv2(intervals), rel=1e-12)
        assert mine_lv[u] == pytest.approx(estats.lv(intervals), rel=1e-12)
    # the measures tell the regimes apart: Poisson ~1, gamma(8) regular ~0.35, bursts > 1
    assert 0.85 < mine_cv[0] < 1.15 and 0.85 < mine_lv[0] < 1.15
    assert mine_cv[1] < 0.5 and mine_lv[1] < 0.5
    assert mine_cv[2] > 1.5


def test_closed_forms():
    # intervals 1, 2, 1, 2: CV = 1/3 (std 0.5, mean 1.5); CV2 = 2 * 1/3; LV = 3 * 1/9
    record = SpikeRecord.from_trains([[0.0, 1.0, 3.0, 4.0, 6.0]], t_stop=10.0)
    assert cv(record)[0] == pytest.approx(1 / 3)
    assert cv2(record)[0] == pytest.approx(2 / 3)
    assert lv(record)[0] == pytest.approx(1 / 3)
    regular = SpikeRecord.from_trains([np.arange(0.0, 5.0, 0.1)], t_stop=5.0)
    assert cv(regular)[0] == pytest.approx(0, abs=1e-9) and cv2(regular)[0] == pytest.approx(0, abs=1e-9)


def test_legacy_isi_cv_shares_the_kernel(record):
    # the ms helper on unsorted input gives the same as cv() on the record (CV has no unit)
    rng = np.random.default_rng(0)
    order = rng.permutation(record.n_spikes)
    legacy = isi_cv(record.times[order] * 1000.0, record.ids[order], record.n_units)
    np.testing.assert_allclose(legacy, cv(record), rtol=1e-9, equal_nan=True)


def _windows(train, edges):
    """The spikes of ``train`` in each half-open window, as neo trains (Elephant's input)."""
    return [_neo(train[(train >= lo) & (train < hi)], lo, hi) for lo, hi in zip(edges[:-1], edges[1:])]


def test_fano_factor_equals_elephant_over_windows(record, trains):
    bin_size = 2.5
    edges = np.arange(0, T_STOP + 1e-9, bin_size)
    mine = fano_factor(record, bin_size)
    for u, train in enumerate(trains):
        expected = estats.fanofactor(_windows(train, edges))
        if np.isnan(expected):
            assert np.isnan(mine[u])
        else:
            assert mine[u] == pytest.approx(expected, rel=1e-12)
    assert mine[2] > 2 * mine[0]  # bursts are over-dispersed relative to Poisson


def test_fano_factor_and_psth_over_trials_equal_elephant(record, trains):
    starts = np.array([5.0, 12.3, 20.0, 33.3, 41.0, 47.7])
    window = (-0.5, 1.5)
    bin_size = 0.25
    ff = fano_factor(record, trial_starts=starts, window=window)
    edges, per_unit = psth(record, bin_size, starts, window, per_unit=True)
    _, pooled = psth(record, bin_size, starts, window)
    np.testing.assert_allclose(edges, window[0] + bin_size * np.arange(9))
    aligned = []
    for u, train in enumerate(trains):
        trials = [_neo(train[(train >= s + window[0]) & (train < s + window[1])] - s, *window) for s in starts]
        aligned += trials
        if sum(len(t) for t in trials):
            assert ff[u] == pytest.approx(estats.fanofactor(trials), rel=1e-12)
        hist = estats.time_histogram(trials, bin_size=bin_size * pq.s, output="rate")
        np.testing.assert_allclose(per_unit[:, u], hist.rescale("Hz").magnitude.ravel(), rtol=1e-12)
    hist = estats.time_histogram(aligned, bin_size=bin_size * pq.s, output="rate")
    np.testing.assert_allclose(pooled, hist.rescale("Hz").magnitude.ravel(), rtol=1e-12)


def test_psth_equals_elephant_time_histogram(record, trains):
    edges, rate = psth(record, 0.5)
    hist = estats.time_histogram([_neo(t) for t in trains], bin_size=0.5 * pq.s, output="rate")
    np.testing.assert_allclose(rate, hist.rescale("Hz").magnitude.ravel(), rtol=1e-12)
    assert edges[0] == 0.0 and edges[-1] == pytest.approx(T_STOP) and edges.size == rate.size + 1
    # the rate integrates back to the spike count
    assert rate.sum() * 0.5 * record.n_units == pytest.approx(record.n_spikes)


def test_fano_of_poisson_is_one():
    rng = np.random.default_rng(3)
    record = SpikeRecord.from_trains([np.sort(rng.uniform(0, 500, 10_000)) for _ in range(4)], t_stop=500.0)
    np.testing.assert_allclose(fano_factor(record, 0.1), 1.0, atol=0.08)


def test_bad_input_is_named():
    record = SpikeRecord.from_trains([[0.1, 0.2]], t_stop=1.0)
    with pytest.raises(ValueError, match="SpikeRecord"):
        rates([0.1, 0.2])
    with pytest.raises(ValueError, match="bin_size"):
        psth(record, 0.0)
    with pytest.raises(ValueError, match="window"):
        psth(record, 0.1, trial_starts=[0.2])
    with pytest.raises(ValueError, match="window"):
        psth(record, 0.1, trial_starts=[0.2], window=(0.5, 0.1))
    with pytest.raises(ValueError, match="bin_size"):
        fano_factor(record)
    with pytest.raises(ValueError, match="min_spikes"):
        cv(record, min_spikes=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # silent units give NaN quietly, not RuntimeWarnings
        cv(SpikeRecord.from_trains([[0.1], []], t_stop=1.0))
