"""Spike-record files (npz, HDF5, NWB), neo / pynapple conversion, records from monitors."""
from __future__ import annotations

import datetime
import importlib.util
import os
import pickle
import zipfile

import h5py
import numpy as np
import pytest

from synaptica.record import SpikeRecord, SpikeRecordError
from synaptica.io import spikes as spikes_module
from synaptica.io.spikes import FORMAT, VERSION, SpikeFileError, load_record, save_record, save_spikes

needs_pynwb = pytest.mark.skipif(importlib.util.find_spec("pynwb") is None,
                                 reason="pynwb not installed: pip install 'synaptica[nwb]'")
SUFFIXES = [".npz", ".h5", ".hdf5", pytest.param(".nwb", marks=needs_pynwb)]


def make_record(seed: int = 0) -> SpikeRecord:
    """6 units (unit 5 silent), times that are not round in binary, a tie between units,
    metadata of every storable kind including a 2-D column."""
    rng = np.random.default_rng(seed)
    times = np.sort(rng.uniform(0.3, 4.7, 300)) + 1e-12 * rng.random(300)
    times = np.sort(np.concatenate([times, [0.1 + 0.2, 0.1 + 0.2]]))
    ids = rng.integers(0, 5, times.size)
    tie = np.flatnonzero(times == 0.1 + 0.2)
    ids[tie] = [1, 3]
    order = np.lexsort((ids, times))  # (time, id) order: the order every format gives back
    units = {"name": np.array([f"unit{k}" for k in range(6)]),
             "depth": np.linspace(10, 60, 6).astype(np.float32),
             "channel": np.arange(6, dtype=np.int16) * 3,
             "good": np.array([True, False, True, True, False, True]),
             "position": rng.normal(size=(6, 2))}
    return SpikeRecord(times[order], ids[order], 6, 0.25, 5.0, units)


def assert_same(loaded: SpikeRecord, record: SpikeRecord, exact_dtypes: bool = True) -> None:
    assert loaded.times.dtype == np.float64 and loaded.ids.dtype == np.int64
    assert np.array_equal(loaded.times.view(np.uint64), record.times.view(np.uint64))  # bit for bit
    assert np.array_equal(loaded.ids, record.ids)
    assert (loaded.n_units, loaded.t_start, loaded.t_stop) == (record.n_units, record.t_start, record.t_stop)
    assert sorted(loaded.units) == sorted(record.units)
    for name, column in record.units.items():
        assert np.array_equal(loaded.units[name], column), name
        assert loaded.units[name].dtype.kind == column.dtype.kind, name
        if exact_dtypes and column.dtype.kind != "U":
            assert loaded.units[name].dtype == column.dtype, name


# -- round trips ---------------------------------------------------------------------------------
@pytest.mark.parametrize("suffix", SUFFIXES)
def test_round_trip_preserves_everything(tmp_path, suffix):
    record = make_record()
    path = tmp_path / f"rec{suffix}"
    assert save_record(record, path) == path
    loaded = load_record(path)
    assert_same(loaded, record)
    assert loaded.source == str(path)
    assert sorted(os.listdir(tmp_path)) == [path.name]  # no temporary file left


def test_npz_and_hdf5_keep_the_stored_order_and_byte_strings(tmp_path):
    times = np.array([0.5, 0.5, 0.7])
    record = SpikeRecord(times, np.array([2, 0, 1]), 3, 0.0, 1.0, {"tag": np.array([b"a", b"bb", b"c"])})
    for suffix in (".npz", ".h5"):
        loaded = load_record(save_record(record, tmp_path / f"r{suffix}"))
        assert np.array_equal(loaded.ids, [2, 0, 1])
        assert loaded.units["tag"].dtype.kind == "S" and np.array_equal(loaded.units["tag"], record.units["tag"])


def test_object_metadata_of_strings_is_stored_as_text(tmp_path):
    record = SpikeRecord(np.array([0.1]), np.array([0]), 2, 0.0, 1.0, {"label": np.array(["a", "bc"], dtype=object)})
    loaded = load_record(save_record(record, tmp_path / "r.npz"))
    assert loaded.units["label"].dtype.kind == "U" and list(loaded.units["label"]) == ["a", "bc"]


def test_overwrite_replaces_the_file(tmp_path):
    path = tmp_path / "r.h5"
    save_record(make_record(0), path)
    save_record(make_record(1), path)
    assert_same(load_record(path), make_record(1))


