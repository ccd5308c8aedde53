"""Spike-record files: npz, HDF5 and NWB units tables.

:func:`save_record` and :func:`load_record` pick the format from the suffix:

* ``.npz`` (NumPy, never pickled): arrays ``times`` (float64, s), ``ids`` (int64),
  0-d ``n_units``, ``t_start``, ``t_stop``, ``format`` (``"synaptica.spikes"``),
  ``version``, and one array ``unit:<name>`` per unit-metadata column.
* ``.h5`` / ``.hdf5`` (h5py): root attributes ``format``, ``version``, ``n_units``,
  ``t_start``, ``t_stop`` (s), ``time_unit`` (``"s"``); datasets ``/times`` and ``/ids``;
  group ``/units`` with one dataset per metadata column (strings as UTF-8).
* ``.nwb`` (pynwb, the ``synaptica[nwb]`` extra): the file's units table, one row per
  unit with its ``spike_times``, ``obs_intervals = [[t_start, t_stop]]``, ``resolution``
  (s) and the metadata as extra columns, plus session, subject and provenance metadata
  (``nwb=``, a :class:`~synaptica.io.nwb.NWBMetadata`; see :mod:`synaptica.io.nwb`) so that
  the file passes NWB Inspector. Any NWB file with a units table can be read; without
  ``obs_intervals`` the window runs from 0 (the session start) to the latest stop time of
  the file's epochs or trials, or to the last spike. NWB stores text, so byte-string
  metadata comes back as unicode.

``format``, ``version``, ``n_units``, ``t_start`` and ``t_stop`` may be absent from an
npz or HDF5 file written by hand: the window then defaults to ``[0, last spike]`` and
``n_units`` to ``max(ids) + 1``. Writing is atomic (a temporary file in the same folder,
then :func:`os.replace`); every problem raises :class:`SpikeFileError` naming the file.

This is the one spike file format: ``synaptica run`` writes its ``spikes.npz`` with
:func:`save_spikes` and ``synaptica analyze`` reads it with :func:`load_record`. Run
folders written before (npz with ``times_ms``, ``ids``, ``n_neurons``, ``duration_ms``,
times in ms) are still read: times and duration are converted to s, the window is
``[0, duration]`` and the spikes are sorted by time.
"""
from __future__ import annotations

import os
import secrets
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Mapping, NamedTuple, Sequence

import numpy as np

from synaptica.io.nwb import ATTRIBUTE_WARNING, NWBMetadata, write_units_file
from synaptica.record import SpikeRecord, SpikeRecordError

__all__ = ["SpikeFileError", "save_record", "save_spikes", "load_record", "FORMAT", "VERSION"]

FORMAT = "synaptica.spikes"
VERSION = 1
_SUFFIXES = {".npz": "npz", ".h5": "hdf5", ".hdf5": "hdf5", ".nwb": "nwb"}
_META_KINDS = "biufUS"  # booleans, integers, floats, unicode and byte strings
# standard columns of an NWB Units table: metadata may not take these names
_NWB_RESERVED = {"id", "spike_times", "spike_times_index", "obs_intervals", "obs_intervals_index", "electrodes",
                 "electrodes_index", "electrode_group", "waveform_mean", "waveform_sd", "waveforms",
                 "waveforms_index", "waveforms_index_index"}


class SpikeFileError(ValueError):
    """A spike file cannot be read or written; the message names the file and the problem."""


class _Silent(NamedTuple):
    """The stored fields of a record without spikes (what the writers read of a record)."""

    times: np.ndarray
    ids: np.ndarray
    n_units: int
    t_start: float
    t_stop: float
    units: Mapping[str, np.ndarray]


# -- public API ------------------------------------------------------------------------------
def save_record(record: SpikeRecord, path: str | os.PathLike, *, format: str | None = None,
                nwb: NWBMetadata | None = None) -> Path:
    """Write ``record`` to ``path`` (format from the suffix, or ``format`` = ``"npz"``,
    ``"hdf5"`` or ``"nwb"``) atomically: on any error no file is left behind and an
    existing file is untouched. ``nwb``: session metadata of an NWB file (defaults when
    None; refused for the other formats). Returns the path."""
    path = Path(path)
    fmt = _format_of(path, format)
    if not isinstance(record, SpikeRecord):
        raise SpikeFileError(f"{path}: expected a SpikeRecord to write, got {type(record).__name__}")
    return _save(record, path, fmt, nwb)


