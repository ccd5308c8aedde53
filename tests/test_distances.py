"""Van Rossum and Victor–Purpura distances of all pairs: Elephant 1.2.1 as the oracle,
closed forms for one-spike trains, and a plain edit-distance DP for the block splitting."""
from __future__ import annotations

import numpy as np
import pytest

from synaptica.analysis.distances import van_rossum_distance, victor_purpura_distance
from synaptica.record import SpikeRecord

neo = pytest.importorskip("neo")
pq = pytest.importorskip("quantities")
edis = pytest.importorskip("elephant.spike_train_dissimilarity")

T_STOP = 20.0


@pytest.fixture(scope="module")
def trains() -> list[np.ndarray]:
    """Poisson units, a jittered copy of unit 0, coincident spikes, and a silent unit."""
    rng = np.random.default_rng(5)
    units = [np.sort(rng.uniform(0, T_STOP, n)) for n in (120, 90, 150, 40)]
    jittered = np.sort(np.clip(units[0] + rng.normal(0, 0.003, units[0].size), 0, T_STOP))
    shared = np.sort(np.concatenate([units[1][:30], rng.uniform(0, T_STOP, 20)]))  # exact coincidences with unit 1
    return [*units, jittered, shared, np.array([])]


@pytest.fixture(scope="module")
def record(trains) -> SpikeRecord:
    return SpikeRecord.from_trains(trains, t_stop=T_STOP)


@pytest.fixture(scope="module")
def neo_trains(trains):
    return [neo.SpikeTrain(t, t_stop=T_STOP, units="s") for t in trains]


@pytest.mark.parametrize("tau", [0.001, 0.02, 0.5, 5.0])
def test_van_rossum_equals_elephant(record, neo_trains, tau):
    expected = edis.van_rossum_distance(neo_trains, time_constant=tau * pq.s)
    np.testing.assert_allclose(van_rossum_distance(record, tau), expected, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("q", [0.1, 2.0, 50.0, 1000.0])  # one block per pair ... many small blocks
def test_victor_purpura_equals_elephant(record, neo_trains, q):
    expected = edis.victor_purpura_distance(neo_trains, cost_factor=q * pq.Hz)
    np.testing.assert_allclose(victor_purpura_distance(record, q), expected, rtol=1e-9, atol=1e-9)


def _vp_plain(a, b, q):
    """The textbook O(n m) Victor–Purpura DP, no block splitting."""
    g = np.zeros((a.size + 1, b.size + 1))
    g[:, 0], g[0, :] = np.arange(a.size + 1), np.arange(b.size + 1)
    for i in range(1, a.size + 1):
        for j in range(1, b.size + 1):
            g[i, j] = min(g[i - 1, j] + 1, g[i, j - 1] + 1, g[i - 1, j - 1] + q * abs(a[i - 1] - b[j - 1]))
    return g[-1, -1]


def test_victor_purpura_blocks_match_the_plain_dp(trains, record):
    mine = victor_purpura_distance(record, 30.0)
    for i, j in [(0, 4), (1, 5), (2, 3), (0, 6)]:
        assert mine[i, j] == pytest.approx(_vp_plain(trains[i], trains[j], 30.0), abs=1e-9)


def test_one_spike_closed_forms():
    record = SpikeRecord.from_trains([[1.0], [1.004], [3.0]], t_stop=4.0)
    tau, q = 0.01, 100.0
    vr = van_rossum_distance(record, tau)
    assert vr[0, 1] == pytest.approx(np.sqrt(2 - 2 * np.exp(-0.004 / tau)))
    assert vr[0, 2] == pytest.approx(np.sqrt(2 - 2 * np.exp(-2.0 / tau)))
    vp = victor_purpura_distance(record, q)
    assert vp[0, 1] == pytest.approx(0.4)  # shift 4 ms at 100/s
    assert vp[0, 2] == 2.0  # delete + insert beats a 2 s shift
    assert np.all(np.diag(vr) == 0) and np.all(np.diag(vp) == 0)
    np.testing.assert_array_equal(vr, vr.T)


def test_limits_and_bad_input(record, trains):
    n = np.array([t.size for t in trains], dtype=float)
    off = ~np.eye(n.size, dtype=bool)
    np.testing.assert_array_equal(victor_purpura_distance(record, 0.0), np.abs(n[:, None] - n[None, :]))
    np.testing.assert_array_equal(victor_purpura_distance(record, np.inf)[off], (n[:, None] + n[None, :])[off])
    np.testing.assert_array_equal(van_rossum_distance(record, np.inf), np.abs(n[:, None] - n[None, :]))
    np.testing.assert_allclose(van_rossum_distance(record, 0.0)[off], np.sqrt(n[:, None] + n[None, :])[off])
    with pytest.raises(ValueError, match="q must be"):
        victor_purpura_distance(record, -1.0)
    with pytest.raises(ValueError, match="tau must be"):
        van_rossum_distance(record, float("nan"))
