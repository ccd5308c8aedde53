"""`synaptica analyze FILE`: metrics and figures from a spike file; clear errors on bad files."""
from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from synaptica.record import SpikeRecord
from synaptica.analysis.synthetic import random_coupling, simulate_coupled_glm
from synaptica.cli.main import main
from synaptica.io.spikes import save_record

BASE_FIGURES = {"raster.png", "rates.png", "isi.png", "cv.png", "correlograms.png", "avalanches.png"}


@pytest.fixture(scope="module")
def planted():
    """12 units, 60 s; unit 1 strongly excited by unit 0, otherwise sparse weak coupling."""
    coupling = random_coupling(12, 0.05, 0.5, seed=3)
    coupling[1, 0] = 2.0
    record = simulate_coupled_glm(coupling, np.full(12, 15.0), 60.0, seed=3)
    return record, coupling


def _analyze(tmp_path, path, *args):
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["analyze", str(path), "--out", str(out), *args])
    return result, out


@pytest.mark.parametrize("suffix", [".npz", ".h5", ".nwb"])
def test_analyze_writes_metrics_and_figures(tmp_path, planted, suffix):
    record, coupling = planted
    path = save_record(record, tmp_path / f"spikes{suffix}")
    args = [] if suffix == ".npz" else ["--no-connectivity"]  # the GLM once is enough
    result, out = _analyze(tmp_path, path, *args)
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["record"]["n_units"] == 12 and metrics["record"]["n_spikes"] == record.n_spikes
    assert metrics["skipped"] == {}
    rate = record.n_spikes / record.duration / record.n_units
    assert metrics["statistics"]["rate_mean_hz"] == pytest.approx(rate, rel=1e-9)
    names = {p.name for p in out.iterdir()}
    assert BASE_FIGURES <= names
    if suffix == ".npz":
        assert "connectivity.png" in names
        assert metrics["connectivity"]["excitatory_edges"] >= 1


def test_analyze_states(tmp_path, planted):
    record, _ = planted
    path = save_record(record.select(range(6)), tmp_path / "spikes.npz")
    result, out = _analyze(tmp_path, path, "--no-connectivity", "--states", "2", "--state-bin", "0.01")
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["states"]["n_states"] == 2
    assert sum(metrics["states"]["occupancy"]) == pytest.approx(1.0)
    assert (out / "states.png").exists()


def test_analyze_corrupt_file_names_it_and_writes_nothing(tmp_path, planted):
    record, _ = planted
    path = save_record(record, tmp_path / "spikes.npz")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    result, out = _analyze(tmp_path, path)
    assert result.exit_code == 1
    assert "spikes.npz" in result.output and "Traceback" not in result.output
    assert not out.exists() and not out.with_name("out.partial").exists()


def test_analyze_rejects_unsorted_spikes(tmp_path):
    np.savez(tmp_path / "bad.npz", times=np.array([0.2, 0.1]), ids=np.array([0, 1]), n_units=2, t_start=0.0,
             t_stop=1.0)
    result, out = _analyze(tmp_path, tmp_path / "bad.npz")
    assert result.exit_code == 1 and "not sorted" in result.output and "bad.npz" in result.output
    assert not out.exists()


def test_analyze_rejects_impossible_bin(tmp_path):
    record = SpikeRecord.from_arrays([0.1, 0.2, 0.3], [0, 1, 0], t_stop=1.0)
    path = save_record(record, tmp_path / "small.npz")
    result, out = _analyze(tmp_path, path, "--bin-size", "-0.001")
    assert result.exit_code == 2 and "--bin-size must be a positive number of seconds" in result.output
    assert not out.exists()


# -- a run folder is analysed by the same tool ----------------------------------------------------------
def test_run_then_analyze_its_spikes(tmp_path):
    """`synaptica run` writes spikes.npz in the format `synaptica analyze` reads (times in s)."""
    run_dir = tmp_path / "cuba"
    ran = CliRunner().invoke(main, ["run", "cuba", "--out", str(run_dir), "--set", "n=200", "--set", "duration_ms=300"])
    assert ran.exit_code == 0, ran.output
    run_metrics = json.loads((run_dir / "metrics.json").read_text())
    result, out = _analyze(tmp_path, run_dir / "spikes.npz", "--no-connectivity")
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["record"]["n_units"] == 200 and metrics["record"]["n_spikes"] == run_metrics["n_spikes"] > 0
    assert metrics["record"]["t_stop_s"] == pytest.approx(0.3)
    assert 1.0 < metrics["statistics"]["rate_mean_hz"] < 100.0
    assert metrics["statistics"]["rate_mean_hz"] == pytest.approx(run_metrics["mean_rate_hz"], rel=1e-9)