def test_written_file_has_ordinary_permissions(tmp_path):
    umask = os.umask(0)
    os.umask(umask)
    path = save_record(make_record(), tmp_path / "r.npz")
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


def test_format_override(tmp_path):
    path = tmp_path / "record.bin"
    save_record(make_record(), path, format="h5")
    assert h5py.is_hdf5(path)
    assert_same(load_record(path, format="hdf5"), make_record())
    with pytest.raises(SpikeFileError, match="unknown format 'csv'"):
        load_record(path, format="csv")


# -- missing / unknown / corrupt files -------------------------------------------------------------
def test_missing_file_and_unknown_suffix(tmp_path):
    with pytest.raises(SpikeFileError, match=r"nothing\.npz: no such file"):
        load_record(tmp_path / "nothing.npz")
    (tmp_path / "spikes.csv").write_text("0.1,0\n")
    with pytest.raises(SpikeFileError, match=r"spikes\.csv: unknown file type '\.csv'"):
        load_record(tmp_path / "spikes.csv")
    with pytest.raises(SpikeFileError, match=r"out\.mat: unknown file type"):
        save_record(make_record(), tmp_path / "out.mat")
    with pytest.raises(SpikeFileError, match="does not exist"):
        save_record(make_record(), tmp_path / "no_folder" / "r.npz")
    (tmp_path / "folder.npz").mkdir()
    with pytest.raises(SpikeFileError, match="is a folder"):
        load_record(tmp_path / "folder.npz")
    with pytest.raises(SpikeFileError, match=r"folder\.npz: cannot write \(Is a directory\)"):
        save_record(make_record(), tmp_path / "folder.npz")
    assert sorted(os.listdir(tmp_path)) == ["folder.npz", "spikes.csv"]
    with pytest.raises(SpikeFileError, match="expected a SpikeRecord"):
        save_record([0.1, 0.2], tmp_path / "r.npz")


