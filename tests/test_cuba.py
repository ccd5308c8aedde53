"""CUBA statistics against Brian2 2.9 and NEST 3.10 on the identical network.

The reference (bench/peers/cuba_reference.json) was produced by the command stored in it:
Brian2 cpp_standalone and NEST, N = 4000, 1 s, seeds 1..5. Peers use other random
streams, so single runs differ; the seed-averaged statistics must agree.
"""
import json
from pathlib import Path

import numpy as np
import pytest

from synaptica.analysis.stats import isi_cv
from synaptica.experiments.cuba import SCHEMA, build_cuba

REFERENCE = Path(__file__).resolve().parents[1] / "bench" / "peers" / "cuba_reference.json"
SEEDS = range(1, 21)


@pytest.fixture(scope="module")
def cuba_statistics():
    rates, cvs = [], []
    for seed in SEEDS:
        params = {k: f.default for k, f in SCHEMA.items()} | {"seed": seed}
        net, cells, spikes = build_cuba(params)
        net.run(params["duration_ms"])
        ids = spikes.neuron_ids.astype(np.int64)
        rates.append(ids.size / params["n"] / (params["duration_ms"] * 1e-3))
        cvs.append(np.nanmean(isi_cv(spikes.times_ms, ids, params["n"])))
    return np.array(rates), np.array(cvs)


def _reference(key):
    data = json.loads(REFERENCE.read_text())
    return (np.array([r["mean_rate_hz"] for r in data[key]]), np.array([r["cv_isi"] for r in data[key]]))


def test_cuba_mean_rate_in_the_band_of_brian2_and_nest(cuba_statistics):
    rates, _ = cuba_statistics
    assert 5.5 <= rates.mean() <= 5.9, rates
    for peer in ("brian2_cpp_standalone", "nest"):
        ref_rates, _ = _reference(peer)
        # difference of seed means within 3 combined standard errors
        se = np.sqrt(rates.var(ddof=1) / rates.size + ref_rates.var(ddof=1) / ref_rates.size)
        assert abs(rates.mean() - ref_rates.mean()) < 3 * se, (peer, rates.mean(), ref_rates.mean())


def test_cuba_isi_cv_within_10_percent_of_brian2(cuba_statistics):
    _, cvs = cuba_statistics
    _, ref_cvs = _reference("brian2_cpp_standalone")
    assert abs(cvs.mean() - ref_cvs.mean()) <= 0.10 * ref_cvs.mean(), (cvs.mean(), ref_cvs.mean())


def test_cuba_is_asynchronous_irregular(cuba_statistics):
    rates, cvs = cuba_statistics
    assert np.all(rates > 3) and np.all(rates < 9)
    assert np.all((cvs > 0.3) & (cvs < 0.8))


def test_cli_runs_cuba_end_to_end(tmp_path):
    from click.testing import CliRunner
    from synaptica.cli.main import main

    out = tmp_path / "not" / "yet" / "there"  # parents created, as for `make demo` on a fresh clone
    result = CliRunner().invoke(main, ["run", "cuba", "--set", "n=400", "--set", "duration_ms=200", "--out", str(out)])
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["n_spikes"] > 0 and metrics["mean_rate_hz"] > 0
    spikes = np.load(out / "spikes.npz", allow_pickle=False)
    assert spikes["ids"].size == metrics["n_spikes"] and spikes["times"].max() < 0.2   # seconds
    for png in ("raster.png", "rate_histogram.png", "isi_cv_histogram.png"):
        assert (out / png).stat().st_size > 1000
    assert "n = 400" in (out / "config.toml").read_text()
    assert not out.with_name(out.name + ".checkpoint.npz").exists()  # removed after success


def test_cli_rejects_delay_shorter_than_dt_before_simulating(tmp_path):
    from click.testing import CliRunner
    from synaptica.cli.main import main

    out = tmp_path / "run"
    result = CliRunner().invoke(main, ["run", "cuba", "--set", "delay_ms=0.05", "--out", str(out)])
    assert result.exit_code == 2
    assert "delay_ms" in result.output and "dt_ms" in result.output
    assert not out.exists()


def test_interrupted_run_resumes_from_checkpoint_and_loses_nothing(tmp_path):
    from synaptica.engine.errors import CheckpointError
    from synaptica.experiments.cuba import run_cuba

    params = {k: f.default for k, f in SCHEMA.items()} | {"n": 1000, "duration_ms": 500.0}
    uninterrupted = run_cuba(params)
    checkpoint = tmp_path / "run.checkpoint.npz"

    class Interrupt(Exception):
        pass

    def interrupt_at_60_percent(done, total):
        if done >= 0.6 * total:
            raise Interrupt

    with pytest.raises(Interrupt):
        run_cuba(params, interrupt_at_60_percent, checkpoint=checkpoint)
    assert checkpoint.exists()
    resumed = run_cuba(params, None, checkpoint=checkpoint)
    np.testing.assert_array_equal(resumed.spike_times_ms, uninterrupted.spike_times_ms)
    np.testing.assert_array_equal(resumed.spike_ids, uninterrupted.spike_ids)
    with pytest.raises(CheckpointError, match="other settings: seed 1 vs 7"):
        run_cuba(params | {"seed": 7}, None, checkpoint=checkpoint)
