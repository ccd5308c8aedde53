"""Vectorised single-unit spike statistics: rates, PSTH, ISI, CV, CV2, LV, Fano factor.

The functions on a :class:`~synaptica.record.SpikeRecord` work in **seconds** and
follow Elephant 1.2.1's definitions (``elephant.statistics``) so that they give its numbers
on the same trains. Three older helpers on plain ``(times_ms, ids)`` lists (``firing_rates``,
``isi_cv``, ``population_rate``) serve the CLI plots; they share the same kernels. No
function loops over units in Python: everything is a sort plus ``np.bincount``.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ..record import SpikeRecord

__all__ = [
    "rates", "psth", "isi", "cv", "cv2", "lv", "fano_factor",
    "firing_rates", "isi_cv", "population_rate",
]


# -- shared kernels -------------------------------------------------------------------------
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


def _unit_major(times: np.ndarray, ids: np.ndarray, n_units: int,
                time_sorted: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Spikes regrouped unit by unit, each unit's times ascending.

    Returns ``(times, ids, bounds)``: unit ``u`` owns ``times[bounds[u]:bounds[u + 1]]``.
    A stable sort on ids keeps time order when the input is already time-sorted (a record).
    """
    order = np.argsort(ids, kind="stable") if time_sorted else np.lexsort((times, ids))
    ids_u = ids[order]
    return times[order], ids_u, np.searchsorted(ids_u, np.arange(n_units + 1))