@pytest.mark.parametrize("suffix", [".npz", ".h5", pytest.param(".nwb", marks=needs_pynwb)])
@pytest.mark.parametrize("damage", ["half", "random", "empty", "header"])
def test_corrupt_or_truncated_file(tmp_path, suffix, damage):
    path = save_record(make_record(), tmp_path / f"r{suffix}")
    raw = path.read_bytes()
    if damage == "half":
        path.write_bytes(raw[: len(raw) // 2])
    elif damage == "random":
        path.write_bytes(np.random.default_rng(1).bytes(len(raw)))
    elif damage == "empty":
        path.write_bytes(b"")
    else:  # the first 64 bytes (file signature / zip header) overwritten
        path.write_bytes(b"\0" * 64 + raw[64:])
    with pytest.raises(SpikeFileError) as info:
        load_record(path)
    assert str(path) in str(info.value)
    error = info.value  # no chained library traceback
    assert error.__cause__ is None and (error.__context__ is None or error.__suppress_context__)


def test_npz_with_damaged_data_is_detected(tmp_path):
    """A flipped byte inside a stored array fails the zip CRC check."""
    path = save_record(make_record(), tmp_path / "r.npz")
    raw = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo("times.npy")
    raw[info.header_offset + 30 + len(info.filename) + 200] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(SpikeFileError, match=r"r\.npz: cannot read npz file.*CRC"):
        load_record(path)


# -- fields, dtypes, validation --------------------------------------------------------------------
GOOD = {"format": np.array(FORMAT), "version": np.array(VERSION), "times": np.array([0.1, 0.2, 0.3]),
        "ids": np.array([0, 1, 0]), "n_units": np.array(2), "t_start": np.array(0.0), "t_stop": np.array(1.0)}


def write_npz(path, **changes):
    fields = {**GOOD, **changes}
    np.savez(path, **{k: v for k, v in fields.items() if v is not None})
    return path


def write_h5(path, **changes):
    fields = {**GOOD, **changes}
    with h5py.File(path, "w") as f:
        for key, value in fields.items():
            if value is None:
                continue
            if key in ("times", "ids"):
                f.create_dataset(key, data=value)
            else:
                f.attrs[key] = str(value) if value.dtype.kind == "U" else value
    return path


BAD = [  # (changes, words the message must contain)
    ({"ids": None}, "missing field 'ids'"),
    ({"times": None}, "missing field 'times'"),
    ({"times": np.array([1, 2, 3])}, "'times' must be a 1-D float array"),
    ({"times": np.array([[0.1, 0.2, 0.3]])}, "'times' must be a 1-D float array"),
    ({"ids": np.array([0.0, 1.0, 0.0])}, "'ids' must be a 1-D integer array"),
    ({"n_units": np.array(2.0)}, "'n_units' must be a single integer"),
    ({"t_stop": np.array([1.0, 2.0])}, "'t_stop' must be a single number"),
    ({"format": np.array("someone.else")}, "not a synaptica spike file"),
    ({"version": np.array(VERSION + 1)}, f"format version {VERSION + 1}"),
    ({"times": np.array([0.1, 0.3, 0.2])}, "not sorted: spike 2 at 0.2 s follows 0.3 s"),
    ({"times": np.array([-0.1, 0.2, 0.3])}, "negative time"),
    ({"ids": np.array([0, 2, 0])}, "unit ids must lie in [0, 2)"),
    ({"t_stop": np.array(0.25)}, "t_stop (0.25 s) is before the last spike (0.3 s)"),
    ({"times": np.zeros(0), "ids": np.zeros(0, dtype=np.int64)}, "empty"),
    ({"n_units": np.array(0)}, "empty"),
]


@pytest.mark.parametrize("writer, suffix", [(write_npz, ".npz"), (write_h5, ".h5")])
@pytest.mark.parametrize("changes, words", BAD)
def test_bad_content_gives_clear_error(tmp_path, writer, suffix, changes, words):
    path = writer(tmp_path / f"bad{suffix}", **changes)
    with pytest.raises(SpikeFileError) as info:
        load_record(path)
    assert type(info.value) is SpikeFileError and isinstance(info.value, ValueError)
    assert str(info.value).startswith(f"{path}: ")
    assert words in str(info.value)


@pytest.mark.parametrize("writer, suffix", [(write_npz, ".npz"), (write_h5, ".h5")])
def test_hand_written_file_without_window_gets_defaults(tmp_path, writer, suffix):
    path = writer(tmp_path / f"plain{suffix}", format=None, version=None, n_units=None, t_start=None, t_stop=None)
    record = load_record(path)
    assert (record.n_units, record.t_start, record.t_stop) == (2, 0.0, 0.3)


def test_npz_loading_never_unpickles(tmp_path):
    marker = tmp_path / "executed"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    path = tmp_path / "evil.npz"
    np.savez(path, times=np.array([0.1]), ids=np.array([Payload()], dtype=object))
    with pytest.raises(SpikeFileError, match="field 'ids' has a wrong dtype"):
        load_record(path)
    # a pickle disguised as an npz file is refused too
    (tmp_path / "pickle.npz").write_bytes(pickle.dumps(Payload()))
    with pytest.raises(SpikeFileError, match="not an npz file"):
        load_record(tmp_path / "pickle.npz")
    assert not marker.exists()


def test_hdf5_group_instead_of_dataset(tmp_path):
    path = tmp_path / "g.h5"
    with h5py.File(path, "w") as f:
        f.create_group("times")
        f.create_dataset("ids", data=[0])
    with pytest.raises(SpikeFileError, match="'times' must be a dataset"):
        load_record(path)


def test_unstorable_metadata_refused_before_writing(tmp_path):
    odd = SpikeRecord(np.array([0.1]), np.array([0]), 2, 0.0, 1.0, {"obj": np.array([{}, None], dtype=object)})
    with pytest.raises(SpikeFileError, match="'obj' holds Python objects"):
        save_record(odd, tmp_path / "r.h5")
    slash = SpikeRecord(np.array([0.1]), np.array([0]), 2, 0.0, 1.0, {"a/b": np.zeros(2)})
    with pytest.raises(SpikeFileError, match="contain no '/'"):
        save_record(slash, tmp_path / "r.npz")
    assert os.listdir(tmp_path) == []


# -- spike arrays (what `synaptica run` writes) and run folders of the old format -----------------------
@pytest.mark.parametrize("suffix", [".npz", ".h5"])
def test_save_spikes_sorts_and_round_trips(tmp_path, suffix):
    path = save_spikes(tmp_path / f"run{suffix}", [0.3, 0.1, 0.2, 0.1], [1, 0, 2, 2], n_units=4, t_stop=0.5,
                       units={"group": np.array(["e", "e", "i", ""])})
    record = load_record(path)
    assert np.array_equal(record.times, [0.1, 0.1, 0.2, 0.3]) and np.array_equal(record.ids, [0, 2, 2, 1])
    assert (record.n_units, record.t_start, record.t_stop) == (4, 0.0, 0.5)
    assert list(record.units["group"]) == ["e", "e", "i", ""]


def test_save_spikes_of_a_silent_run_writes_a_file_refused_as_empty(tmp_path):
    path = save_spikes(tmp_path / "silent.npz", [], [], n_units=3, t_stop=0.2, units={"group": np.array(["a"] * 3)})
    with np.load(path) as data:
        assert data["times"].size == 0 and int(data["n_units"]) == 3 and float(data["t_stop"]) == 0.2
    with pytest.raises(SpikeFileError, match=r"silent\.npz: the record is empty: it has no spikes"):
        load_record(path)


@pytest.mark.parametrize("kwargs, words", [
    ({"times": [0.1, 0.3], "ids": [0, 5]}, "cannot write, unit ids must lie in [0, 2)"),
    ({"times": [0.1, 0.9], "ids": [0, 1]}, "cannot write, t_stop (0.5 s) is before the last spike (0.9 s)"),
    ({"times": [-0.1, 0.2], "ids": [0, 1]}, "cannot write, negative time"),
    ({"times": [], "ids": [], "n_units": 0}, "cannot write a record without units"),
    ({"times": [], "ids": [], "t_stop": 0.0}, "0 <= t_start < t_stop"),
])
def test_save_spikes_refuses_bad_spikes_naming_the_file(tmp_path, kwargs, words):
    args = {"n_units": 2, "t_stop": 0.5, **kwargs}
    with pytest.raises(SpikeFileError) as info:
        save_spikes(tmp_path / "r.npz", args.pop("times"), args.pop("ids"), **args)
    assert str(info.value).startswith(f"{tmp_path / 'r.npz'}: ") and words in str(info.value)
    assert os.listdir(tmp_path) == []


def old_run_npz(path, **changes):
    """spikes.npz as `synaptica run` wrote it before the one format: ms, n_neurons, duration_ms."""
    fields = {"times_ms": np.array([12.5, 3.0, 3.0, 250.0]), "ids": np.array([1, 0, 2, 1]),
              "n_neurons": np.int64(4), "duration_ms": np.float64(300.0), **changes}
    np.savez(path, **{k: v for k, v in fields.items() if v is not None})
    return path


def test_old_run_folder_spikes_still_load_in_seconds(tmp_path):
    record = load_record(old_run_npz(tmp_path / "spikes.npz"))
    assert np.array_equal(record.times, [0.003, 0.003, 0.0125, 0.25])  # ms -> s, sorted by time (stably)
    assert np.array_equal(record.ids, [0, 2, 1, 1])
    assert (record.n_units, record.t_start, record.t_stop) == (4, 0.0, 0.3)
    assert record.source == str(tmp_path / "spikes.npz")
    # a spike at the very end of the run stays inside the window after the conversion
    edge = load_record(old_run_npz(tmp_path / "edge.npz", times_ms=np.array([0.1, 299.9]), ids=np.array([0, 0]),
                                   duration_ms=np.float64(299.9)))
    assert edge.times[-1] == edge.t_stop


@pytest.mark.parametrize("changes, words", [
    ({"ids": None}, "missing field 'ids'"),
    ({"times_ms": np.array(["a", "b", "c", "d"])}, "'times_ms' must be a 1-D array of milliseconds"),
    ({"duration_ms": np.array([1.0, 2.0])}, "'duration_ms' must be a single number"),
    ({"duration_ms": np.float64(100.0)}, "t_stop (0.1 s) is before the last spike (0.25 s)"),
    ({"n_neurons": np.int64(2)}, "unit ids must lie in [0, 2)"),
    ({"times_ms": np.zeros(0), "ids": np.zeros(0, dtype=np.int64)}, "empty"),
])
def test_old_run_folder_with_bad_content_names_the_file(tmp_path, changes, words):
    path = old_run_npz(tmp_path / "spikes.npz", **changes)
    with pytest.raises(SpikeFileError) as info:
        load_record(path)
    assert str(info.value).startswith(f"{path}: ") and words in str(info.value)


# -- atomic writes ------------------------------------------------------------------------------------
@pytest.mark.parametrize("error", [RuntimeError("disk full"), KeyboardInterrupt()])
def test_failed_write_leaves_nothing(tmp_path, monkeypatch, error):
    def broken(record, columns, tmp):
        tmp.write_bytes(b"PK\x03\x04 half written")
        raise error

    monkeypatch.setattr(spikes_module, "_write_npz", broken)
    with pytest.raises(SpikeFileError if isinstance(error, Exception) else KeyboardInterrupt) as info:
        save_record(make_record(), tmp_path / "r.npz")
    if isinstance(error, Exception):
        assert "r.npz: cannot write npz file (RuntimeError: disk full)" in str(info.value)
    assert os.listdir(tmp_path) == []


def test_failed_write_keeps_the_previous_file(tmp_path, monkeypatch):
    path = save_record(make_record(0), tmp_path / "r.npz")
    before = path.read_bytes()

    def broken(record, columns, tmp):
        tmp.write_bytes(b"garbage")
        raise OSError("no space left on device")

    monkeypatch.setattr(spikes_module, "_write_npz", broken)
    with pytest.raises(SpikeFileError, match="no space left"):
        save_record(make_record(1), path)
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["r.npz"]


# -- NWB written elsewhere ------------------------------------------------------------------------------
def foreign_nwb(path, *, obs_intervals=False, trials_until=None, unsorted=False, ids=(10, 20, 30)):
    """An NWB file as another lab's pynwb script would write it: ragged spike_times, extra
    columns, own unit ids, optional obs_intervals and trials."""
    import pynwb

    nwbfile = pynwb.NWBFile(session_description="other lab", identifier="x",
                            session_start_time=datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc))
    nwbfile.add_unit_column("quality", "curation label")
    nwbfile.add_unit_column("depth", "um")
    trains = [[0.5, 1.25, 3.0], [], [0.75, 2.0]]
    if unsorted:
        trains[2] = [2.0, 0.75]
    for unit_id, train, quality, depth in zip(ids, trains, ["good", "mua", "good"], [100.0, 250.0, 400.0]):
        extra = {"obs_intervals": [[0.2, 3.5], [4.0, 6.0]]} if obs_intervals else {}
        nwbfile.add_unit(id=unit_id, spike_times=train, quality=quality, depth=depth, **extra)
    if trials_until is not None:
        nwbfile.add_trial(start_time=0.0, stop_time=trials_until / 2)
        nwbfile.add_trial(start_time=trials_until / 2, stop_time=trials_until)
    with pynwb.NWBHDF5IO(str(path), "w") as io:
        io.write(nwbfile)
    return path


@needs_pynwb
def test_reads_nwb_written_by_someone_else(tmp_path):
    record = load_record(foreign_nwb(tmp_path / "lab.nwb", trials_until=8.0))
    assert np.array_equal(record.times, [0.5, 0.75, 1.25, 2.0, 3.0])
    assert np.array_equal(record.ids, [0, 2, 0, 2, 0])
    assert (record.n_units, record.t_start, record.t_stop) == (3, 0.0, 8.0)
    assert list(record.units["quality"]) == ["good", "mua", "good"] and record.units["quality"].dtype.kind == "U"
    assert np.array_equal(record.units["depth"], [100.0, 250.0, 400.0])
    assert np.array_equal(record.units["unit_id"], [10, 20, 30])


@needs_pynwb
def test_nwb_window_from_obs_intervals_or_last_spike(tmp_path):
    record = load_record(foreign_nwb(tmp_path / "a.nwb", obs_intervals=True, ids=(0, 1, 2)))
    assert (record.t_start, record.t_stop) == (0.2, 6.0) and "unit_id" not in record.units
    record = load_record(foreign_nwb(tmp_path / "b.nwb"))
    assert (record.t_start, record.t_stop) == (0.0, 3.0)


@needs_pynwb
def test_nwb_bad_content(tmp_path):
    import pynwb

    path = foreign_nwb(tmp_path / "unsorted.nwb", unsorted=True)
    with pytest.raises(SpikeFileError, match=r"unsorted\.nwb: spike times of unit 2 are not sorted"):
        load_record(path)
    path = tmp_path / "no_units.nwb"
    with pynwb.NWBHDF5IO(str(path), "w") as io:
        io.write(pynwb.NWBFile(session_description="x", identifier="y",
                               session_start_time=datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)))
    with pytest.raises(SpikeFileError, match=r"no_units\.nwb: the NWB file has no units table"):
        load_record(path)
    clash = SpikeRecord(np.array([0.1]), np.array([0]), 1, 0.0, 1.0, {"spike_times": np.zeros(1)})
    with pytest.raises(SpikeFileError, match="clashes with a standard NWB Units column"):
        save_record(clash, tmp_path / "clash.nwb")
    assert not (tmp_path / "clash.nwb").exists()


