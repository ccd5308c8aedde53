"""Real data read from files that packages ship: nitime's grasshopper spike trains, cect's
C. elegans connectomes and wormneuroatlas's signal propagation atlas. Each test is skipped,
saying how to install the data, when its package is absent."""
from __future__ import annotations

import importlib.util
import sys

import numpy as np
import pytest

from synaptica.io import realdata


def needs(package: str, install: str):
    return pytest.mark.skipif(importlib.util.find_spec(package) is None,
                              reason=f"{package} data not installed: {install}")


needs_nitime = needs("nitime", "pip install nitime")
needs_cect = needs("cect", "pip install --no-deps cect==0.3.5")
needs_atlas = needs("wormneuroatlas", "pip install --no-deps wormneuroatlas==0.0.7.3")


# -- grasshopper auditory receptor -----------------------------------------------------------------
@needs_nitime
def test_grasshopper_spike_trains():
    record = realdata.load_grasshopper()
    assert (record.n_units, record.t_start, record.t_stop) == (2, 0.0, realdata.GRASSHOPPER_DURATION)
    folder = realdata.package_dir("nitime") / "data"
    for unit, train in enumerate(record.trains()):
        # an independent parse of the file (us, '#' header) gives the same spikes
        raw_us = np.loadtxt(folder / f"grasshopper_spike_times{unit + 1}.txt", comments="#")
        assert np.allclose(train, raw_us * 1e-6, rtol=1e-15, atol=0)
        rate = train.size / record.duration
        isi = np.diff(train)
        # the lab aimed at ~100 Hz (file header); a receptor neuron is refractory for > 1 ms
        # and, driven by a noisy stimulus, fires irregularly but not as a Poisson process
        assert 60 < rate < 130, rate
        assert isi.min() > 1e-3
        assert 0.2 < isi.std() / isi.mean() < 1.0
    assert list(record.units["cutoff_hz"]) == [200.0, 800.0]
    assert list(record.units["recording"]) == [1, 2]
    assert np.all((record.units["intensity_db"] > 60) & (record.units["intensity_db"] < 90))
    assert np.array_equal(realdata.load_grasshopper([2]).trains()[0], record.trains()[1])
    with pytest.raises(ValueError, match="recordings are 1 and 2"):
        realdata.load_grasshopper([3])


@needs_nitime
def test_grasshopper_stimulus_and_spike_triggered_average():
    times, envelope = realdata.load_grasshopper_stimulus(1)
    # 200000 samples every 50 us: the 10 s that the spike record's window claims
    assert times.size == 200_000 and np.allclose(np.diff(times), 50e-6)
    assert times[-1] + 50e-6 == pytest.approx(realdata.GRASSHOPPER_DURATION)
    spikes = realdata.load_grasshopper([1]).trains()[0]
    index = np.round(spikes / 50e-6).astype(int)
    # the receptor fires a few ms after loud moments: the spike-triggered average of the
    # envelope peaks well above the envelope's mean within 2-10 ms before the spike
    lags = np.arange(40, 200)  # samples of 50 us
    sta = np.array([envelope[np.clip(index - lag, 0, envelope.size - 1)].mean() for lag in lags])
    assert sta.max() > 1.5 * envelope.mean()
    assert 3e-3 < lags[sta.argmax()] * 50e-6 < 9e-3


# -- C. elegans connectomes (cect) -----------------------------------------------------------------
@needs_cect
def test_cook_hermaphrodite_connectome():
    chem = realdata.load_celegans_connectome("Cook2019Herm")
    # White et al. 1986 / Cook et al. 2019: the hermaphrodite has 302 neurons
    assert len(chem.names) == 302 == len(set(chem.names))
    assert chem.weights.shape == (302, 302) and chem.weights.dtype == np.float64
    assert chem.synapse == "chemical" and chem.classes == ("Generic_CS",)
    assert np.all(chem.weights >= 0) and np.array_equal(chem.weights, np.round(chem.weights))
    ix = {name: i for i, name in enumerate(chem.names)}
    # [pre, post]: the sensory neuron ASH drives the command interneuron AVA, AIY drives AIZ
    assert chem.weights[ix["ASHL"], ix["AVAL"]] > 0 and chem.weights[ix["AVAL"], ix["ASHL"]] == 0
    assert chem.weights[ix["AIYL"], ix["AIZL"]] > 0 and chem.weights[ix["AIZL"], ix["AIYL"]] == 0
    gap = realdata.load_celegans_connectome("Cook2019Herm", synapse="electrical")
    assert gap.names == chem.names and np.array_equal(gap.weights, gap.weights.T)  # gap junctions are symmetric
    assert gap.weights.sum() > 0
    full = realdata.load_celegans_connectome("Cook2019Herm", neurons_only=False)
    assert len(full.names) > 302 and "MDL08" in full.names and "MDL08" not in chem.names
    keep = [full.names.index(n) for n in chem.names]
    assert np.array_equal(full.weights[np.ix_(keep, keep)], chem.weights)
    assert realdata.celegans_neurons(hermaphrodite_only=True) == set(chem.names)
    assert not any(name == "cect" or name.startswith("cect.") for name in sys.modules)  # read, never imported


