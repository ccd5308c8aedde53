"""The ``synaptica`` CLI end to end (on a tiny fake experiment), plus the spike statistics it reports."""
from __future__ import annotations

import json
import tomllib
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from synaptica.analysis.stats import firing_rates, isi_cv, population_rate
from synaptica.cli.main import main
from synaptica.cli.output import RUN_FILES
from synaptica.config import Field
from synaptica.experiments import Experiment, ExperimentResult, available, register, unregister
from synaptica.io.spikes import load_record

# --- a tiny fake experiment: independent Poisson spike trains --------------------------------

POISSON_SCHEMA = {
    "n_neurons": Field(int, 20, "number of neurons", minimum=1),
    "rate_hz": Field(float, 20.0, "firing rate (Hz)", minimum=0),
    "duration_ms": Field(float, 500.0, "duration (ms)", minimum=0, exclusive_minimum=True),
    "dt_ms": Field(float, 1.0, "progress step (ms)", minimum=0, exclusive_minimum=True),
    "seed": Field(int, 0, "random seed", minimum=0),
}
PROGRESS_CALLS: list[tuple[int, int]] = []


def _dt_check(p: dict) -> str | None:
    return f"dt_ms ({p['dt_ms']}) exceeds duration_ms ({p['duration_ms']})" if p["dt_ms"] > p["duration_ms"] else None


