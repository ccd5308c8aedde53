"""`synaptica sweep`: grid x seeds on Ray or in-process, one run folder per point, a summary
table and plots, restarts that skip finished points, and bad grids refused before any work."""
from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

from synaptica.cli.folder import MARKER
from synaptica.cli.main import main

TINY = ["cuba", "--set", "n=100", "--set", "duration_ms=50"]
GRID_2X2 = ["--grid", "tau_m=10,20", "--grid", "w_exc=1.5,2", "--seeds", "1-2"]


def sweep(*args: str):
    return CliRunner().invoke(main, ["sweep", *args], catch_exceptions=False)


def complete_points(out: Path) -> dict[str, str]:
    """``{point folder name: its provenance.json text}`` of the complete run folders."""
    found = {}
    for folder in sorted((out / "points").iterdir()):
        marker = folder / MARKER
        if folder.is_dir() and marker.exists() and json.loads(marker.read_text())["state"] == "complete":
            found[folder.name] = (folder / "provenance.json").read_text()
    return found


def read_summary(out: Path) -> list[dict[str, str]]:
    with (out / "summary.csv").open(newline="") as handle:
        return list(csv.DictReader(handle))


def check_full_sweep(out: Path) -> None:
    """8 complete folders with their own parameters, 8 summary rows, plots."""
    points = complete_points(out)
    assert len(points) == 8, sorted(points)
    rows = read_summary(out)
    assert len(rows) == 8
    assert {(r["tau_m"], r["w_exc"], r["seed"]) for r in rows} == {
        (t, w, s) for t in ("10.0", "20.0") for w in ("1.5", "2.0") for s in ("1", "2")}
    assert {r["point"] for r in rows} == set(points)
    for row in rows:  # each row: the parameters and metrics of its own folder
        assert row["status"] == "done" and float(row["mean_rate_hz"]) > 0
        folder = out / "points" / row["point"]
        config = tomllib.loads((folder / "config.toml").read_text())
        assert (config["tau_m"], config["w_exc"], config["seed"], config["n"]) == (
            float(row["tau_m"]), float(row["w_exc"]), int(row["seed"]), 100)
        metrics = json.loads((folder / "metrics.json").read_text())
        assert float(row["n_spikes"]) == metrics["n_spikes"]
    # a shorter membrane time constant makes this network fire faster (CUBA, Vogels & Abbott 2005)
    rate = {t: [float(r["mean_rate_hz"]) for r in rows if r["tau_m"] == t] for t in ("10.0", "20.0")}
    assert min(rate["10.0"]) > max(rate["20.0"])
    for metric in ("mean_rate_hz", "n_spikes", "n_synapses"):
        assert (out / "plots" / f"{metric}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads((out / "sweep.json").read_text())["seeds"] == [1, 2]
    leftovers = [p.name for p in (out / "points").iterdir() if not p.is_dir() or p.suffix in (".partial", ".previous")]
    assert leftovers == []  # no lock, checkpoint or temporary folder left beside the points


@pytest.fixture
def local_ray():
    ray = pytest.importorskip("ray", reason="ray is not installed (pip install 'synaptica[ray]'): Ray sweep not tested")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def test_sweep_on_ray_writes_a_folder_per_point_a_summary_and_plots_and_a_restart_reruns_only_missing_points(
        tmp_path, local_ray):
    out = tmp_path / "sweep"
    args = [*TINY, *GRID_2X2, "--workers", "2", "--out", str(out)]
    result = sweep(*args)
    assert result.exit_code == 0, result.output
    assert "ran 8 points, skipped 0 finished, 0 failed" in result.output
    check_full_sweep(out)
    assert local_ray.is_initialized()  # the sweep used the running instance and left it to its owner

    before = complete_points(out)
    deleted = sorted(before)[3]
    for path in (out / "points" / deleted).iterdir():
        path.unlink()
    (out / "points" / deleted).rmdir()
    result = sweep(*args)
    assert result.exit_code == 0, result.output
    assert "8 points, 7 finished earlier (skipped), 1 to run" in result.output
    assert "ran 1 points, skipped 7 finished" in result.output
    after = complete_points(out)
    assert set(after) == set(before)
    changed = [name for name in after if after[name] != before[name]]
    assert changed == [deleted]  # the other 7 folders were not rewritten
    check_full_sweep(out)


def test_local_backend_runs_the_grid_in_process_and_reruns_points_of_other_parameters(tmp_path):
    out = tmp_path / "sweep"
    result = sweep(*TINY, "--grid", "w_exc=1.5,2", "--seeds", "3", "--backend", "local", "--out", str(out))
    assert result.exit_code == 0, result.output
    rows = read_summary(out)
    assert [(r["w_exc"], r["seed"], r["status"]) for r in rows] == [("1.5", "3", "done"), ("2.0", "3", "done")]
    assert sorted(complete_points(out)) == ["w_exc=1.5_seed=3", "w_exc=2_seed=3"]
    # a complete folder of other parameters is not a finished point: it is run again
    config = out / "points" / "w_exc=2_seed=3" / "config.toml"
    config.write_text(config.read_text().replace("w_exc = 2.0", "w_exc = 2.5"))
    result = sweep(*TINY, "--grid", "w_exc=1.5,2", "--seeds", "3", "--backend", "local", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "ran 1 points, skipped 1 finished" in result.output
    assert "w_exc = 2.0" in config.read_text()


def test_kill_9_mid_sweep_then_restart_completes_and_skips_finished_points(tmp_path):
    out = tmp_path / "sweep"
    # long enough points (~1 s each) that the kill lands while one is running
    args = ["cuba", "--set", "n=200", "--set", "duration_ms=3000", "--grid", "tau_m=10,20", "--seeds", "1-2",
            "--backend", "local", "--out", str(out)]
    env = {**os.environ, "NUMBA_NUM_THREADS": "1"}
    process = subprocess.Popen([sys.executable, "-c", "from synaptica.cli.main import main; main()", "sweep", *args],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline and process.poll() is None:
            if (out / "points").is_dir() and complete_points(out):
                break
            time.sleep(0.05)
        assert process.poll() is None, process.stderr.read().decode()
        process.send_signal(signal.SIGKILL)
        process.wait(10)
    finally:
        if process.poll() is None:
            process.kill()
        process.stderr.close()
    finished = complete_points(out)
    assert 1 <= len(finished) < 4, sorted(finished)
    assert not (out / "summary.csv").exists()  # the summary is written at the end only

    result = sweep(*args)
    assert result.exit_code == 0, result.output
    assert f"4 points, {len(finished)} finished earlier (skipped), {4 - len(finished)} to run" in result.output
    after = complete_points(out)
    assert len(after) == 4
    assert all(after[name] == text for name, text in finished.items())  # finished points untouched
    assert len(read_summary(out)) == 4
    leftovers = [p.name for p in (out / "points").iterdir() if not p.is_dir() or p.suffix == ".partial"]
    assert leftovers == []  # the killed point's lock, partial folder and checkpoint are gone


@pytest.mark.parametrize("grid, expected", [
    (["--grid", "tau_mm=10,20"], ["--grid: key 'tau_mm': unknown parameter", "did you mean 'tau_m'?"]),
    (["--grid", "tau_m="], ["--grid: key 'tau_m': empty value list"]),
    (["--grid", "tau_m=10,-5", "--grid", "w_exc=abc"],
     ["key 'tau_m': value -5: must be in", "key 'w_exc': value abc: expected a number"]),
    (["--grid", "v_reset=-60,-45"], ["key 'v_reset': must be below v_th", "(point v_reset=-45.0)"]),
    (["--grid", "tau_m=10", "--seeds", "5-1"], ["--seeds: range '5-1' is empty"]),
    (["--grid", "tau_m=10", "--seeds", "a-b"], ["--seeds: expected N, A-B", "'a-b'"]),
    (["--grid", "tau_m=10", "--grid", "tau_m=20"], ["key 'tau_m': given twice"]),
    ([], ["nothing to sweep"]),
])
def test_bad_grids_are_refused_before_any_work(tmp_path, grid, expected):
    out = tmp_path / "sweep"
    result = sweep(*TINY, *grid, "--backend", "local", "--out", str(out))
    assert result.exit_code == 2, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error: ")]
    assert errors and len(errors) == len(result.output.strip().splitlines()), result.output
    for text in expected:
        assert text in result.output, result.output
    assert not out.exists() and not list(tmp_path.iterdir())  # nothing written, not even a lock


def test_without_ray_the_error_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    result = sweep(*TINY, "--grid", "tau_m=10,20", "--out", str(tmp_path / "sweep"))
    assert result.exit_code == 1
    assert "pip install 'synaptica[ray]'" in result.output and "--backend local" in result.output
    assert not (tmp_path / "sweep").exists()


def test_a_folder_that_is_not_a_sweep_is_refused(tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    result = sweep(*TINY, "--grid", "tau_m=10,20", "--backend", "local", "--out", str(out))
    assert result.exit_code == 2
    assert "is not a synaptica sweep" in result.output
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]