@needs_pynwb
def test_missing_pynwb_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "pynwb", None)
    with pytest.raises(ImportError, match=r"pip install 'synaptica\[nwb\]'"):
        save_record(make_record(), tmp_path / "r.nwb")
    assert os.listdir(tmp_path) == []


# -- neo and pynapple -------------------------------------------------------------------------------------
def lexsorted(record):
    order = np.lexsort((record.ids, record.times))
    return record.times[order], record.ids[order]


def test_neo_round_trip():
    neo = pytest.importorskip("neo")
    from synaptica.io.interop import from_neo, to_neo

    record = make_record()
    trains = to_neo(record)
    assert len(trains) == 6 and all(isinstance(t, neo.SpikeTrain) for t in trains)
    for train, expected, name in zip(trains, record.trains(), record.units["name"]):
        assert str(train.units.dimensionality) == "s" and train.name == name
        assert float(train.t_start) == 0.25 and float(train.t_stop) == 5.0
        assert np.array_equal(train.magnitude, expected)
    assert trains[3].annotations["channel"] == 9 and trains[1].annotations["good"] == np.False_
    assert trains[5].size == 0
    back = from_neo(trains)
    assert_same(back, record)
    assert len(record.to_neo()) == 6  # the record's own method delegates


def test_from_neo_converts_units_and_refuses_junk():
    pytest.importorskip("neo")
    import neo
    import quantities as pq

    from synaptica.io.interop import InteropError, from_neo, to_neo

    trains = [neo.SpikeTrain([250.0, 100.0], t_start=50 * pq.ms, t_stop=2 * pq.s, units="ms"),
              neo.SpikeTrain([1.5], t_stop=3.0, units="s")]
    record = from_neo(trains)
    assert np.allclose(record.times, [0.1, 0.25, 1.5]) and np.array_equal(record.ids, [0, 0, 1])
    assert (record.t_start, record.t_stop) == (0.0, 3.0) and record.units == {}
    with pytest.raises(InteropError, match="no spike trains"):
        from_neo([])
    with pytest.raises(InteropError, match="item 0 is a list"):
        from_neo([[0.1, 0.2]])
    with pytest.raises(InteropError, match="expects a SpikeRecord"):
        to_neo([0.1])