def save_spikes(path: str | os.PathLike, times: Sequence[float], ids: Sequence[int], *, n_units: int,
                t_stop: float, t_start: float = 0.0, units: Mapping[str, Any] | None = None,
                format: str | None = None, nwb: NWBMetadata | None = None) -> Path:
    """Write spike ``times`` (s, any order: sorted stably here) and unit ``ids`` observed over
    ``[t_start, t_stop]`` s as a spike file, like :func:`save_record` of
    ``SpikeRecord.from_arrays(..., sort=True)``. A record without spikes (a silent run) is
    written too, with its window and units; :func:`load_record` then refuses it as empty.
    Raises :class:`SpikeFileError` naming the file when the spikes do not form a record."""
    path = Path(path)
    fmt = _format_of(path, format)
    times = np.asarray(times, dtype=np.float64)
    ids = np.asarray(ids)
    if times.size or ids.size:
        try:
            record = SpikeRecord.from_arrays(times, ids, n_units=n_units, t_start=t_start, t_stop=t_stop,
                                             units=units, sort=True)
        except SpikeRecordError as error:
            raise SpikeFileError(f"{path}: cannot write, {error}") from None
        return _save(record, path, fmt, nwb)
    t_start, t_stop = float(t_start), float(t_stop)
    if int(n_units) < 1:
        raise SpikeFileError(f"{path}: cannot write a record without units")
    if not (np.isfinite(t_start) and np.isfinite(t_stop) and 0 <= t_start < t_stop):
        raise SpikeFileError(f"{path}: the window must satisfy 0 <= t_start < t_stop, got [{t_start}, {t_stop}] s")
    meta = {str(name): np.asarray(column) for name, column in dict(units or {}).items()}
    for name, column in meta.items():
        if column.shape[:1] != (int(n_units),):
            raise SpikeFileError(f"{path}: unit metadata '{name}' has {column.shape[0] if column.ndim else 0} rows, "
                                 f"expected {int(n_units)}")
    silent = _Silent(np.zeros(0), np.zeros(0, dtype=np.int64), int(n_units), t_start, t_stop, meta)
    return _save(silent, path, fmt, nwb)


def _save(record: SpikeRecord | _Silent, path: Path, fmt: str, nwb: NWBMetadata | None = None) -> Path:
    columns = _unit_columns(record, path, fmt)
    if nwb is not None and (fmt != "nwb" or not isinstance(nwb, NWBMetadata)):
        raise SpikeFileError(f"{path}: nwb= takes an NWBMetadata and only for an NWB file, got "
                             f"{type(nwb).__name__} for a {fmt} file")
    if fmt == "nwb":
        _pynwb()  # a missing extra is an ImportError, before any file is touched
    writer = {"npz": _write_npz, "hdf5": _write_hdf5,
              "nwb": lambda rec, cols, tmp: write_units_file(rec, cols, tmp, nwb, f"{FORMAT} version {VERSION}")}[fmt]
    with _atomic(path) as tmp:
        try:
            writer(record, columns, tmp)
        except SpikeFileError:
            raise
        except Exception as error:  # wrap h5py / pynwb / OS errors
            raise SpikeFileError(f"{path}: cannot write {fmt} file ({type(error).__name__}: {error})") from None
    return path


def load_record(path: str | os.PathLike, *, format: str | None = None) -> SpikeRecord:
    """Read a :class:`SpikeRecord` from an npz, HDF5 or NWB file (see the module
    docstring). Never unpickles. Raises :class:`SpikeFileError` naming the file and the
    problem: missing file, unknown suffix, corrupt or truncated file, missing fields, wrong
    dtypes, or a record that fails validation (unsorted or negative times, ids out of
    range, t_stop before the last spike, no spikes)."""
    path = Path(path)
    fmt = _format_of(path, format)
    if not path.exists():
        raise SpikeFileError(f"{path}: no such file")
    if path.is_dir():
        raise SpikeFileError(f"{path}: is a folder, not a spike file")
    if fmt == "nwb":
        _pynwb()
    reader = {"npz": _read_npz, "hdf5": _read_hdf5, "nwb": _read_nwb}[fmt]
    try:
        fields = reader(path)
    except SpikeFileError:
        raise
    except Exception as error:  # corrupt / truncated files surface as many library errors
        raise SpikeFileError(f"{path}: cannot read {fmt} file, it is corrupt or truncated "
                             f"({type(error).__name__}: {error})") from None
    return _build(path, fields)


