"""Conversion of spike records to and from neo and pynapple objects.

Both packages are optional (the ``synaptica[interop]`` extra) and imported only when one
of these functions is called.

* :func:`to_neo` / :func:`from_neo`: one ``neo.SpikeTrain`` per unit, times in s, with
  the record's window as ``t_start`` / ``t_stop``; a ``name`` metadata column becomes the
  trains' names, the other columns their annotations (and back: annotations that every
  train carries become columns).
* :func:`to_pynapple` / :func:`from_pynapple`: a ``pynapple.TsGroup`` keyed 0..n-1 with
  ``time_support`` = the window and the metadata columns; pynapple's computed ``rate``
  column is not read back. A group with several epochs is read over their hull.

Unit keys that are not 0..n-1 (pynapple keys) are kept in a ``unit_id`` column. Spikes at
the same time are ordered by unit after a round trip.
"""
from __future__ import annotations

import importlib
from typing import Any, Sequence

import numpy as np

from synaptica.record import SpikeRecord

__all__ = ["InteropError", "to_neo", "from_neo", "to_pynapple", "from_pynapple"]


class InteropError(ValueError):
    """An object cannot be converted to or from a spike record."""


def _require(module: str):
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ImportError(f"this conversion needs the optional package '{module}': "
                          "pip install 'synaptica[interop]'") from None


def _check_record(record: Any, what: str) -> SpikeRecord:
    if not isinstance(record, SpikeRecord):
        raise InteropError(f"{what} expects a SpikeRecord, got {type(record).__name__}")
    return record


def _as_column(values: Any) -> np.ndarray | None:
    """A metadata column from per-unit values, or None when they do not form one."""
    try:
        column = np.asarray(values)
    except ValueError:  # ragged
        return None
    if column.dtype.kind == "O":
        if not all(isinstance(v, str) for v in column.ravel()):
            return None
        column = column.astype(str)
    return column


# -- neo -------------------------------------------------------------------------------------
def to_neo(record: SpikeRecord) -> list:
    """One ``neo.SpikeTrain`` per unit (units s, ``t_start``/``t_stop`` = the window)."""
    record = _check_record(record, "to_neo")
    neo = _require("neo")
    names = record.units.get("name")
    others = {k: v for k, v in record.units.items() if k != "name"}
    trains = []
    for i, train in enumerate(record.trains()):
        annotations = {k: column[i] for k, column in others.items()}
        trains.append(neo.SpikeTrain(train, t_stop=record.t_stop, units="s", t_start=record.t_start,
                                     name=None if names is None else str(names[i]), **annotations))
    return trains


def from_neo(trains: Sequence[Any], *, source: str = "neo") -> SpikeRecord:
    """A record from ``neo.SpikeTrain`` objects (any time unit; converted to s). The window
    is ``[min t_start, max t_stop]``; names and shared annotations become metadata."""
    trains = list(trains)
    if not trains:
        raise InteropError("from_neo: no spike trains given")
    arrays, starts, stops = [], [], []
    for i, train in enumerate(trains):
        if not all(hasattr(train, a) for a in ("times", "t_start", "t_stop", "rescale")):
            raise InteropError(f"from_neo: item {i} is a {type(train).__name__}, not a neo.SpikeTrain")
        try:
            arrays.append(np.asarray(train.rescale("s").magnitude, dtype=np.float64).ravel())
            starts.append(float(train.t_start.rescale("s").magnitude))
            stops.append(float(train.t_stop.rescale("s").magnitude))
        except ValueError as error:  # quantities refuses units that are not times
            raise InteropError(f"from_neo: train {i} does not have time units ({error})") from None
    units: dict[str, np.ndarray] = {}
    names = [getattr(t, "name", None) for t in trains]
    if all(isinstance(n, str) for n in names):
        units["name"] = np.array(names, dtype=str)
    shared = set.intersection(*(set(getattr(t, "annotations", {})) for t in trains))
    for key in sorted(shared - {"name"}):
        column = _as_column([t.annotations[key] for t in trains])
        if column is not None and column.dtype.kind in "biufUS":
            units[key] = column
    return SpikeRecord.from_trains(arrays, t_start=min(starts), t_stop=max(stops), units=units, source=source)


# -- pynapple --------------------------------------------------------------------------------
def to_pynapple(record: SpikeRecord):
    """A ``pynapple.TsGroup`` keyed 0..n-1, ``time_support`` = the window, with the 1-D
    metadata columns (pynapple reserves the name ``rate``)."""
    record = _check_record(record, "to_pynapple")
    nap = _require("pynapple")
    support = nap.IntervalSet(start=record.t_start, end=record.t_stop)
    for name, column in record.units.items():
        if np.ndim(column) != 1:
            raise InteropError(f"to_pynapple: unit metadata '{name}' is not 1-D; pynapple keeps one value per unit")
    data = {i: nap.Ts(t=train, time_units="s", time_support=support) for i, train in enumerate(record.trains())}
    try:
        return nap.TsGroup(data, time_support=support, metadata=dict(record.units) or None)
    except ValueError as error:  # e.g. a metadata column named like a TsGroup attribute
        raise InteropError(f"to_pynapple: {error}") from None


def from_pynapple(group: Any, *, source: str = "pynapple") -> SpikeRecord:
    """A record from a ``pynapple.TsGroup``: units in key order, window = the hull of its
    ``time_support``, metadata columns except pynapple's computed ``rate``."""
    if not all(hasattr(group, a) for a in ("keys", "time_support")):
        raise InteropError(f"from_pynapple expects a pynapple.TsGroup, got {type(group).__name__}")
    keys = sorted(group.keys())
    if not keys:
        raise InteropError("from_pynapple: the TsGroup has no units")
    trains = [np.asarray(group[k].t, dtype=np.float64) for k in keys]
    support = group.time_support
    starts, ends = np.asarray(support.start, dtype=np.float64), np.asarray(support.end, dtype=np.float64)
    if starts.size == 0:
        raise InteropError("from_pynapple: the TsGroup has an empty time_support")
    frame = group.metadata if hasattr(group, "metadata") else group._metadata
    units: dict[str, np.ndarray] = {}
    for name in frame.columns:
        if name == "rate":
            continue
        column = _as_column(frame.loc[keys, name].to_numpy())
        if column is not None and column.dtype.kind in "biufUS":
            units[str(name)] = column
    if keys != list(range(len(keys))):
        units.setdefault("unit_id", np.asarray(keys))
    return SpikeRecord.from_trains(trains, t_start=float(starts.min()), t_stop=float(ends.max()), units=units,
                                   source=source)