def test_pynapple_round_trip():
    nap = pytest.importorskip("pynapple")
    from synaptica.io.interop import from_pynapple, to_pynapple

    record = make_record()
    one_d = SpikeRecord(record.times, record.ids, 6, 0.25, 5.0,
                        {k: v for k, v in record.units.items() if v.ndim == 1})
    group = to_pynapple(one_d)
    assert isinstance(group, nap.TsGroup) and list(group.keys()) == list(range(6))
    assert float(group.time_support.start[0]) == 0.25 and float(group.time_support.end[0]) == 5.0
    for k, expected in enumerate(one_d.trains()):
        assert np.array_equal(group[k].index.values, expected)
    assert list(group.metadata["name"]) == list(one_d.units["name"])
    assert np.allclose(group.metadata["rate"], np.bincount(one_d.ids, minlength=6) / 4.75)
    back = from_pynapple(group)
    assert "rate" not in back.units
    times, ids = lexsorted(back)
    assert np.array_equal(times.view(np.uint64), one_d.times.view(np.uint64)) and np.array_equal(ids, one_d.ids)
    assert (back.n_units, back.t_start, back.t_stop) == (6, 0.25, 5.0)
    for name, column in one_d.units.items():
        assert np.array_equal(back.units[name], column) and back.units[name].dtype.kind == column.dtype.kind