@needs_cect
def test_other_connectomes_and_errors():
    names = realdata.celegans_connectomes()
    assert {"Cook2019Herm", "Cook2019Male", "Witvliet8", "White_whole", "Varshney"} <= set(names)
    adult = realdata.load_celegans_connectome("Witvliet8")
    assert adult.weights.shape == (len(adult.names),) * 2 and 150 < len(adult.names) <= 302
    male = realdata.load_celegans_connectome("Cook2019Male")
    assert len(male.names) > 302  # the male has ~385 neurons
    gaba = realdata.load_celegans_connectome("WormNeuroAtlas", synapse="GABA")
    assert gaba.classes == ("GABA",) and gaba.weights.sum() > 0
    assert realdata.load_celegans_connectome("WormNeuroAtlas").weights.sum() > gaba.weights.sum()
    with pytest.raises(ValueError, match="no C. elegans connectome .Nope. in cect; available: .*Cook2019Herm"):
        realdata.load_celegans_connectome("Nope")
    with pytest.raises(ValueError, match=r"no 'functional' synapses; its classes are Generic_CS \(chemical\)"):
        realdata.load_celegans_connectome("Cook2019Herm", synapse="functional")


# -- signal propagation atlas (wormneuroatlas) -----------------------------------------------------------
@needs_atlas
def test_signal_propagation_atlas():
    atlas = realdata.load_signal_propagation_atlas()
    n = len(atlas.names)
    assert n == 300 and "AVAL" in atlas.names
    assert atlas.response.shape == atlas.q.shape == atlas.n_trials.shape == (n, n)
    measured = atlas.n_trials > 0
    assert np.all(np.isnan(atlas.response[~measured]))
    assert np.all((atlas.q[measured & ~np.isnan(atlas.q)] >= 0) & (atlas.q[measured & ~np.isnan(atlas.q)] <= 1))
    # rows are stimulated neurons: fewer neurons were stimulated than were seen responding
    stimulated, observed = measured.any(axis=1), measured.any(axis=0)
    assert stimulated.sum() < observed.sum() and np.all(observed[stimulated])
    mutant = realdata.load_signal_propagation_atlas("unc31")
    assert mutant.names == atlas.names and not np.array_equal(mutant.n_trials, atlas.n_trials)
    assert not any(name.startswith("wormneuroatlas") for name in sys.modules)
    with pytest.raises(ValueError, match="strain"):
        realdata.load_signal_propagation_atlas("daf2")


@needs_atlas
@needs_cect
def test_functional_responses_are_enriched_at_anatomical_synapses():
    """Randi et al. 2023: signal propagation follows the wiring only in part, but pairs with
    a strong synapse respond significantly more often than unconnected pairs."""
    atlas = realdata.load_signal_propagation_atlas()
    wiring = realdata.load_celegans_connectome("Cook2019Herm")
    common = [name for name in atlas.names if name in wiring.names]
    ia = [atlas.names.index(name) for name in common]
    iw = [wiring.names.index(name) for name in common]
    weights = wiring.weights[np.ix_(iw, iw)]
    significant = atlas.q[np.ix_(ia, ia)] < 0.05
    measured = (atlas.n_trials[np.ix_(ia, ia)] > 0) & ~np.eye(len(common), dtype=bool)
    strong, none = measured & (weights >= 5), measured & (weights == 0)
    assert strong.sum() > 100
    assert significant[strong].mean() > 1.5 * significant[none].mean()


def test_missing_package_names_the_install_line(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    with pytest.raises(ImportError, match=r"pip install --no-deps cect==0\.3\.5"):
        realdata.load_celegans_connectome()
    with pytest.raises(ImportError, match="'nitime' is not installed"):
        realdata.load_grasshopper()
