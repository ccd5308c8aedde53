"""NWB output that passes NWB Inspector: ``synaptica run ... --format nwb`` and ``save_record(..., .nwb)``."""
from __future__ import annotations

import datetime as dt
import json
import tomllib
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from synaptica.cli.main import main
from synaptica.io.nwb import IN_SILICO_SPECIES, NWBMetadata, NWBMetadataError, parse_start_time, spike_time_grid
from synaptica.io.spikes import SpikeFileError, load_record, save_record, save_spikes
from synaptica.record import SpikeRecord

pynwb = pytest.importorskip("pynwb")
nwbinspector = pytest.importorskip("nwbinspector")

SMALL_CUBA = ("--set", "n=400", "--set", "duration_ms=150", "--seed", "4")
FAILING = ("CRITICAL", "BEST_PRACTICE_VIOLATION", "PYNWB_VALIDATION", "ERROR")


def invoke(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def serious_messages(path: Path) -> list[str]:
    """NWB Inspector's messages at CRITICAL or BEST_PRACTICE_VIOLATION (and validation errors)."""
    from nwbinspector import inspect_nwbfile

    return [f"{m.importance.name}: {m.check_function_name}: {m.message}" for m in inspect_nwbfile(nwbfile_path=str(path))
            if m.importance.name in FAILING]


def read_nwb(path: Path):
    io = pynwb.NWBHDF5IO(str(path), "r")
    return io, io.read()


@pytest.fixture(scope="module")
def cuba_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("nwb") / "run"
    result = invoke("run", "cuba", *SMALL_CUBA, "--out", str(out), "--format", "nwb",
                    "--nwb-subject", "net-7", "--nwb-experimenter", "Doe, Jane", "--nwb-institution", "Test Lab Inc",
                    "--nwb-start", "2024-05-01T09:30:00+02:00")
    assert result.exit_code == 0, result.output
    return out


def test_run_folder_keeps_npz_and_adds_nwb(cuba_run):
    assert (cuba_run / "spikes.npz").is_file() and (cuba_run / "spikes.nwb").is_file()
    marker = json.loads((cuba_run / ".synaptica-output.json").read_text())
    assert "spikes.nwb" in marker["files"]  # part of the run: replaced with it, never mistaken for the user's


def test_run_nwb_passes_nwbinspector(cuba_run):
    assert serious_messages(cuba_run / "spikes.nwb") == []


def test_default_writer_output_fails_inspection_without_subject_for_contrast(tmp_path):
    """The checks are live: a bare units file (what synaptica wrote before) is flagged."""
    path = tmp_path / "bare.nwb"
    nwbfile = pynwb.NWBFile(session_description="x", identifier="x", session_start_time=dt.datetime.now(dt.timezone.utc))
    nwbfile.add_unit(spike_times=[0.1, 0.2])
    with pynwb.NWBHDF5IO(str(path), "w") as io:
        io.write(nwbfile)
    found = " ".join(serious_messages(path))
    assert "check_subject_exists" in found and "check_units_resolution_is_set" in found


def test_run_nwb_metadata_resolution_window_and_provenance(cuba_run):
    config = tomllib.loads((cuba_run / "config.toml").read_text())
    provenance = json.loads((cuba_run / "provenance.json").read_text())
    io, nwbfile = read_nwb(cuba_run / "spikes.nwb")
    with io:
        assert nwbfile.units.resolution == pytest.approx(config["dt_ms"] / 1000.0)  # dt = 0.1 ms
        assert nwbfile.subject.subject_id == "net-7"
        assert nwbfile.subject.species == IN_SILICO_SPECIES
        assert list(nwbfile.experimenter) == ["Doe, Jane"]
        assert nwbfile.institution == "Test Lab Inc"
        assert nwbfile.session_start_time == dt.datetime(2024, 5, 1, 7, 30, tzinfo=dt.timezone.utc)
        assert "cuba" in nwbfile.session_description
        window = np.asarray(nwbfile.units["obs_intervals"].target.data[:]).reshape(-1, 2)
        assert np.all(window == [0.0, config["duration_ms"] / 1000.0])
        epochs = nwbfile.epochs.to_dataframe()
        assert list(epochs["start_time"]) == [0.0] and list(epochs["stop_time"]) == [0.15]
        notes = json.loads(nwbfile.notes)
        assert "seed 4" in nwbfile.data_collection
    assert notes["experiment"] == "cuba"
    assert notes["config"] == {k: v for k, v in config.items() if k != "experiment"}
    for key in ("packages", "seed", "command", "git", "started"):  # the same record as provenance.json
        assert notes["provenance"][key] == provenance[key]
    assert notes["provenance"]["packages"]["torch"] is not None


def test_run_nwb_holds_the_same_spikes_and_analyze_reads_it(cuba_run, tmp_path):
    npz, nwb = load_record(cuba_run / "spikes.npz"), load_record(cuba_run / "spikes.nwb")
    assert nwb.times.size > 10
    np.testing.assert_array_equal(nwb.times, npz.times)
    np.testing.assert_array_equal(nwb.ids, npz.ids)
    assert (nwb.t_start, nwb.t_stop, nwb.n_units) == (npz.t_start, npz.t_stop, npz.n_units)
    result = invoke("analyze", str(cuba_run / "spikes.nwb"), "--no-connectivity", "--out", str(tmp_path / "a"))
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "a" / "metrics.json").read_text())
    assert metrics["record"]["n_units"] == 400