def run_poisson(p: dict, progress=None) -> ExperimentResult:
    rng = np.random.default_rng(p["seed"])
    steps = int(round(p["duration_ms"] / p["dt_ms"]))
    spikes = rng.random((steps, p["n_neurons"])) < p["rate_hz"] * p["dt_ms"] / 1000.0
    step, ids = np.nonzero(spikes)
    for done in range(0, steps + 1, max(1, steps // 5)):
        PROGRESS_CALLS.append((done, steps))
        if progress is not None:
            progress(done, steps)
    times = step * p["dt_ms"]
    half = p["n_neurons"] // 2
    rates = firing_rates(ids, p["n_neurons"], p["duration_ms"])
    return ExperimentResult(
        times, ids, p["n_neurons"], p["duration_ms"],
        {"mean_rate_hz": float(rates.mean()), "n_spikes": int(ids.size), "cv_isi_mean": float("nan")},
        groups={"a": (0, half), "b": (half, p["n_neurons"])},
    )


def run_silent(p: dict, progress=None) -> ExperimentResult:
    no_spikes = np.zeros(0, dtype=np.int64)
    return ExperimentResult(no_spikes * 1.0, no_spikes, p["n_neurons"], p["duration_ms"], {"n_spikes": 0})


def run_late(p: dict, progress=None) -> ExperimentResult:
    """Breaks the contract: a spike after the end of the run."""
    return ExperimentResult(np.array([1.0, p["duration_ms"] + 5]), np.array([0, 0]), p["n_neurons"], p["duration_ms"], {})


def run_unsorted(p: dict, progress=None) -> ExperimentResult:
    return ExperimentResult(np.array([9.0, 1.0, 5.0]), np.array([2, 0, 1]), p["n_neurons"], p["duration_ms"],
                            {"n_spikes": 3})


def run_failing(p: dict, progress=None) -> ExperimentResult:
    raise RuntimeError("simulation exploded")


@pytest.fixture
def poisson(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Register the fake experiments and work inside an empty temporary folder."""
    monkeypatch.chdir(tmp_path)
    PROGRESS_CALLS.clear()
    experiments = [
        Experiment("poisson_test", "independent Poisson trains (test)", POISSON_SCHEMA, run_poisson, (_dt_check,)),
        Experiment("failing_test", "always raises (test)", POISSON_SCHEMA, run_failing),
        Experiment("silent_test", "no spikes (test)", POISSON_SCHEMA, run_silent),
        Experiment("late_test", "a spike after the end (test)", POISSON_SCHEMA, run_late),
        Experiment("unsorted_test", "spikes out of time order (test)", POISSON_SCHEMA, run_unsorted),
        Experiment("seedless_test", "no seed parameter (test)", {"n": Field(int, 1, "n")}, run_poisson),
    ]
    for experiment in experiments:
        register(experiment)
    yield tmp_path
    for experiment in experiments:
        unregister(experiment.name)


def invoke(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=True)


def assert_run_folder(folder: Path) -> dict:
    assert sorted(p.name for p in folder.iterdir()) == sorted(RUN_FILES)
    metrics = json.loads((folder / "metrics.json").read_text())
    record = load_record(folder / "spikes.npz")  # the one spike file format, as `analyze` reads it
    config = tomllib.loads((folder / "config.toml").read_text())
    assert (record.n_units, record.t_start, record.t_stop) == (config["n_neurons"], 0.0, config["duration_ms"] / 1000)
    assert metrics["n_spikes"] == record.n_spikes
    half = config["n_neurons"] // 2
    assert list(record.units["group"]) == ["a"] * half + ["b"] * (config["n_neurons"] - half)
    for png in folder.glob("*.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    return metrics


# --- runs that succeed ---------------------------------------------------------------------

def test_run_by_name_writes_a_complete_folder(poisson: Path):
    result = invoke("run", "poisson_test")
    assert result.exit_code == 0, result.output
    (folder,) = (poisson / "runs").iterdir()
    assert folder.name.startswith("poisson_test-")
    metrics = assert_run_folder(folder)
    assert metrics["cv_isi_mean"] is None  # NaN is written as null: strict JSON
    assert 5 < metrics["mean_rate_hz"] < 40
    config = tomllib.loads((folder / "config.toml").read_text())
    assert config == {"experiment": "poisson_test", **{k: f.default for k, f in POISSON_SCHEMA.items()}}
    assert PROGRESS_CALLS[-1] == (500, 500)
    assert "mean_rate_hz" in result.stdout and "wrote runs/poisson_test-" in result.stdout


def test_run_file_with_set_seed_and_out(poisson: Path):
    Path("mine.toml").write_text('experiment = "poisson_test"\nn_neurons = 7\nrate_hz = 50\n')
    result = invoke("run", "mine.toml", "--set", "duration_ms=200", "--seed", "5", "--out", "out/a")
    assert result.exit_code == 0, result.output
    assert_run_folder(poisson / "out" / "a")
    config = tomllib.loads((poisson / "out/a/config.toml").read_text())
    assert (config["n_neurons"], config["rate_hz"], config["duration_ms"], config["seed"]) == (7, 50.0, 200.0, 5)
    assert not (poisson / "out" / "a.partial").exists()


def test_written_config_reproduces_the_run(poisson: Path):
    assert invoke("run", "poisson_test", "--seed", "3", "--out", "first").exit_code == 0
    assert invoke("run", "first/config.toml", "--out", "second").exit_code == 0
    a, b = load_record("first/spikes.npz"), load_record("second/spikes.npz")
    assert np.array_equal(a.times, b.times) and np.array_equal(a.ids, b.ids)


def test_rerun_replaces_a_previous_run_folder(poisson: Path):
    assert invoke("run", "poisson_test", "--out", "runs/demo", "--seed", "1").exit_code == 0
    result = invoke("run", "poisson_test", "--out", "runs/demo", "--seed", "2")
    assert result.exit_code == 0, result.output
    assert tomllib.loads(Path("runs/demo/config.toml").read_text())["seed"] == 2
    assert sorted(p.name for p in Path("runs").iterdir()) == ["demo"]


def test_run_spikes_are_stored_sorted_in_seconds(poisson: Path):
    assert invoke("run", "unsorted_test", "--out", "u").exit_code == 0
    record = load_record("u/spikes.npz")
    assert np.allclose(record.times, [0.001, 0.005, 0.009]) and np.array_equal(record.ids, [0, 1, 2])
    assert "group" not in record.units  # the experiment names no groups


def test_silent_run_is_written_and_analyze_says_it_is_empty(poisson: Path):
    result = invoke("run", "silent_test", "--out", "quiet")
    assert result.exit_code == 0, result.output
    with np.load("quiet/spikes.npz") as spikes:
        assert spikes["times"].size == 0 and int(spikes["n_units"]) == 20 and float(spikes["t_stop"]) == 0.5
    result = invoke("analyze", "quiet/spikes.npz", "--out", "quiet-analysis")
    assert result.exit_code == 1 and "quiet/spikes.npz: the record is empty: it has no spikes" in result.stderr
    assert not Path("quiet-analysis").exists()


def test_spike_after_the_end_is_an_invalid_result(poisson: Path):
    result = invoke("run", "late_test", "--out", "late")
    assert result.exit_code == 1
    assert "experiment 'late_test' returned an invalid result: spike_times_ms must lie in [0, duration_ms = 500]" \
        in result.stderr
    assert not Path("late").exists()


# --- runs that must not start ----------------------------------------------------------------

@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--set", "rate_hz=-1"], "error: --set: key 'rate_hz': must be >= 0, got -1.0"),
        (["--set", "rate_hz"], "error: --set: key 'rate_hz': expected KEY=VALUE"),
        (["--set", "n_neuron=3"], "error: --set: key 'n_neuron': unknown parameter of experiment 'poisson_test'; "
                                  "did you mean 'n_neurons'?"),
        (["--set", "n_neurons=true"], "error: --set: key 'n_neurons': expected an integer, got boolean true"),
        (["--set", "dt_ms=900"], "error: experiment 'poisson_test', --set: keys 'duration_ms', 'dt_ms': dt_ms"),
    ],
)
def test_bad_config_exits_2_without_output(poisson: Path, args: list[str], expected: str):
    result = invoke("run", "poisson_test", *args)
    assert result.exit_code == 2
    assert result.stderr.startswith(expected), result.stderr
    assert "Traceback" not in result.output and not PROGRESS_CALLS
    assert not (poisson / "runs").exists()


def test_bad_file_exits_2_naming_file_and_key(poisson: Path):
    Path("bad.toml").write_text('experiment = "poisson_test"\nrate_hz = "fast"\n')
    result = invoke("run", "bad.toml", "--out", "out")
    assert result.exit_code == 2
    assert result.stderr.strip() == 'error: bad.toml: key \'rate_hz\': expected a number, got string "fast"'
    assert not Path("out").exists() and not Path("out.partial").exists()


def test_malformed_file_exits_2(poisson: Path):
    Path("bad.toml").write_text('experiment = "poisson_test"\nrate_hz = \n')
    result = invoke("run", "bad.toml")
    assert result.exit_code == 2 and result.stderr.startswith("error: bad.toml: line 2, column")
    assert not Path("runs").exists()


def test_unknown_experiment_exits_2(poisson: Path):
    result = invoke("run", "poisson_tset")
    assert result.exit_code == 2
    assert "unknown experiment 'poisson_tset'; did you mean 'poisson_test'?" in result.stderr
    assert "available:" in result.stderr and "poisson_test" in result.stderr


def test_missing_file_exits_2(poisson: Path):
    result = invoke("run", "nowhere.toml")
    assert result.exit_code == 2 and result.stderr.strip() == "error: nowhere.toml: no such file"


def test_seed_needs_a_seed_parameter(poisson: Path):
    result = invoke("run", "seedless_test", "--seed", "1")
    assert result.exit_code == 2 and "--seed: experiment 'seedless_test' has no 'seed' parameter" in result.stderr


def test_out_refuses_a_foreign_folder(poisson: Path):
    Path("precious").mkdir()
    Path("precious/notes.txt").write_text("keep me")
    result = invoke("run", "poisson_test", "--out", "precious")
    assert result.exit_code == 2 and "refusing to overwrite" in result.stderr
    assert sorted(p.name for p in Path("precious").iterdir()) == ["notes.txt"] and not PROGRESS_CALLS


def test_failing_experiment_leaves_no_folder(poisson: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("SYNAPTICA_DEBUG", raising=False)
    result = invoke("run", "failing_test", "--out", "runs/x")
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.stderr.strip().splitlines() == [
        "error: failing_test.toml: run of 'failing_test' failed: RuntimeError: simulation exploded; "
        "SYNAPTICA_DEBUG=1 or --debug shows the traceback"] or "RuntimeError: simulation exploded" in result.stderr
    assert not Path("runs/x").exists() and not Path("runs/x.partial").exists()


@pytest.mark.parametrize("how", ["--debug", "SYNAPTICA_DEBUG=1"])
def test_debug_lets_the_exception_through(poisson: Path, monkeypatch: pytest.MonkeyPatch, how: str):
    if how.startswith("SYNAPTICA_DEBUG"):
        monkeypatch.setenv("SYNAPTICA_DEBUG", "1")
    result = invoke("run", "failing_test", "--out", "runs/x", *([how] if how == "--debug" else []))
    assert result.exit_code != 0 and isinstance(result.exception, RuntimeError)
    assert not Path("runs/x").exists()


def test_keyboard_interrupt_is_not_swallowed(poisson: Path, monkeypatch: pytest.MonkeyPatch):
    def interrupted(p: dict, progress=None, checkpoint=None):
        Path(checkpoint).parent.mkdir(parents=True, exist_ok=True)
        Path(checkpoint).write_bytes(b"state")  # a run checkpoints as it goes; ^C must keep it to resume
        raise KeyboardInterrupt

    register(Experiment("interrupted_test", "interrupted (test)", POISSON_SCHEMA, interrupted), replace=True)
    try:
        result = invoke("run", "interrupted_test", "--out", "runs/x")
    finally:
        unregister("interrupted_test")
    # click turns ^C into "Aborted!" (exit 1); the run's own error handling must not catch it
    assert result.exit_code == 1 and "Aborted!" in result.output and "error:" not in result.output
    assert Path("runs/x.checkpoint.npz").read_bytes() == b"state" and not Path("runs/x").exists()


def test_failing_write_leaves_no_folder(poisson: Path, monkeypatch: pytest.MonkeyPatch):
    import synaptica.plotting

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(synaptica.plotting, "plot_isi_cv_histogram", broken)
    result = invoke("run", "poisson_test", "--out", "runs/x")
    assert result.exit_code == 1 and "error: runs/x: cannot write the run (OSError: disk full)" in result.stderr
    assert not Path("runs").exists() or list(Path("runs").iterdir()) == []


# --- other commands -------------------------------------------------------------------------

def test_list_shows_one_line_per_experiment(poisson: Path):
    result = invoke("list")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert len(lines) == len(available())
    assert any(line.split() == ["poisson_test", "independent", "Poisson", "trains", "(test)"] for line in lines)


def test_version_and_help():
    version = invoke("--version")
    assert version.exit_code == 0 and version.stdout.startswith("synaptica, version ")
    for args in (["--help"], ["run", "--help"], ["list", "--help"], ["-h"]):
        result = invoke(*args)
        assert result.exit_code == 0 and "Usage:" in result.stdout
    assert "--set KEY=VALUE" in invoke("run", "--help").stdout


# --- spike statistics against hand-computed values --------------------------------------------

TIMES = np.array([1.0, 5.0, 3.0, 10.0, 2.0, 4.0, 6.0, 0.5])
IDS = np.array([0, 0, 0, 0, 1, 1, 2, 3])  # neuron 0 fires at 1, 3, 5, 10 (unsorted on purpose)


def test_firing_rates():
    np.testing.assert_allclose(firing_rates(IDS, 5, 1000.0), [4.0, 2.0, 1.0, 1.0, 0.0])
    np.testing.assert_allclose(firing_rates(IDS, 5, 500.0), [8.0, 4.0, 2.0, 2.0, 0.0])
    with pytest.raises(ValueError, match="ids must lie in"):
        firing_rates(IDS, 3, 1000.0)


def test_isi_cv():
    cv = isi_cv(TIMES, IDS, 5)
    # neuron 0: intervals 2, 2, 5 -> mean 3, std sqrt(2) -> CV sqrt(2)/3; others have < 3 spikes
    assert cv[0] == pytest.approx(np.sqrt(2) / 3)
    assert np.isnan(cv[1:]).all()
    assert isi_cv(TIMES, IDS, 5, min_spikes=2)[1] == 0.0  # a single interval has no spread
    regular = isi_cv(np.arange(10.0), np.zeros(10, dtype=int), 1)
    assert regular[0] == pytest.approx(0.0, abs=1e-12)


def test_population_rate():
    edges, rate = population_rate(TIMES, 4, 10.0, 2.5)
    np.testing.assert_allclose(edges, [0, 2.5, 5, 7.5, 10])
    # counts 3, 2, 2, 1 over 4 neurons and 2.5 ms bins
    np.testing.assert_allclose(rate, [300.0, 200.0, 200.0, 100.0])
    edges, rate = population_rate(TIMES, 4, 10.5, 2.5)  # last bin 0.5 ms wide
    np.testing.assert_allclose(edges[-2:], [10.0, 10.5])
    np.testing.assert_allclose(rate[-2:], [0.0, 500.0])


def test_raster_subsamples_large_recordings(tmp_path: Path):
    from synaptica.plotting import _subsample, plot_raster_with_rate

    rng = np.random.default_rng(0)
    ids = rng.integers(0, 1000, 50_000)
    times = np.sort(rng.random(50_000) * 100.0)
    kept_t, kept_i, stride = _subsample(times, ids, 20_000)
    assert kept_t.size <= 20_000 and stride == 3 and np.all(kept_i % 3 == 0)
    plot_raster_with_rate(times, ids, 1000, 100.0, tmp_path / "r.png", groups={"e": (0, 800), "i": (800, 1000)})
    assert (tmp_path / "r.png").stat().st_size > 0
