"""Lempel-Ziv complexity (LZ76): hand-computed cases, the two algorithms against each
other, and antropy 0.2.3's lziv_complexity (values stored in
tests/data/criticality_reference.json by bench/peers/criticality_reference.py)."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from sklearn.base import clone

from synaptica.analysis.complexity import (ComplexityError, LempelZiv, _lz76_automaton_hashed, binarize,
                                           lempel_ziv_complexity, population_complexity, population_sequence,
                                           spike_train_complexity)
from synaptica.record import SpikeRecord

REF = json.loads((Path(__file__).parent / "data" / "criticality_reference.json").read_text())
METHODS = ["automaton", "kaspar-schuster"]


@pytest.mark.parametrize("method", METHODS)
def test_hand_computed_sequences(method):
    # Kaspar & Schuster 1987: 0 | 001 | 10 | 100 | 1000 | 101  -> 6 components
    assert lempel_ziv_complexity("0001101001000101", method=method) == 6
    assert lempel_ziv_complexity("0", method=method) == 1
    assert lempel_ziv_complexity("0" * 50, method=method) == 2  # 0 | 000...0 (copied)
    assert lempel_ziv_complexity("01" * 40, method=method) == 3  # 0 | 1 | 0101... (copied)
    assert lempel_ziv_complexity("0123", method=method) == 4  # every symbol is new
    assert lempel_ziv_complexity("0123", normalize=True, method=method) == pytest.approx(4 * math.log(4, 4) / 4)


def test_constant_sequence_is_minimal():
    rng = np.random.default_rng(0)
    n = 300
    floor = lempel_ziv_complexity(np.zeros(n, int))
    assert floor == 2
    for _ in range(50):
        s = (rng.random(n) < rng.uniform(0.01, 0.5)).astype(int)
        if s.any():
            assert lempel_ziv_complexity(s) >= floor


def test_random_sequence_normalised_near_one():
    rng = np.random.default_rng(1)
    value = lempel_ziv_complexity(rng.integers(0, 2, 50_000), normalize=True)
    assert 0.97 < value < 1.06  # tends to 1 from above, slowly (~1.02 at this length)
    sparse = lempel_ziv_complexity((rng.random(50_000) < 0.02).astype(int), normalize=True)
    assert sparse < 0.3  # a Bernoulli(0.02) source has entropy 0.14 bit per symbol


def test_automata_equal_kaspar_schuster_scan():
    """The dense (<= 16 symbols) and hashed (any alphabet) suffix automata parse exactly
    as the Kaspar-Schuster scan, on dense, sparse and large-alphabet sequences."""
    rng = np.random.default_rng(2)
    for _ in range(400):
        n, k = int(rng.integers(1, 400)), int(rng.integers(1, 40))
        sparse = np.where(rng.random(n) < 0.05, rng.integers(1, k + 1, n), 0)
        s = rng.integers(0, k, n) if rng.random() < 0.5 else sparse
        scan = lempel_ziv_complexity(s, method="kaspar-schuster")
        assert lempel_ziv_complexity(s, method="automaton") == scan
        codes = np.unique(s, return_inverse=True)[1].astype(np.int64)
        assert _lz76_automaton_hashed(codes, int(codes.max()) + 1) == scan


@pytest.mark.parametrize("case", REF["lempel_ziv"], ids=lambda c: c["name"])
def test_matches_antropy(case):
    s = case["sequence"]
    for method in METHODS + ["auto"]:
        assert lempel_ziv_complexity(s, method=method) == case["antropy"]["c"]
    assert lempel_ziv_complexity(s, normalize=True) == pytest.approx(case["antropy"]["normalized"], rel=1e-12)
    if set(s) <= {"0", "1"}:  # the same value from an int array
        assert lempel_ziv_complexity(np.array(list(s), dtype=int)) == case["antropy"]["c"]


def _record() -> tuple[SpikeRecord, float, int]:
    n_bins, dt = 64, 0.01
    times, ids = [], []
    for b in range(n_bins):
        times.append(b * dt + 0.001), ids.append(0)  # unit 0: every bin
        if b % 2:
            times.append(b * dt + 0.002), ids.append(2)  # unit 2: every other bin
        if b in (5, 20, 21, 40):
            times.append(b * dt + 0.003), ids.append(3)
    return SpikeRecord.from_arrays(times, ids, n_units=4, t_stop=n_bins * dt), dt, n_bins


def test_per_unit_complexity_of_a_record():
    record, dt, n_bins = _record()
    raw = spike_train_complexity(record, dt, normalize=False)
    binary = binarize(record, dt)
    expected = [lempel_ziv_complexity(binary[:, u].astype(int)) for u in range(4)]
    np.testing.assert_array_equal(raw, expected)
    assert list(raw[:3]) == [2, 2, 3]  # all ones, silent, alternating
    est = LempelZiv(bin_size=dt)
    np.testing.assert_allclose(est.fit_transform(record), raw * math.log2(n_bins) / n_bins)
    assert est.complexity_.shape == (4,)


def test_population_sequences():
    record, dt, n_bins = _record()
    binary = binarize(record, dt)
    concat = population_sequence(record, dt, "concatenate")
    np.testing.assert_array_equal(concat, binary.ravel())  # bin 0: all units, then bin 1, ...
    assert population_complexity(record, dt, "concatenate", normalize=False) == lempel_ziv_complexity(concat)
    patterns = population_sequence(record, dt, "patterns")
    assert patterns.shape == (n_bins,)
    rows = [tuple(row) for row in binary]
    assert all((patterns[i] == patterns[j]) == (rows[i] == rows[j]) for i in range(n_bins) for j in range(n_bins))
    # relabelling units relabels the symbols only: the complexity is unchanged
    shuffled = record.select([2, 0, 3, 1])
    assert population_complexity(shuffled, dt, "patterns") == population_complexity(record, dt, "patterns")
    k = len(set(rows))
    expected = lempel_ziv_complexity(patterns) * math.log(n_bins, k) / n_bins
    assert population_complexity(record, dt, "patterns") == pytest.approx(expected)
    est = LempelZiv(bin_size=dt, population="patterns").fit(record)
    assert est.population_complexity_ == pytest.approx(expected)


def test_estimator_contract_and_bad_input():
    est = LempelZiv(bin_size=0.002, normalize=False, population="patterns")
    assert clone(est).get_params() == {"bin_size": 0.002, "normalize": False, "population": "patterns"}
    record, dt, _ = _record()
    with pytest.raises(ComplexityError, match="SpikeRecord"):
        LempelZiv().fit(np.zeros((10, 2, 2)))  # counts are 2-D (n_bins, n_units)
    with pytest.raises(ComplexityError, match="population"):
        LempelZiv(population="rows").fit(record)
    with pytest.raises(ComplexityError, match="bin_size"):
        LempelZiv(bin_size=-1.0).transform(record)
    with pytest.raises(ComplexityError, match="empty"):
        lempel_ziv_complexity([])
    with pytest.raises(ComplexityError, match="1-D"):
        lempel_ziv_complexity(np.zeros((3, 3), int))
    with pytest.raises(ComplexityError, match="discrete"):
        lempel_ziv_complexity(np.array([0.5, 1.0]))
    with pytest.raises(ComplexityError, match="method"):
        lempel_ziv_complexity("0101", method="lz78")
    with pytest.raises(ComplexityError, match="at least 2"):
        lempel_ziv_complexity("0", normalize=True)
