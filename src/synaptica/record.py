"""The spike record: the one data model every analysis reads.

A :class:`SpikeRecord` holds spike times in **seconds** and unit ids, sorted by time, over
an observation window ``[t_start, t_stop]`` with ``n_units`` units and optional per-unit
metadata columns. It is built from the engine's monitors, from plain arrays or per-unit
trains, and read and written by :mod:`synaptica.io.spikes` (npz, HDF5, NWB).

Layering: this module needs NumPy only. :mod:`synaptica.io` and :mod:`synaptica.analysis`
both build on it, so reading a spike file and computing statistics never imports torch
or numba; ``bin(tensor=True)`` imports torch, and ``to_neo`` / ``to_pynapple`` import
their packages, only when called.

Binning convention (the same as Elephant's ``BinnedSpikeTrain``): bin ``k`` covers
``[t_start + k * bin_size, t_start + (k + 1) * bin_size)``; there are
``floor((t_stop - t_start) / bin_size)`` bins (with a 1e-8 relative tolerance against
rounding); spikes past the last full bin are dropped. Binned counts are time-major,
``(n_bins, n_units)``, as torch sequences are.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

__all__ = ["SpikeRecord", "SpikeRecordError"]


class SpikeRecordError(ValueError):
    """A spike record is malformed; the message names the source and the problem."""


def _where(source: str) -> str:
    return f"{source}: " if source else ""


@dataclass(frozen=True, eq=False)
class SpikeRecord:
    """Spikes of ``n_units`` units observed over ``[t_start, t_stop]`` seconds.

    times:   (n_spikes,) float64, spike times in s, non-decreasing, in [t_start, t_stop].
    ids:     (n_spikes,) int64, unit index in [0, n_units).
    n_units: number of units (units may be silent).
    t_start, t_stop: observation window in s, 0 <= t_start < t_stop.
    units:   per-unit metadata, column name -> (n_units,) array (e.g. "name", "group").
    source:  where the record came from (a file name), used in error messages.

    Construction validates everything and raises :class:`SpikeRecordError` naming the
    source and the problem: unsorted or negative times, NaN, ids out of range, t_stop
    before the last spike, an empty record (no units or no spikes).
    """

    times: np.ndarray
    ids: np.ndarray
    n_units: int
    t_start: float
    t_stop: float
    units: Mapping[str, np.ndarray] = field(default_factory=dict)
    source: str = ""

    def __post_init__(self) -> None:
        where = _where(self.source)
        times = np.asarray(self.times)
        ids = np.asarray(self.ids)
        if times.ndim != 1 or ids.ndim != 1:
            raise SpikeRecordError(f"{where}spike times and ids must be 1-D, got shapes {times.shape} and {ids.shape}")
        if times.shape != ids.shape:
            raise SpikeRecordError(f"{where}{times.size} spike times but {ids.size} unit ids")
        if not (np.issubdtype(times.dtype, np.floating) or np.issubdtype(times.dtype, np.integer)):
            raise SpikeRecordError(f"{where}spike times must be numbers, got dtype {times.dtype}")
        times = times.astype(np.float64, copy=False)
        if ids.size and not np.issubdtype(ids.dtype, np.integer):
            if not np.issubdtype(ids.dtype, np.floating) or not np.all(ids == np.round(ids)):
                raise SpikeRecordError(f"{where}unit ids must be integers, got dtype {ids.dtype}")
        ids = ids.astype(np.int64, copy=False)
        n_units = int(self.n_units)
        t_start, t_stop = float(self.t_start), float(self.t_stop)
        if n_units < 1:
            raise SpikeRecordError(f"{where}the record is empty: it has no units")
        if times.size == 0:
            raise SpikeRecordError(f"{where}the record is empty: it has no spikes")
        if not np.all(np.isfinite(times)):
            first = int(np.argmin(np.isfinite(times)))
            raise SpikeRecordError(f"{where}spike times contain NaN or infinity (first at index {first})")
        if not (np.isfinite(t_start) and np.isfinite(t_stop)):
            raise SpikeRecordError(f"{where}t_start and t_stop must be finite, got {t_start} and {t_stop}")
        if t_start < 0 or times[0] < 0 or np.any(times < 0):
            raise SpikeRecordError(f"{where}negative time: t_start={t_start} s, earliest spike {times.min()} s")
        step_back = np.flatnonzero(np.diff(times) < 0)
        if step_back.size:
            i = int(step_back[0])
            raise SpikeRecordError(
                f"{where}spike times are not sorted: spike {i + 1} at {times[i + 1]} s follows {times[i]} s")
        if t_stop <= t_start:
            raise SpikeRecordError(f"{where}t_stop ({t_stop} s) must be after t_start ({t_start} s)")
        if times[0] < t_start:
            raise SpikeRecordError(f"{where}first spike at {times[0]} s is before t_start ({t_start} s)")
        if times[-1] > t_stop:
            raise SpikeRecordError(f"{where}t_stop ({t_stop} s) is before the last spike ({times[-1]} s)")
        if ids.min() < 0 or ids.max() >= n_units:
            raise SpikeRecordError(
                f"{where}unit ids must lie in [0, {n_units}), got ids from {ids.min()} to {ids.max()}")
        units = {}
        for name, column in dict(self.units).items():
            column = np.asarray(column)
            if column.shape[:1] != (n_units,):
                raise SpikeRecordError(
                    f"{where}unit metadata '{name}' has {column.shape[0] if column.ndim else 0} rows, expected {n_units}")
            units[str(name)] = column
        # read-only views: the record cannot be edited, yet the caller's arrays stay writeable
        times, ids = times.view(), ids.view()
        times.setflags(write=False)
        ids.setflags(write=False)
        object.__setattr__(self, "times", times)
        object.__setattr__(self, "ids", ids)
        object.__setattr__(self, "n_units", n_units)
        object.__setattr__(self, "t_start", t_start)
        object.__setattr__(self, "t_stop", t_stop)
        object.__setattr__(self, "units", units)

    # -- construction --------------------------------------------------------------------
    @classmethod
    def from_arrays(cls, times: Sequence[float], ids: Sequence[int], *, n_units: int | None = None,
                    t_start: float = 0.0, t_stop: float | None = None, units: Mapping[str, Any] | None = None,
                    sort: bool = False, source: str = "") -> "SpikeRecord":
        """A record from spike times (s) and ids. ``sort=True`` sorts by time (stable);
        ``n_units`` defaults to ``max(ids) + 1`` and ``t_stop`` to the last spike time."""
        times = np.asarray(times, dtype=np.float64)
        ids = np.asarray(ids)
        if sort and times.shape == ids.shape and times.ndim == 1:
            order = np.argsort(times, kind="stable")
            times, ids = times[order], ids[order]
        if n_units is None:
            n_units = int(ids.max()) + 1 if ids.size else 0
        if t_stop is None:
            t_stop = float(times.max()) if times.size else t_start
        return cls(times, ids, n_units, t_start, t_stop, units or {}, source)

    @classmethod
    def from_trains(cls, trains: Sequence[Sequence[float]], *, t_start: float = 0.0, t_stop: float | None = None,
                    units: Mapping[str, Any] | None = None, source: str = "") -> "SpikeRecord":
        """A record from one array of spike times (s) per unit."""
        arrays = [np.asarray(train, dtype=np.float64).ravel() for train in trains]
        times = np.concatenate(arrays) if arrays else np.empty(0)
        ids = np.repeat(np.arange(len(arrays)), [a.size for a in arrays])
        return cls.from_arrays(times, ids, n_units=len(arrays), t_start=t_start, t_stop=t_stop,
                               units=units, sort=True, source=source)

    @classmethod
    def from_monitor(cls, monitor: Any, duration_ms: float, *, n_units: int | None = None, batch: int = 0,
                     t_start_ms: float = 0.0) -> "SpikeRecord":
        """A record from an engine :class:`~synaptica.engine.monitors.SpikeMonitor` (times in
        ms there, converted to s here) for one batch entry, over ``[t_start_ms, duration_ms]``;
        spikes before ``t_start_ms`` are dropped."""
        times_ms = np.asarray(monitor.times_ms)
        ids = np.asarray(monitor.neuron_ids)
        # spikes before the window are left out (e.g. a transient); later ones are an error
        keep = (np.asarray(monitor.batch_ids) == batch) & (times_ms >= t_start_ms)
        if n_units is None:
            n_units = int(getattr(monitor.group, "n", 0) or (ids.max() + 1 if ids.size else 0))
        return cls.from_arrays(times_ms[keep] / 1000.0, ids[keep], n_units=n_units, t_start=t_start_ms / 1000.0,
                               t_stop=duration_ms / 1000.0, sort=True, source=f"monitor '{monitor.name}'")

    # -- views ---------------------------------------------------------------------------
    @property
    def n_spikes(self) -> int:
        return int(self.times.size)

    @property
    def duration(self) -> float:
        """Observation time in s."""
        return self.t_stop - self.t_start

    def trains(self) -> list[np.ndarray]:
        """Spike times (s) of each unit: a list of ``n_units`` sorted arrays."""
        order = np.argsort(self.ids, kind="stable")  # stable: each unit's times stay sorted
        bounds = np.searchsorted(self.ids[order], np.arange(self.n_units + 1))
        sorted_times = self.times[order]
        return [sorted_times[bounds[i]:bounds[i + 1]] for i in range(self.n_units)]

    def n_bins(self, bin_size: float) -> int:
        """Number of whole bins of ``bin_size`` s in the window (see module docstring)."""
        if not bin_size > 0:
            raise ValueError(f"bin_size must be > 0 s, got {bin_size}")
        n = int(np.floor(self.duration / bin_size * (1 + 1e-8)))
        if n < 1:
            raise ValueError(f"bin_size {bin_size} s is longer than the record ({self.duration} s)")
        return n

    def bin_indices(self, bin_size: float) -> tuple[np.ndarray, np.ndarray]:
        """Sparse binned form: ``(bins, ids)`` of the spikes that fall in a whole bin, in
        time order; a spike within 1e-8 bins below a bin edge counts in the next bin."""
        n = self.n_bins(bin_size)
        bins = np.floor((self.times - self.t_start) / bin_size + 1e-8).astype(np.int64)
        keep = bins < n
        return bins[keep], self.ids[keep]

    def bin(self, bin_size: float, *, sparse: bool = False, tensor: bool = False, dtype: Any = None):
        """Spike counts per bin: ``(n_bins, n_units)``.

        Default: a dense NumPy array (int64). ``sparse=True``: a ``scipy.sparse.csr_array``.
        ``tensor=True``: a torch tensor (float32 unless ``dtype`` is given), sparse COO when
        ``sparse=True``.
        """
        n = self.n_bins(bin_size)
        bins, ids = self.bin_indices(bin_size)
        if tensor:
            import torch

            dtype = dtype or torch.float32
            index = torch.from_numpy(np.stack([bins, ids]))
            values = torch.ones(bins.size, dtype=dtype)
            counts = torch.sparse_coo_tensor(index, values, (n, self.n_units)).coalesce()
            return counts if sparse else counts.to_dense()
        if sparse:
            from scipy import sparse as sp

            counts = sp.coo_array((np.ones(bins.size, dtype=dtype or np.int64), (bins, ids)),
                                  shape=(n, self.n_units))
            return counts.tocsr()
        counts = np.zeros((n, self.n_units), dtype=dtype or np.int64)
        np.add.at(counts, (bins, ids), 1)
        return counts

    def select(self, units: Sequence[int]) -> "SpikeRecord":
        """A record of the given units only, renumbered 0..len(units)-1 in the given order."""
        units = np.asarray(units, dtype=np.int64)
        if units.ndim != 1 or units.size == 0 or units.min() < 0 or units.max() >= self.n_units:
            raise SpikeRecordError(f"{_where(self.source)}units to select must be ids in [0, {self.n_units})")
        remap = np.full(self.n_units, -1, dtype=np.int64)
        remap[units] = np.arange(units.size)
        keep = remap[self.ids] >= 0
        meta = {name: column[units] for name, column in self.units.items()}
        return SpikeRecord(self.times[keep], remap[self.ids[keep]], int(units.size), self.t_start, self.t_stop,
                           meta, self.source)

    def window(self, t_start: float, t_stop: float) -> "SpikeRecord":
        """The spikes in ``[t_start, t_stop]`` s, with that window."""
        lo = np.searchsorted(self.times, t_start, side="left")
        hi = np.searchsorted(self.times, t_stop, side="right")
        return SpikeRecord(self.times[lo:hi], self.ids[lo:hi], self.n_units, t_start, t_stop, self.units, self.source)

    # -- interchange (imported lazily) ---------------------------------------------------
    def to_neo(self) -> list:
        """One ``neo.SpikeTrain`` per unit (times in s). Needs ``neo`` installed."""
        from synaptica.io.interop import to_neo

        return to_neo(self)

    def to_pynapple(self):
        """A ``pynapple.TsGroup`` with the unit metadata. Needs ``pynapple`` installed."""
        from synaptica.io.interop import to_pynapple

        return to_pynapple(self)

    def __repr__(self) -> str:
        return (f"SpikeRecord({self.n_spikes} spikes, {self.n_units} units, "
                f"[{self.t_start:g}, {self.t_stop:g}] s{', ' + self.source if self.source else ''})")