def test_analyze_reads_an_old_run_folder(tmp_path):
    """Run folders written before the one format (times_ms, ids, n_neurons, duration_ms) still load."""
    rng = np.random.default_rng(0)
    times_ms = np.sort(rng.uniform(0.0, 2000.0, 400))
    np.savez(tmp_path / "spikes.npz", times_ms=times_ms, ids=rng.integers(0, 10, 400), n_neurons=np.int64(10),
             duration_ms=np.float64(2000.0))
    result, out = _analyze(tmp_path, tmp_path / "spikes.npz", "--no-connectivity")
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["statistics"]["rate_mean_hz"] == pytest.approx(400 / 2.0 / 10)  # Hz: the ms were read as ms


# -- any spike file: a clean refusal or a finite analysis, never another exception -----------------

from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402
from hypothesis.extra import numpy as hnp  # noqa: E402

from synaptica.analysis.report import AnalysisOptionError, RecordTooLargeError, analyze_record  # noqa: E402
from synaptica.io.spikes import SpikeFileError, load_record  # noqa: E402

EXTREME = [0.0, 0.5, 2.0, 3.0, 1e12, 1e300, -1.0, float("nan"), float("inf")]


MUTATIONS = ["nan time", "inf time", "huge time", "unsorted", "float32 times", "integer times", "float ids",
             "bool ids", "uint8 ids", "negative id", "huge id", "n_units", "t_start", "t_stop", "no t_stop",
             "no ids", "2-D times", "one id short", "empty", "single spike", "simultaneous"]


@st.composite
def spike_files(draw) -> dict[str, np.ndarray]:
    """Fields of an npz spike file: a plausible record (1-60 spikes of 1-8 units in
    [0, 2] s) with up to two random mutations -- shapes, dtypes, ids, times, n_units,
    t_start/t_stop, NaN/inf, huge values, empty or missing fields."""
    n = draw(st.integers(1, 60))
    times = np.sort(draw(hnp.arrays(np.float64, n, elements=st.floats(0, 2))))
    ids = draw(hnp.arrays(np.int64, n, elements=st.integers(0, draw(st.integers(0, 7)))))
    fields = {"times": times, "ids": ids, "t_stop": np.array(2.0)}
    for mutation in draw(st.lists(st.sampled_from(MUTATIONS), max_size=2)):
        t, u = fields["times"].copy(), fields.get("ids", ids).copy()
        i = draw(st.integers(0, n - 1)) % max(min(t.size, u.size), 1)
        if mutation in ("nan time", "inf time", "huge time") and t.size and t.dtype == np.float64:
            t[i] = {"nan time": np.nan, "inf time": np.inf, "huge time": 1e300}[mutation]
        elif mutation == "unsorted":
            t = t[::-1]
        elif mutation in ("float32 times", "integer times"):
            t = t.astype(np.float32 if mutation == "float32 times" else np.int64)
        elif mutation in ("float ids", "bool ids", "uint8 ids"):
            u = u.astype({"float ids": np.float64, "bool ids": np.bool_, "uint8 ids": np.uint8}[mutation])
        elif mutation in ("negative id", "huge id") and u.size:
            u = u.astype(np.int64)
            u[i] = -1 if mutation == "negative id" else 2**40
        elif mutation == "n_units":
            fields["n_units"] = np.array(draw(st.sampled_from([1, 8, 0, -2, 2**40, 2**62])))
        elif mutation in ("t_start", "t_stop"):
            fields[mutation] = np.array(draw(st.sampled_from(EXTREME)))
        elif mutation == "no t_stop":
            fields.pop("t_stop", None)
        elif mutation == "no ids":
            fields.pop("ids", None)
            continue
        elif mutation == "2-D times":
            t = t.reshape(-1, 1)
        elif mutation == "one id short":
            u = u[:-1]
        elif mutation == "empty":
            t, u = t[:0], u[:0]
        elif mutation == "single spike":
            t, u = t[:1], u[:1]
        elif mutation == "simultaneous" and t.size:
            t = np.full_like(t, t.flat[0])
        fields["times"] = t
        if "ids" in fields:
            fields["ids"] = u
    return fields


