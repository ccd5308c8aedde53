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
    assert result.exit_code == 2 and "bin_size" in result.output
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
