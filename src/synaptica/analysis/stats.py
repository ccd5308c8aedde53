"""Vectorised spike-train statistics on ``(times_ms, ids)`` spike lists.

A recording is two 1-D arrays of equal length: spike times in ms and the index of the
neuron that fired, in ``[0, n_neurons)``. No function loops over neurons in Python.
"""
from __future__ import annotations

import numpy as np

__all__ = ["firing_rates", "isi_cv", "population_rate"]


def _check_ids(ids: np.ndarray, n_neurons: int) -> np.ndarray:
    ids = np.asarray(ids)
    if ids.ndim != 1:
        raise ValueError(f"ids must be 1-D, got shape {ids.shape}")
    if ids.size and not np.issubdtype(ids.dtype, np.integer):
        if not np.all(ids == np.round(ids)):
            raise ValueError("ids must be integers")
    ids = ids.astype(np.int64, copy=False)
    if n_neurons < 0:
        raise ValueError(f"n_neurons must be >= 0, got {n_neurons}")
    if ids.size and (ids.min() < 0 or ids.max() >= n_neurons):
        raise ValueError(f"ids must lie in [0, {n_neurons}), got [{ids.min()}, {ids.max()}]")
    return ids


def firing_rates(ids: np.ndarray, n_neurons: int, duration_ms: float) -> np.ndarray:
    """Mean firing rate of every neuron in Hz: ``(n_neurons,)`` float array."""
    if duration_ms <= 0:
        raise ValueError(f"duration_ms must be > 0, got {duration_ms}")
    ids = _check_ids(ids, n_neurons)
    counts = np.bincount(ids, minlength=n_neurons)
    return counts / (duration_ms / 1000.0)


def isi_cv(times_ms: np.ndarray, ids: np.ndarray, n_neurons: int, min_spikes: int = 3) -> np.ndarray:
    """Coefficient of variation (std / mean, ddof=0) of each neuron's inter-spike intervals.

    Returns ``(n_neurons,)`` floats, NaN for neurons with fewer than ``min_spikes`` spikes
    (or a zero mean interval). A perfectly regular train gives 0, a Poisson train about 1.
    """
    if min_spikes < 2:
        raise ValueError(f"min_spikes must be >= 2 (at least one interval), got {min_spikes}")
    times = np.asarray(times_ms, dtype=np.float64)
    ids = _check_ids(ids, n_neurons)
    if times.shape != ids.shape:
        raise ValueError(f"times_ms and ids differ in shape: {times.shape} vs {ids.shape}")
    order = np.lexsort((times, ids))  # by neuron, then by time
    times, ids = times[order], ids[order]
    same = ids[1:] == ids[:-1]
    isis = np.diff(times)[same]
    owner = ids[1:][same]
    n_isi = np.bincount(owner, minlength=n_neurons)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.bincount(owner, weights=isis, minlength=n_neurons) / n_isi
        deviation = isis - mean[owner]
        std = np.sqrt(np.bincount(owner, weights=deviation * deviation, minlength=n_neurons) / n_isi)
        cv = std / mean
    cv[(n_isi < min_spikes - 1) | ~(mean > 0)] = np.nan
    return cv


def population_rate(
    times_ms: np.ndarray, n_neurons: int, duration_ms: float, bin_ms: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """Population firing rate in Hz per neuron, in bins of ``bin_ms`` over ``[0, duration_ms]``.

    Returns ``(edges_ms, rate_hz)`` with ``len(edges_ms) == len(rate_hz) + 1``; the last
    bin is shortened to end at ``duration_ms`` and its rate uses its true width. Spikes
    outside ``[0, duration_ms]`` are ignored. Plot with ``ax.stairs(rate_hz, edges_ms)``.
    """
    if n_neurons <= 0:
        raise ValueError(f"n_neurons must be > 0, got {n_neurons}")
    if duration_ms <= 0 or bin_ms <= 0:
        raise ValueError(f"duration_ms and bin_ms must be > 0, got {duration_ms} and {bin_ms}")
    n_bins = max(1, int(np.ceil(duration_ms / bin_ms - 1e-9)))
    edges = np.minimum(np.arange(n_bins + 1) * float(bin_ms), float(duration_ms))
    edges[-1] = duration_ms
    counts, _ = np.histogram(np.asarray(times_ms, dtype=np.float64), bins=edges)
    widths_s = np.diff(edges) / 1000.0
    return edges, counts / (n_neurons * widths_s)