def test_pynapple_keys_and_refusals():
    nap = pytest.importorskip("pynapple")
    from synaptica.io.interop import InteropError, from_pynapple, to_pynapple

    support = nap.IntervalSet(start=[0.0, 5.0], end=[2.0, 9.0])
    group = nap.TsGroup({3: nap.Ts(t=np.array([0.5, 1.0]), time_support=support),
                         7: nap.Ts(t=np.array([6.0]), time_support=support)}, time_support=support)
    record = from_pynapple(group)
    assert np.array_equal(record.units["unit_id"], [3, 7]) and (record.t_start, record.t_stop) == (0.0, 9.0)
    assert np.array_equal(record.ids, [0, 0, 1])
    with pytest.raises(InteropError, match="'position' is not 1-D"):
        to_pynapple(make_record())
    rate = SpikeRecord(np.array([0.1]), np.array([0]), 1, 0.0, 1.0, {"rate": np.ones(1)})
    with pytest.raises(InteropError, match="rate"):
        to_pynapple(rate)
    with pytest.raises(InteropError, match="expects a pynapple.TsGroup"):
        from_pynapple([1, 2])


def test_missing_interop_package_names_the_extra(monkeypatch):
    from synaptica.io.interop import to_neo, to_pynapple

    monkeypatch.setitem(__import__("sys").modules, "neo", None)
    monkeypatch.setitem(__import__("sys").modules, "pynapple", None)
    for convert in (to_neo, to_pynapple):
        with pytest.raises(ImportError, match=r"pip install 'synaptica\[interop\]'"):
            convert(make_record())