def test_pynapple_sees_the_record_window_not_first_to_last_spike(cuba_run):
    nap = pytest.importorskip("pynapple")
    data = nap.load_file(str(cuba_run / "spikes.nwb"))
    units, epochs = data["units"], data["epochs"]
    assert np.allclose(np.asarray(epochs.start), [0.0]) and np.allclose(np.asarray(epochs.end), [0.15])
    first = min(float(ts.t[0]) for ts in units.values() if len(ts))
    last = max(float(ts.t[-1]) for ts in units.values() if len(ts))
    assert first > 0.0 or last < 0.15  # the spikes alone would give a narrower window
    restricted = units.restrict(epochs)
    assert np.allclose(np.asarray(restricted.time_support.end), [0.15])


@pytest.mark.parametrize("args, option", [
    (("--nwb-start", "yesterday"), "--nwb-start"),
    (("--nwb-start", "2024-05-01T09:30:00"), "--nwb-start"),  # no UTC offset
    (("--nwb-start", "2999-01-01T00:00:00Z"), "--nwb-start"),
    (("--nwb-subject", " "), "--nwb-subject"),
    (("--nwb-species", "mouse"), "--nwb-species"),
    (("--nwb-experimenter", ""), "--nwb-experimenter"),
])
def test_bad_nwb_metadata_is_refused_before_simulating(args, option, tmp_path, monkeypatch):
    import synaptica.cli.main as cli

    def no_simulation(*_: object) -> None:
        raise AssertionError("simulated despite bad NWB metadata")

    monkeypatch.setattr(cli, "_simulate", no_simulation)
    result = CliRunner().invoke(main, ["run", "cuba", "--format", "nwb", *args, "--out", str(tmp_path / "r")])
    assert result.exit_code == 2, result.output
    assert f"error: {option}:" in result.output
    assert not (tmp_path / "r").exists()


def test_nwb_options_need_format_nwb(tmp_path):
    result = CliRunner().invoke(main, ["run", "cuba", "--nwb-lab", "X", "--out", str(tmp_path / "r")])
    assert result.exit_code == 2 and "error: --nwb-lab: NWB metadata needs --format nwb" in result.output


def test_bad_sex_choice_is_refused(tmp_path):
    result = CliRunner().invoke(main, ["run", "cuba", "--format", "nwb", "--nwb-sex", "X", "--out", str(tmp_path / "r")])
    assert result.exit_code == 2 and "--nwb-sex" in result.output


# -- the Python writer -----------------------------------------------------------------------
def test_save_record_with_metadata_passes_inspection(tmp_path):
    rng = np.random.default_rng(1)
    steps = rng.integers(1, 20000, 300)  # on a 0.05 ms grid over 1 s
    record = SpikeRecord.from_arrays(steps * 5e-5, rng.integers(0, 8, 300), n_units=8, t_start=0.0, t_stop=1.0,
                                     sort=True)
    meta = NWBMetadata(subject_id="m1", species="Mus musculus", sex="F", resolution_s=5e-5,
                       experimenter=("Doe, Jane",), notes={"seed": 3})
    path = save_record(record, tmp_path / "r.nwb", nwb=meta)
    assert serious_messages(path) == []
    io, nwbfile = read_nwb(path)
    with io:
        assert nwbfile.units.resolution == 5e-5
        assert nwbfile.subject.species == "Mus musculus" and nwbfile.subject.sex == "F"
        assert json.loads(nwbfile.notes)["seed"] == 3
    back = load_record(path)
    np.testing.assert_array_equal(back.times, record.times)


def test_default_metadata_infers_resolution_from_the_spike_grid(tmp_path):
    rng = np.random.default_rng(2)
    times = rng.integers(1, 10000, 500) * 1e-4  # a 0.1 ms grid
    path = save_spikes(tmp_path / "s.nwb", times, rng.integers(0, 4, 500), n_units=4, t_stop=1.0)
    assert serious_messages(path) == []
    io, nwbfile = read_nwb(path)
    with io:
        assert nwbfile.units.resolution == pytest.approx(1e-4)
        assert json.loads(nwbfile.notes)["units_resolution_source"] == "inferred from the spike-time grid"


def test_spike_time_grid():
    assert spike_time_grid(np.array([0.0003, 0.0005, 0.0012])) == pytest.approx(1e-4)
    assert spike_time_grid(np.array([0.0])) is None


def test_metadata_for_a_non_nwb_file_is_refused(tmp_path):
    with pytest.raises(SpikeFileError, match="only for an NWB file"):
        save_spikes(tmp_path / "s.npz", [0.1], [0], n_units=1, t_stop=1.0, nwb=NWBMetadata())
    assert not (tmp_path / "s.npz").exists()


@pytest.mark.parametrize("fields, name", [
    ({"subject_id": 3}, "subject_id"),
    ({"subject_id": ""}, "subject_id"),
    ({"sex": "male"}, "sex"),
    ({"species": "mouse"}, "species"),
    ({"experimenter": "Doe, Jane"}, "experimenter"),  # a string, not a tuple of names
    ({"resolution_s": 0.0}, "resolution_s"),
    ({"resolution_s": float("nan")}, "resolution_s"),
    ({"session_start_time": dt.datetime(2024, 1, 1)}, "session_start_time"),  # naive
    ({"session_start_time": "2024-01-01T00:00:00Z"}, "session_start_time"),  # text: parse it first
    ({"notes": {"x": object()}}, "notes"),
])
def test_metadata_of_the_wrong_type_names_the_field(fields, name):
    with pytest.raises(NWBMetadataError) as caught:
        NWBMetadata(**fields)
    assert caught.value.field == name and str(caught.value).startswith(f"{name}: ")


def test_parse_start_time():
    assert parse_start_time("2024-05-01T09:30:00Z") == dt.datetime(2024, 5, 1, 9, 30, tzinfo=dt.timezone.utc)
    with pytest.raises(NWBMetadataError, match="before 1980"):
        parse_start_time("1970-01-01T00:00:00+00:00")
