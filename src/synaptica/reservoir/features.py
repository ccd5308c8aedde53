"""Features of a spiking reservoir: what a readout sees of the spikes, once per time bin.

A liquid's run is cut into sequences of T bins of ``steps_per_bin`` engine steps each
(one bin per input time step). Every feature maps the recorded spikes (step, neuron) to
an array (sequences, T, n) sampled at the end of each bin, and restarts with every
sequence (sequences are independent trials):

* :class:`SpikeTrace` -- exponentially filtered spike train, the low-pass "liquid state"
  of Maass, Natschlager & Markram 2002 ("Real-time computing without stable states",
  Neural Computation 14: 2531-2560; they filter with tau = 30 ms)::

      r_i(t) = sum over spikes s of neuron i with t_s <= t of exp(-(t - t_s) / tau)

  sampled at the end of each bin (a spike in the bin's last step counts 1; dimensionless).
* :class:`SpikeCounts` -- spikes per neuron in each bin.
* :class:`SpikeRates` -- rate in Hz over the last ``window_bins`` bins (fewer at the start
  of a sequence: the bins that exist).

For the rate ESN the feature is the state x[t] itself (:mod:`synaptica.reservoir.esn`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from synaptica.reservoir._inputs import finite_float, positive_int

__all__ = ["BinLayout", "SpikeTrace", "SpikeCounts", "SpikeRates"]


@dataclass(frozen=True)
class BinLayout:
    """How a run's steps divide into sequences and bins."""

    n_sequences: int
    bins_per_sequence: int
    steps_per_bin: int
    dt: float            # ms

    @property
    def n_bins(self) -> int:
        return self.n_sequences * self.bins_per_sequence


def _counts(steps: np.ndarray, ids: np.ndarray, n_units: int, layout: BinLayout) -> np.ndarray:
    """(n_bins, n_units) spike counts."""
    bins = steps // layout.steps_per_bin
    flat = np.bincount(bins * n_units + ids, minlength=layout.n_bins * n_units)
    return flat[:layout.n_bins * n_units].reshape(layout.n_bins, n_units).astype(np.float64)


class SpikeCounts:
    """Spikes per neuron and bin (see module doc)."""

    def transform(self, steps: np.ndarray, ids: np.ndarray, n_units: int, layout: BinLayout) -> np.ndarray:
        """(sequences, T, n_units) from spike steps and neuron ids (equal length)."""
        return _counts(steps, ids, n_units, layout).reshape(layout.n_sequences, layout.bins_per_sequence, n_units)


class SpikeRates:
    """Firing rate (Hz) over the last ``window_bins`` bins of the same sequence."""

    def __init__(self, window_bins: int = 1) -> None:
        self.window_bins = positive_int(window_bins, "SpikeRates: window_bins")

    def transform(self, steps: np.ndarray, ids: np.ndarray, n_units: int, layout: BinLayout) -> np.ndarray:
        counts = SpikeCounts().transform(steps, ids, n_units, layout)
        running = np.cumsum(counts, axis=1)
        w = self.window_bins
        windowed = running.copy()
        windowed[:, w:] -= running[:, :-w]
        covered = np.minimum(np.arange(1, layout.bins_per_sequence + 1), w)   # bins in each window
        seconds = covered * layout.steps_per_bin * layout.dt * 1e-3
        return windowed / seconds[None, :, None]


class SpikeTrace:
    """Exponentially filtered spikes with time constant ``tau_ms`` (see module doc)."""

    def __init__(self, tau_ms: float = 30.0) -> None:
        self.tau_ms = finite_float(tau_ms, "SpikeTrace: tau_ms", 0.0, math.inf, low_open=True)

    def transform(self, steps: np.ndarray, ids: np.ndarray, n_units: int, layout: BinLayout) -> np.ndarray:
        m = layout.steps_per_bin
        decay_step = math.exp(-layout.dt / self.tau_ms)
        bins = steps // m
        # each spike's value at the end of its own bin, then bin-to-bin decay carries it on
        age = (bins + 1) * m - 1 - steps
        increments = np.zeros(layout.n_bins * n_units)
        np.add.at(increments, bins * n_units + ids, decay_step ** age)
        increments = increments.reshape(layout.n_sequences, layout.bins_per_sequence, n_units)
        decay_bin = decay_step ** m
        trace = np.empty_like(increments)
        current = np.zeros((layout.n_sequences, n_units))
        for b in range(layout.bins_per_sequence):
            current = current * decay_bin + increments[:, b]
            trace[:, b] = current
        return trace