# -- shared helpers --------------------------------------------------------------------------
def _format_of(path: Path, format: str | None) -> str:
    if format is not None:
        fmt = {"h5": "hdf5"}.get(format.lower(), format.lower())
        if fmt not in ("npz", "hdf5", "nwb"):
            raise SpikeFileError(f"{path}: unknown format '{format}'; use 'npz', 'hdf5' or 'nwb'")
        return fmt
    fmt = _SUFFIXES.get(path.suffix.lower())
    if fmt is None:
        raise SpikeFileError(f"{path}: unknown file type '{path.suffix}'; use .npz, .h5/.hdf5 or .nwb")
    return fmt


@contextmanager
def _atomic(path: Path) -> Iterator[Path]:
    """A fresh temporary path next to ``path``, moved onto ``path`` only on success."""
    tmp = path.with_name(f".{path.stem}.{secrets.token_hex(4)}.tmp{path.suffix}")  # pynwb wants the suffix
    try:  # mode 0o666 minus the umask, like an ordinary new file (mkstemp would give 0o600)
        os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    except FileNotFoundError:
        raise SpikeFileError(f"{path}: cannot write, the folder {path.parent} does not exist") from None
    except OSError as error:
        raise SpikeFileError(f"{path}: cannot write ({error.strerror or error})") from None
    try:
        yield tmp
        try:
            fd = os.open(tmp, os.O_RDONLY)
            try:
                os.fsync(fd)  # the data is on disk before the name points at it
            finally:
                os.close(fd)
            os.replace(tmp, path)
        except OSError as error:  # e.g. path is a folder
            raise SpikeFileError(f"{path}: cannot write ({error.strerror or error})") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _unit_columns(record: SpikeRecord | _Silent, path: Path, fmt: str) -> dict[str, np.ndarray]:
    """Metadata columns in storable form: numbers, booleans or strings (object arrays of
    str become unicode arrays); other kinds are refused before anything is written."""
    columns = {}
    for name, column in record.units.items():
        if not name or "/" in name:
            raise SpikeFileError(f"{path}: unit metadata name '{name}' must be non-empty and contain no '/'")
        if fmt == "nwb" and name in _NWB_RESERVED:
            raise SpikeFileError(f"{path}: unit metadata '{name}' clashes with a standard NWB Units column")
        column = np.asarray(column)
        if column.dtype.kind == "O":
            if not all(isinstance(v, str) for v in column.ravel()):
                raise SpikeFileError(f"{path}: unit metadata '{name}' holds Python objects; only numbers, "
                                     "booleans and strings can be stored")
            column = column.astype(str)
        if column.dtype.kind not in _META_KINDS:
            raise SpikeFileError(f"{path}: unit metadata '{name}' has dtype {column.dtype}; only numbers, "
                                 "booleans and strings can be stored")
        columns[name] = column
    return columns


def _scalar(path: Path, fields: dict, key: str, kinds: str, default: Any) -> Any:
    if key not in fields:
        return default
    value = np.asarray(fields[key])
    if value.ndim != 0 or value.dtype.kind not in kinds:
        raise SpikeFileError(f"{path}: field '{key}' must be a single {'integer' if kinds == 'iu' else 'number'}, "
                             f"got shape {value.shape} and dtype {value.dtype}")
    return value[()]


def _build(path: Path, fields: dict) -> SpikeRecord:
    """Check the fields' presence, shapes and dtypes, then validate as a SpikeRecord."""
    for key in ("times", "ids"):
        if key not in fields:
            raise SpikeFileError(f"{path}: missing field '{key}'")
    fmt_tag = fields.get("format")
    if fmt_tag is not None and str(fmt_tag) != FORMAT:
        raise SpikeFileError(f"{path}: not a synaptica spike file (format tag '{fmt_tag}', expected '{FORMAT}')")
    version = _scalar(path, fields, "version", "iu", VERSION)
    if int(version) > VERSION:
        raise SpikeFileError(f"{path}: written in format version {version}; this synaptica reads "
                             f"versions up to {VERSION}")
    times, ids = np.asarray(fields["times"]), np.asarray(fields["ids"])
    if times.ndim != 1 or times.dtype.kind != "f":
        raise SpikeFileError(f"{path}: field 'times' must be a 1-D float array of seconds, "
                             f"got shape {times.shape} and dtype {times.dtype}")
    if ids.ndim != 1 or ids.dtype.kind not in "iu":
        raise SpikeFileError(f"{path}: field 'ids' must be a 1-D integer array, "
                             f"got shape {ids.shape} and dtype {ids.dtype}")
    if ids.dtype.kind == "u" and ids.size and ids.max() > np.iinfo(np.int64).max:
        raise SpikeFileError(f"{path}: unit ids overflow int64")
    n_units = _scalar(path, fields, "n_units", "iu", None)
    t_start = _scalar(path, fields, "t_start", "iuf", 0.0)
    t_stop = _scalar(path, fields, "t_stop", "iuf", None)
    units = fields.get("units", {})
    for name, column in units.items():
        if column.dtype.kind not in _META_KINDS:
            raise SpikeFileError(f"{path}: unit metadata '{name}' has unsupported dtype {column.dtype}")
    if n_units is None:
        n_units = int(ids.max()) + 1 if ids.size else 0
    if t_stop is None:
        t_stop = float(times.max()) if times.size else float(t_start)
    try:
        return SpikeRecord(times.astype(np.float64, copy=False), ids.astype(np.int64, copy=False), int(n_units),
                           float(t_start), float(t_stop), units, str(path))
    except SpikeRecordError as error:
        raise SpikeFileError(str(error)) from None