def _intervals(times: np.ndarray, ids: np.ndarray, n_units: int,
               time_sorted: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """All inter-spike intervals, unit-major: ``(intervals, owner)``."""
    t, u, _ = _unit_major(times, ids, n_units, time_sorted)
    same = u[1:] == u[:-1]
    return np.diff(t)[same], u[1:][same]


def _cv(isis: np.ndarray, owner: np.ndarray, n_units: int, min_spikes: int) -> np.ndarray:
    """std (ddof=0) / mean of each unit's intervals; NaN below ``min_spikes`` spikes."""
    if min_spikes < 2:
        raise ValueError(f"min_spikes must be >= 2 (at least one interval), got {min_spikes}")
    n_isi = np.bincount(owner, minlength=n_units)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.bincount(owner, weights=isis, minlength=n_units) / n_isi
        deviation = isis - mean[owner]  # two-pass variance, as np.std does
        std = np.sqrt(np.bincount(owner, weights=deviation * deviation, minlength=n_units) / n_isi)
        out = std / mean
    out[(n_isi < min_spikes - 1) | ~(mean > 0)] = np.nan
    return out


def _successive_ratio(isis: np.ndarray, owner: np.ndarray, n_units: int) -> tuple[np.ndarray, np.ndarray]:
    """``(I_{k+1} - I_k) / (I_{k+1} + I_k)`` for consecutive intervals of the same unit, with owners."""
    same = owner[1:] == owner[:-1]
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.diff(isis)[same] / (isis[:-1] + isis[1:])[same]
    return ratio, owner[1:][same]


def _mean_by_unit(values: np.ndarray, owner: np.ndarray, n_units: int) -> np.ndarray:
    count = np.bincount(owner, minlength=n_units)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.bincount(owner, weights=values, minlength=n_units) / count


def _check_record(record: SpikeRecord) -> SpikeRecord:
    if not isinstance(record, SpikeRecord):
        raise ValueError(f"expected a SpikeRecord, got {type(record).__name__}")
    return record


def _trial_spikes(record: SpikeRecord, trial_starts: Sequence[float], window: tuple[float, float]
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Spikes inside ``[start + window[0], start + window[1])`` of every trial, vectorised.

    Returns ``(relative_times, ids, trial_index, n_trials)``; times are relative to
    ``start + window[0]``. Trials may overlap (a spike then counts in each).
    """
    starts = np.asarray(trial_starts, dtype=np.float64).ravel()
    if starts.size == 0 or not np.all(np.isfinite(starts)):
        raise ValueError("trial_starts must be a non-empty list of finite times (s)")
    lo_off, hi_off = (float(w) for w in window)
    if not hi_off > lo_off:
        raise ValueError(f"window must be (from, to) with to > from, got {window}")
    lo = np.searchsorted(record.times, starts + lo_off, side="left")
    hi = np.searchsorted(record.times, starts + hi_off, side="left")
    n_each = hi - lo
    trial = np.repeat(np.arange(starts.size), n_each)
    # index lo[k], lo[k] + 1, ..., hi[k] - 1 for every trial k, without a loop
    index = np.arange(n_each.sum()) - np.repeat(np.cumsum(n_each) - n_each, n_each) + np.repeat(lo, n_each)
    rel = record.times[index] - (starts[trial] + lo_off)
    return rel, record.ids[index], trial, int(starts.size)


def _n_bins(span: float, bin_size: float) -> int:
    # the record's convention: whole bins, 1e-9 relative tolerance against rounding
    if not bin_size > 0:
        raise ValueError(f"bin_size must be > 0 s, got {bin_size}")
    n = int(np.floor(span / bin_size * (1 + 1e-9)))
    if n < 1:
        raise ValueError(f"bin_size {bin_size} s is longer than the window ({span} s)")
    return n


# -- statistics on a SpikeRecord (seconds) ----------------------------------------------------
def rates(record: SpikeRecord) -> np.ndarray:
    """Mean firing rate of every unit in Hz, ``(n_units,)``: spike count / (t_stop - t_start).

    Equals ``elephant.statistics.mean_firing_rate`` on each unit's ``neo.SpikeTrain``.
    """
    record = _check_record(record)
    return np.bincount(record.ids, minlength=record.n_units) / record.duration


def psth(record: SpikeRecord, bin_size: float, trial_starts: Sequence[float] | None = None,
         window: tuple[float, float] | None = None, *, per_unit: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Peri-stimulus time histogram in Hz: ``(edges_s, rate_hz)``.

    Without ``trial_starts``: the record is binned (record convention, ``bin_size`` in s)
    and the rate is ``counts / (n_units * bin_size)`` — Elephant's
    ``time_histogram(..., output='rate')``. With ``trial_starts`` (s) and
    ``window=(from, to)`` (s, relative to each start, e.g. ``(-0.1, 0.5)``), spikes are
    aligned on every start, binned over the window and averaged over trials (and units):
    ``counts / (n_trials * n_units * bin_size)``. ``edges_s`` are then relative to the
    start. ``rate_hz`` has shape ``(n_bins,)``, or ``(n_bins, n_units)`` with
    ``per_unit=True`` (no average over units).
    """
    record = _check_record(record)
    if trial_starts is None:
        if window is not None:
            raise ValueError("window is only used with trial_starts")
        n = record.n_bins(bin_size)
        bins, ids = record.bin_indices(bin_size)
        n_trials, origin = 1, record.t_start
    else:
        if window is None:
            raise ValueError("psth with trial_starts needs window=(from, to) in s relative to each start")
        n = _n_bins(window[1] - window[0], bin_size)
        rel, ids, _, n_trials = _trial_spikes(record, trial_starts, window)
        bins = np.floor(rel / bin_size + 1e-9).astype(np.int64)
        keep = bins < n
        bins, ids, origin = bins[keep], ids[keep], float(window[0])
    edges = origin + bin_size * np.arange(n + 1)
    if per_unit:
        counts = np.bincount(bins * record.n_units + ids, minlength=n * record.n_units).reshape(n, record.n_units)
        return edges, counts / (n_trials * bin_size)
    return edges, np.bincount(bins, minlength=n) / (n_trials * record.n_units * bin_size)


def isi(record: SpikeRecord, *, flat: bool = False) -> list[np.ndarray] | tuple[np.ndarray, np.ndarray]:
    """Inter-spike intervals in s.

    Default: a list of ``n_units`` arrays (``elephant.statistics.isi`` of each train).
    ``flat=True``: ``(intervals, unit_ids)``, unit-major and in time order within a unit,
    for vectorised work on all units at once.
    """
    record = _check_record(record)
    intervals, owner = _intervals(record.times, record.ids, record.n_units)
    if flat:
        return intervals, owner
    bounds = np.searchsorted(owner, np.arange(record.n_units + 1))
    return [intervals[bounds[u]:bounds[u + 1]] for u in range(record.n_units)]


def cv(record: SpikeRecord, *, min_spikes: int = 3) -> np.ndarray:
    """Coefficient of variation of each unit's ISIs, ``std (ddof=0) / mean``: ``(n_units,)``.

    Elephant's ``cv`` (``scipy.stats.variation``) applied to ``isi``. NaN for units with
    fewer than ``min_spikes`` spikes. Poisson trains give about 1, regular trains 0.
    """
    record = _check_record(record)
    return _cv(*_intervals(record.times, record.ids, record.n_units), record.n_units, min_spikes)


def cv2(record: SpikeRecord) -> np.ndarray:
    """CV2 of Holt et al. 1996 (J Neurophysiol 75:1806) per unit, ``(n_units,)``.

    ``CV2 = mean_k 2 |I_{k+1} - I_k| / (I_{k+1} + I_k)`` over consecutive ISIs; about 1
    for a Poisson train, insensitive to slow rate changes. NaN below 3 spikes (Elephant's
    ``cv2(..., with_nan=True)``).
    """
    record = _check_record(record)
    ratio, owner = _successive_ratio(*_intervals(record.times, record.ids, record.n_units), record.n_units)
    return 2.0 * _mean_by_unit(np.abs(ratio), owner, record.n_units)


def lv(record: SpikeRecord) -> np.ndarray:
    """Local variation LV of Shinomoto et al. 2003 (Neural Comput 15:2823) per unit.

    ``LV = mean_k 3 (I_k - I_{k+1})^2 / (I_k + I_{k+1})^2``; 1 for Poisson, 0 for regular
    trains. ``(n_units,)``, NaN below 3 spikes (Elephant's ``lv(..., with_nan=True)``).
    """
    record = _check_record(record)
    ratio, owner = _successive_ratio(*_intervals(record.times, record.ids, record.n_units), record.n_units)
    return 3.0 * _mean_by_unit(ratio * ratio, owner, record.n_units)


def fano_factor(record: SpikeRecord, bin_size: float | None = None, *,
                trial_starts: Sequence[float] | None = None,
                window: tuple[float, float] | None = None) -> np.ndarray:
    """Fano factor ``var(counts) / mean(counts)`` (ddof=0) of each unit, ``(n_units,)``.

    Counts are taken either in consecutive windows of ``bin_size`` s over the record
    (record binning convention) or, with ``trial_starts`` and ``window=(from, to)``, in
    each trial's window. This is Elephant's ``fanofactor`` applied to one unit's list of
    window (or trial) spike trains. NaN for a unit with no spike in any window.
    """
    record = _check_record(record)
    n_units = record.n_units
    if trial_starts is None:
        if bin_size is None:
            raise ValueError("fano_factor needs bin_size (s) or trial_starts with window")
        n_windows = record.n_bins(bin_size)
        slot, ids = record.bin_indices(bin_size)
    else:
        if bin_size is not None or window is None:
            raise ValueError("with trial_starts give window=(from, to) and no bin_size")
        _, ids, slot, n_windows = _trial_spikes(record, trial_starts, window)
    # counts c of every occupied (unit, window) cell; the empty cells add 0 to both sums
    cells, c = np.unique(ids * n_windows + slot, return_counts=True)
    owner = cells // n_windows
    s1 = np.bincount(owner, weights=c, minlength=n_units).astype(np.int64)
    s2 = np.bincount(owner, weights=c * c, minlength=n_units).astype(np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        # exact integer numerator and denominator: one rounding only
        return (n_windows * s2 - s1 * s1) / (n_windows * s1.astype(np.float64))


# -- helpers on (times_ms, ids) lists, used by the CLI plots ----------------------------------
def firing_rates(ids: np.ndarray, n_neurons: int, duration_ms: float) -> np.ndarray:
    """Mean firing rate of every neuron in Hz: ``(n_neurons,)`` float array."""
    if duration_ms <= 0:
        raise ValueError(f"duration_ms must be > 0, got {duration_ms}")
    ids = _check_ids(ids, n_neurons)
    return np.bincount(ids, minlength=n_neurons) / (duration_ms / 1000.0)


def isi_cv(times_ms: np.ndarray, ids: np.ndarray, n_neurons: int, min_spikes: int = 3) -> np.ndarray:
    """Coefficient of variation (std / mean, ddof=0) of each neuron's inter-spike intervals.

    Returns ``(n_neurons,)`` floats, NaN for neurons with fewer than ``min_spikes`` spikes
    (or a zero mean interval). A perfectly regular train gives 0, a Poisson train about 1.
    Times need not be sorted. Same kernel as :func:`cv`.
    """
    if min_spikes < 2:
        raise ValueError(f"min_spikes must be >= 2 (at least one interval), got {min_spikes}")
    times = np.asarray(times_ms, dtype=np.float64)
    ids = _check_ids(ids, n_neurons)
    if times.shape != ids.shape:
        raise ValueError(f"times_ms and ids differ in shape: {times.shape} vs {ids.shape}")
    return _cv(*_intervals(times, ids, n_neurons, time_sorted=False), n_neurons, min_spikes)


def population_rate(
    times_ms: np.ndarray, n_neurons: int, duration_ms: float, bin_ms: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """Population firing rate in Hz per neuron, in bins of ``bin_ms`` over ``[0, duration_ms]``.

    Returns ``(edges_ms, rate_hz)`` with ``len(edges_ms) == len(rate_hz) + 1``; the last
    bin is shortened to end at ``duration_ms`` and its rate uses its true width (a plotting
    helper; :func:`psth` keeps whole bins only, as Elephant does). Spikes outside
    ``[0, duration_ms]`` are ignored. Plot with ``ax.stairs(rate_hz, edges_ms)``.
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