# -- records from the engine's monitors ---------------------------------------------------------------
def test_from_monitor_on_a_small_network(tmp_path):
    import torch

    from synaptica.engine.network import Network
    from synaptica.neurons import LIF

    dt = 0.1
    net = Network(dt=dt, dtype=torch.float64, seed=2)
    given_ms = np.array([1.23, 4.0, 4.0, 7.77, 15.5])
    given_ids = np.array([2, 0, 3, 1, 2])
    gen = net.add_spike_generator(4, given_ms, given_ids, name="gen")
    pop = net.add_population(8, LIF(), name="pop")
    pop.i_ext[0, :3] = 1e6  # three neurons fire every refractory period
    gen_mon, pop_mon = net.monitor_spikes(gen), net.monitor_spikes(pop)
    with pytest.raises(SpikeRecordError, match="monitor 'spikes:gen': the record is empty"):
        SpikeRecord.from_monitor(gen_mon, 20.0)
    net.run(20.0, backend="torch")  # no kernel to compile: keeps the test fast

    record = SpikeRecord.from_monitor(gen_mon, 20.0)
    order = np.lexsort((given_ids, given_ms))
    expected = np.round(given_ms / dt)[order] * dt / 1000.0  # stamped at the start of the step, in s
    assert np.allclose(record.times, expected, rtol=0, atol=1e-12)
    assert np.array_equal(np.sort(record.ids[record.times == record.times[1]]), [0, 3])
    assert (record.n_units, record.t_start, record.t_stop) == (4, 0.0, 0.02)

    record = SpikeRecord.from_monitor(pop_mon, 20.0)
    assert record.n_units == 8 and record.n_spikes == pop_mon.count > 0
    assert set(np.unique(record.ids)) == {0, 1, 2}
    assert np.all(np.diff(record.times) >= 0)
    late = SpikeRecord.from_monitor(pop_mon, 20.0, t_start_ms=10.0)  # the first 10 ms are left out
    assert late.t_start == 0.01 and late.times.min() >= 0.01
    assert late.n_spikes == int(np.sum(pop_mon.times_ms >= 10.0))
    assert_same(load_record(save_record(record, tmp_path / "pop.h5")), record)
    with pytest.raises(SpikeRecordError, match="before the last spike"):
        SpikeRecord.from_monitor(pop_mon, 10.0)


def test_record_does_not_freeze_the_callers_arrays():
    times, ids = np.array([0.1, 0.2]), np.array([0, 1])
    record = SpikeRecord(times, ids, 2, 0.0, 1.0)
    assert times.flags.writeable and ids.flags.writeable
    assert not record.times.flags.writeable and not record.ids.flags.writeable
    with pytest.raises(ValueError):
        record.times[0] = 0.5


# -- IDX image datasets (MNIST format): bad files refused, naming the file --------------------------

import gzip  # noqa: E402
from pathlib import Path  # noqa: E402

from click.testing import CliRunner  # noqa: E402

from synaptica.cli.main import main  # noqa: E402
from synaptica.datasets import DatasetError, load_images  # noqa: E402
from synaptica.io.idx import IDXError, read_idx  # noqa: E402

MNIST = Path("/work/shared/data/mnist")