# -- npz -------------------------------------------------------------------------------------
def _write_npz(record: SpikeRecord | _Silent, columns: dict[str, np.ndarray], tmp: Path) -> None:
    arrays = {"format": np.array(FORMAT), "version": np.array(VERSION, dtype=np.int64),
              "times": record.times, "ids": record.ids, "n_units": np.array(record.n_units, dtype=np.int64),
              "t_start": np.array(record.t_start), "t_stop": np.array(record.t_stop)}
    arrays.update({f"unit:{name}": column for name, column in columns.items()})
    with open(tmp, "wb") as handle:  # a file object: np.savez would append '.npz' to a name
        np.savez(handle, **arrays)


def _read_npz(path: Path) -> dict:
    with open(path, "rb") as handle:
        if handle.read(4) != b"PK\x03\x04":  # np.load would try other formats on non-zip input
            raise SpikeFileError(f"{path}: not an npz file (no zip archive header)")
    fields: dict[str, Any] = {"units": {}}
    with np.load(path, allow_pickle=False) as data:
        for key in data.files:
            try:
                value = data[key]
            except ValueError as error:  # object arrays need pickle: refused
                raise SpikeFileError(f"{path}: field '{key}' has a wrong dtype ({error})") from None
            if key.startswith("unit:"):
                fields["units"][key[5:]] = value
            else:
                fields[key] = value
    if "times" not in fields and "times_ms" in fields and "format" not in fields:
        return _from_old_run(path, fields)
    return fields


def _from_old_run(path: Path, fields: dict) -> dict:
    """The fields of a run folder's ``spikes.npz`` written before the one format:
    ``times_ms``, ``ids``, ``n_neurons``, ``duration_ms`` (ms), in s; sorted by time."""
    times_ms = np.asarray(fields.pop("times_ms"))
    if times_ms.ndim != 1 or times_ms.dtype.kind not in "iuf":
        raise SpikeFileError(f"{path}: field 'times_ms' must be a 1-D array of milliseconds, "
                             f"got shape {times_ms.shape} and dtype {times_ms.dtype}")
    times = times_ms.astype(np.float64) / 1000.0
    if "ids" in fields and np.shape(fields["ids"]) == times.shape:
        order = np.argsort(times, kind="stable")  # the old writer did not promise time order
        times, fields["ids"] = times[order], np.asarray(fields["ids"])[order]
    fields["times"] = times
    if "n_neurons" in fields:
        fields["n_units"] = fields.pop("n_neurons")
    if "duration_ms" in fields:
        duration_ms = np.asarray(fields.pop("duration_ms"))
        if duration_ms.ndim != 0 or duration_ms.dtype.kind not in "iuf":
            raise SpikeFileError(f"{path}: field 'duration_ms' must be a single number, "
                                 f"got shape {duration_ms.shape} and dtype {duration_ms.dtype}")
        fields["t_stop"] = np.float64(duration_ms) / 1000.0
    fields["t_start"] = np.float64(0.0)
    return fields


# -- HDF5 ------------------------------------------------------------------------------------
def _write_hdf5(record: SpikeRecord | _Silent, columns: dict[str, np.ndarray], tmp: Path) -> None:
    import h5py

    with h5py.File(tmp, "w") as f:
        f.attrs.update({"format": FORMAT, "version": VERSION, "n_units": np.int64(record.n_units),
                        "t_start": record.t_start, "t_stop": record.t_stop, "time_unit": "s"})
        f.create_dataset("times", data=record.times)
        f.create_dataset("ids", data=record.ids)
        group = f.create_group("units")
        for name, column in columns.items():
            if column.dtype.kind == "U":
                group.create_dataset(name, data=column.astype(object), dtype=h5py.string_dtype("utf-8"))
            else:
                group.create_dataset(name, data=column)