def _flat(value, prefix=""):
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            out.update(_flat(v, f"{prefix}{k}."))
        return out
    return {prefix.rstrip("."): value}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fields=spike_files(), bin_size=st.sampled_from([0.001, 0.001, 0.001, 0.01, 0.3, 5.0, 1e-300]),
       max_lag=st.sampled_from([0.05, 0.05, 0.05, 0.01, 10.0]),
       count_bin=st.sampled_from([0.1, 0.1, 0.1, 0.5, 1e-12, 50.0]))
def test_any_spike_file_is_refused_cleanly_or_analysed(tmp_path_factory, fields, bin_size, max_lag, count_bin):
    path = tmp_path_factory.mktemp("hyp") / "s.npz"
    np.savez(path, **fields)
    try:
        record = load_record(path)
        analysis = analyze_record(record, bin_size=bin_size, max_lag=max_lag, count_bin=count_bin,
                                  connectivity=False)
    except (SpikeFileError, AnalysisOptionError, RecordTooLargeError) as error:
        assert str(error)  # a message for the user, naming the problem
        return
    metrics = analysis.metrics
    assert set(metrics) >= {"record", "statistics", "skipped", "timings_s"}
    for section in ("statistics", "synchrony", "complexity"):  # these apply to every valid record
        assert section in metrics or section in metrics["skipped"], section
    assert json.dumps(metrics, allow_nan=True)  # plain numbers, lists and text only
    # finite numbers, or None where undefined; the branching timescale -bin / ln(m) is
    # infinite by definition when the branching ratio m >= 1
    odd = {k: v for k, v in _flat(metrics).items() if isinstance(v, float) and not np.isfinite(v)
           and not (k == "criticality.branching_timescale_s" and v == np.inf)}
    assert not odd, odd


def test_single_spike_record_is_analysed(tmp_path):
    """One spike: STTC used to fail casting an empty bincount; now every stage runs or skips."""
    path = save_record(SpikeRecord.from_arrays([0.5], [0], n_units=2, t_stop=1.0), tmp_path / "one.npz")
    result, out = _analyze(tmp_path, path, "--no-connectivity")
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["record"]["n_spikes"] == 1 and "synchrony" in metrics
    assert "criticality" in metrics["skipped"] and "2 spikes" in metrics["skipped"]["criticality"]


@pytest.mark.parametrize(("fields", "expected", "code"), [
    ({"n_units": np.array(2**40)}, "field 'n_units' = 1099511627776: the analysis would need about", 1),
    ({"t_stop": np.array(1e12)}, "--bin-size = 0.001 s over the record's window", 2),
])
def test_records_too_large_for_memory_are_refused_before_allocating(tmp_path, fields, expected, code):
    rng = np.random.default_rng(0)
    base = {"times": np.sort(rng.uniform(0, 2, 100)), "ids": rng.integers(0, 5, 100), "t_stop": np.array(2.0)}
    path = tmp_path / "big.npz"
    np.savez(path, **{**base, **fields})
    result, out = _analyze(tmp_path, path)
    assert result.exit_code == code and expected in result.stderr, result.output
    assert "of memory available" in result.stderr and "TiB" in result.stderr  # the estimate, with its unit
    assert not out.exists()


def test_an_internal_error_in_a_stage_fails_loudly(tmp_path, planted, monkeypatch):
    import synaptica.analysis.report as report

    def broken(*args, **kwargs):
        raise TypeError("unexpected\nbug")

    monkeypatch.setattr(report, "spike_train_complexity", broken)
    path = save_record(planted[0], tmp_path / "p.npz")
    result, out = _analyze(tmp_path, path, "--no-connectivity")
    assert result.exit_code == 1 and not out.exists()
    assert result.stderr.strip().endswith("analysis stage 'complexity' failed: TypeError: unexpected bug")
    assert len(result.stderr.strip().splitlines()) == 1