def _idx(array: np.ndarray, type_code: int = 0x08) -> bytes:
    return bytes([0, 0, type_code, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape) \
        + array.tobytes()


def _dataset(folder, images: bytes, labels: bytes, gz: bool = True):
    folder.mkdir(exist_ok=True)
    suffix = ".gz" if gz else ""
    (folder / f"t-images-idx3-ubyte{suffix}").write_bytes(gzip.compress(images) if gz else images)
    (folder / f"t-labels-idx1-ubyte{suffix}").write_bytes(gzip.compress(labels) if gz else labels)
    return folder


GOOD_IMAGES = np.arange(5 * 4 * 4, dtype=np.uint8).reshape(5, 4, 4)
GOOD_LABELS = np.array([0, 1, 9, 3, 4], dtype=np.uint8)


def test_a_good_idx_dataset_loads(tmp_path):
    x, y, shape = load_images(str(_dataset(tmp_path / "d", _idx(GOOD_IMAGES), _idx(GOOD_LABELS))))
    assert shape == (4, 4) and x.shape == (5, 16) and np.array_equal(y, GOOD_LABELS)
    np.testing.assert_allclose(x * 255, GOOD_IMAGES.reshape(5, 16))


@pytest.mark.parametrize(("images", "labels", "expected"), [
    (_idx(GOOD_IMAGES), _idx(np.array([0, 1, 200, 3, 4], dtype=np.uint8)),
     r"t-labels-idx1-ubyte.gz: label 200 at index 2 is outside 0..9"),
    (_idx(GOOD_IMAGES.reshape(5, 16)), _idx(GOOD_LABELS), r"t-images-idx3-ubyte.gz: expected images as unsigned "
                                                          r"bytes \(n, height, width\), got shape \(5, 16\)"),
    (_idx(GOOD_IMAGES.astype(">i4"), 0x0C), _idx(GOOD_LABELS), r"t-images-idx3-ubyte.gz: .* dtype >i4"),
    (_idx(np.zeros((5, 0, 4), np.uint8)), _idx(GOOD_LABELS), r"t-images-idx3-ubyte.gz: images of shape \(0, 4\)"),
    (_idx(GOOD_IMAGES), _idx(GOOD_LABELS[:4]), r"t-images-idx3-ubyte.gz holds 5 images but t-labels-idx1-ubyte.gz "
                                               r"holds 4 labels"),
    (_idx(GOOD_IMAGES)[:-3], _idx(GOOD_LABELS), r"t-images-idx3-ubyte.gz: IDX data has .* \(truncated\)"),
    (_idx(GOOD_IMAGES) + b"xx", _idx(GOOD_LABELS), r"t-images-idx3-ubyte.gz: .*extra bytes after the data"),
    (b"\x1f\x8b\x08\x03" + _idx(GOOD_IMAGES)[4:], _idx(GOOD_LABELS), r"t-images-idx3-ubyte.gz: not an IDX file "
                                                                     r"\(bad magic number 1f8b0803\)"),
    (_idx(GOOD_IMAGES)[:10], _idx(GOOD_LABELS), r"t-images-idx3-ubyte.gz: truncated IDX header"),
    (bytes([0, 0, 8, 4]) + b"\xff\xff\xff\xff" * 4, _idx(GOOD_LABELS),  # 2**128 bytes declared
     r"t-images-idx3-ubyte.gz: IDX data has 20 bytes, the header \(4294967295, 4294967295, 4294967295, 4294967295\)"),
    (bytes([0, 0, 8, 0]), _idx(GOOD_LABELS), r"t-images-idx3-ubyte.gz: IDX header declares 0 dimensions"),
])
def test_bad_idx_datasets_are_refused_naming_the_file(tmp_path, images, labels, expected):
    folder = _dataset(tmp_path / "d", images, labels)
    with pytest.raises(ValueError, match=expected) as error:
        load_images(str(folder))
    assert isinstance(error.value, (DatasetError, IDXError)) and str(folder) in str(error.value)


def test_a_broken_gzip_stream_is_named(tmp_path):
    path = tmp_path / "x-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(_idx(GOOD_IMAGES))[:-12])
    with pytest.raises(IDXError, match="x-images-idx3-ubyte.gz: cannot read IDX file"):
        read_idx(path)


def test_stdp_digits_refuses_out_of_range_labels_before_running(tmp_path):
    folder = _dataset(tmp_path / "d", _idx(GOOD_IMAGES), _idx(np.array([0, 1, 200, 3, 4], dtype=np.uint8)))
    result = CliRunner().invoke(main, ["run", "stdp-digits", "--set", f"data={folder}", "--set", "n_train=2",
                                       "--set", "n_test=2", "--out", str(tmp_path / "run")])
    assert result.exit_code == 2 and "key 'data'" in result.stderr and "label 200 at index 2" in result.stderr
    assert not (tmp_path / "run").exists() and not list(tmp_path.glob("run.*"))


@pytest.mark.skipif(not MNIST.is_dir(), reason=f"MNIST test split not found in {MNIST} (see ../shared/data/README)")
def test_the_shared_mnist_split_passes_the_checks():
    x, y, shape = load_images(str(MNIST))
    assert x.shape == (10000, 784) and shape == (28, 28) and y.min() == 0 and y.max() == 9