def _read_hdf5(path: Path) -> dict:
    import h5py

    fields: dict[str, Any] = {"units": {}}
    with h5py.File(path, "r") as f:
        for key in ("format", "version", "n_units", "t_start", "t_stop"):
            if key in f.attrs:
                value = f.attrs[key]
                fields[key] = value.decode() if isinstance(value, bytes) else value
        for key in ("times", "ids"):
            if key in f:
                if not isinstance(f[key], h5py.Dataset):
                    raise SpikeFileError(f"{path}: '{key}' must be a dataset, found a group")
                fields[key] = f[key][()]
        if "units" in f:
            for name, ds in f["units"].items():
                if not isinstance(ds, h5py.Dataset):
                    raise SpikeFileError(f"{path}: unit metadata '{name}' must be a dataset")
                info = h5py.check_string_dtype(ds.dtype)
                if info is not None and info.length is None:  # variable-length text; fixed-length stays bytes
                    fields["units"][name] = np.asarray(ds.asstr()[()], dtype=str)
                else:
                    fields["units"][name] = ds[()]
    return fields


# -- NWB -------------------------------------------------------------------------------------
def _pynwb():
    try:
        import pynwb
    except ImportError:
        raise ImportError("reading and writing NWB files needs pynwb: pip install 'synaptica[nwb]'") from None
    return pynwb


def _read_nwb(path: Path) -> dict:
    pynwb = _pynwb()
    from hdmf.common import DynamicTableRegion, VectorIndex

    with pynwb.NWBHDF5IO(str(path), "r") as io, warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=ATTRIBUTE_WARNING)
        nwbfile = io.read()
        units = nwbfile.units
        if units is None:
            raise SpikeFileError(f"{path}: the NWB file has no units table")
        if "spike_times" not in units.colnames:
            raise SpikeFileError(f"{path}: the NWB units table has no spike_times column")
        n = len(units.id)
        index = units["spike_times"]
        bounds = np.concatenate([[0], np.asarray(index.data[:], dtype=np.int64)])
        values = np.asarray(index.target.data[:])
        if values.ndim != 1 or values.dtype.kind != "f":
            raise SpikeFileError(f"{path}: spike_times must be floats (s), got dtype {values.dtype}")
        if bounds.size != n + 1 or np.any(np.diff(bounds) < 0) or bounds[-1] != values.size:
            raise SpikeFileError(f"{path}: the spike_times index does not match the {values.size} spike times")
        ids = np.repeat(np.arange(n), np.diff(bounds))
        back = np.flatnonzero((np.diff(values) < 0) & (ids[1:] == ids[:-1]))
        if back.size:
            i = int(back[0])
            raise SpikeFileError(f"{path}: spike times of unit {ids[i]} are not sorted "
                                 f"({values[i + 1]} s follows {values[i]} s)")
        t_start, t_stop = 0.0, None
        if "obs_intervals" in units.colnames:
            intervals = np.asarray(units["obs_intervals"].target.data[:], dtype=np.float64).reshape(-1, 2)
            if intervals.size:
                t_start, t_stop = float(intervals[:, 0].min()), float(intervals[:, 1].max())
        if t_stop is None:  # no window stored: the latest epoch / trial end, else the last spike
            stops = [float(np.max(table["stop_time"].data[:])) for table in (nwbfile.epochs, nwbfile.trials)
                     if table is not None and len(table)]
            t_stop = max(stops + ([float(values.max())] if values.size else []), default=None)
        meta = {}
        for name in units.colnames:
            if name in _NWB_RESERVED:
                continue
            column = units[name]
            if isinstance(column, (VectorIndex, DynamicTableRegion)):
                continue  # ragged or references: not a per-unit value
            data = np.asarray(column.data[:])
            if data.dtype.kind == "O" and all(isinstance(v, (str, bytes)) for v in data.ravel()):
                data = np.array([v.decode() if isinstance(v, bytes) else v for v in data.ravel()],
                                dtype=str).reshape(data.shape)
            if data.dtype.kind in _META_KINDS and data.shape[:1] == (n,):
                meta[name] = data
        unit_ids = np.asarray(units.id.data[:])
        if not np.array_equal(unit_ids, np.arange(n)):
            meta.setdefault("unit_id", unit_ids)
    order = np.argsort(values, kind="stable")
    fields = {"times": values[order], "ids": ids[order], "n_units": np.int64(n), "t_start": t_start, "units": meta}
    if t_stop is not None:
        fields["t_stop"] = t_stop
    return fields

