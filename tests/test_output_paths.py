"""`--out` of `run` and `analyze`: the user's data is never lost, impossible paths fail fast.

Every refusal is checked for its exit code (2), its one `error:` line, the user's files
surviving byte for byte, no work done before it (no simulation, no analysis) and nothing
left behind (output, .partial, .previous, .lock, checkpoint, created parents).
"""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap
import time
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import synaptica.analysis.report
import synaptica.cli.main
from synaptica.cli.folder import MARKER, OutputClaim
from synaptica.cli.main import main
from synaptica.cli.output import RUN_FILES
from synaptica.cli.provenance import git_state
from synaptica.io.spikes import load_record, save_spikes

RUN = ["run", "cuba", "--set", "n=50", "--set", "duration_ms=20"]
ANALYZE = ["analyze", "s.npz", "--no-connectivity"]
COMMANDS = {"run": RUN, "analyze": ANALYZE}
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working folder holding a small spike file ``s.npz`` (4 units, 2 s)."""
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(1)
    times = np.sort(rng.uniform(0, 2.0, 200))
    save_spikes(tmp_path / "s.npz", times, rng.integers(0, 4, 200), n_units=4, t_stop=2.0)
    return tmp_path


@pytest.fixture
def no_work(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Records every simulation or analysis started (a refusal must come before any)."""
    started: list[str] = []
    simulate, analyze = synaptica.cli.main._simulate, synaptica.analysis.report.analyze_record

    def spy_simulate(*args, **kwargs):
        started.append("simulate")
        return simulate(*args, **kwargs)

    def spy_analyze(*args, **kwargs):
        started.append("analyze")
        return analyze(*args, **kwargs)

    monkeypatch.setattr(synaptica.cli.main, "_simulate", spy_simulate)
    monkeypatch.setattr(synaptica.analysis.report, "analyze_record", spy_analyze)
    return started


def invoke(command: str, out: str | None):
    args = COMMANDS[command] + ([] if out is None else ["--out", out])
    return CliRunner().invoke(main, args, catch_exceptions=False)


def snapshot(folder: Path) -> dict[str, str]:
    """Everything below ``folder`` by relative path: sha1 of each file, "folder" for each
    folder, the target of each link (not followed)."""
    found = {}
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            path = Path(root) / name
            key = str(path.relative_to(folder))
            if path.is_symlink():
                found[key] = "link to " + os.readlink(path)
            elif path.is_dir():
                found[key] = "folder"
            else:
                found[key] = hashlib.sha1(path.read_bytes()).hexdigest()
    return found


def user_folder(folder: Path) -> None:
    """A folder of the user's that looks like an output: PNGs, a metrics.json, a subfolder."""
    (folder / "sub").mkdir(parents=True)
    for name in ("raster.png", "fig1.png", "metrics.json", "notes.txt", "sub/keep.txt"):
        (folder / name).write_bytes(os.urandom(64))


def assert_refused(result, message: str, work: Path, before: dict[str, str], started: list[str]) -> None:
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], result.stderr
    assert "Traceback" not in result.output
    assert not started, f"work started before the refusal: {started}"
    # every file of the user's byte for byte, and nothing left behind: no output, .partial,
    # .previous, .lock, checkpoint or created parent folder
    assert snapshot(work) == before


def assert_output(folder: Path, command: str) -> dict:
    marker = json.loads((folder / MARKER).read_text())
    names = {p.name for p in folder.iterdir()}
    assert marker["kind"] == command and marker["state"] == "complete"
    assert set(marker["files"]) | {MARKER} == names
    assert {"metrics.json", "provenance.json", "raster.png"} <= names
    if command == "run":
        assert names == set(RUN_FILES)
    return json.loads((folder / "provenance.json").read_text())


def assert_no_leftovers(work: Path, out: str = "out") -> None:
    left = [p.name for p in work.iterdir() if p.name.startswith(out + ".")]
    assert not left, left


# --- folders of the user's ------------------------------------------------------------------

@pytest.mark.parametrize("command", ["run", "analyze"])
@pytest.mark.parametrize(("layout", "message"), [
    ("user files", "holds files synaptica did not write"),
    ("subfolder only", "holds files synaptica did not write (sub/)"),
    ("named .partial", "'out.partial' exists and was not made by synaptica"),
    ("named .previous", "'out.previous' exists and was not made by synaptica"),
    ("symlink to user folder", "is a symbolic link"),
    ("a file", "'out' exists and is not a folder"),
])
def test_a_folder_of_the_users_is_refused_untouched(work: Path, no_work: list[str], command: str, layout: str,
                                                    message: str):
    if layout == "user files":
        user_folder(work / "out")
    elif layout == "subfolder only":
        (work / "out" / "sub").mkdir(parents=True)
        (work / "out" / "sub" / "keep.txt").write_text("mine")
    elif layout.startswith("named"):
        user_folder(work / ("out" + layout.split()[-1]))
    elif layout == "symlink to user folder":
        user_folder(work / "elsewhere")
        os.symlink(work / "elsewhere", work / "out")
    else:
        (work / "out").write_text("mine")
    before = snapshot(work)
    result = invoke(command, "out")
    assert_refused(result, message, work, before, no_work)
    if layout == "symlink to user folder":
        assert (work / "out").is_symlink()


@pytest.mark.parametrize("command", ["run", "analyze"])
def test_an_earlier_output_plus_a_user_file_is_refused(work: Path, no_work: list[str], command: str):
    assert invoke(command, "out").exit_code == 0
    (work / "out" / "thesis.pdf").write_bytes(b"%PDF mine")
    no_work.clear()
    before = snapshot(work)
    result = invoke(command, "out")
    assert_refused(result, "plus files it did not write (thesis.pdf)", work, before, no_work)


def test_the_other_commands_output_is_refused(work: Path, no_work: list[str]):
    assert invoke("run", "out").exit_code == 0
    no_work.clear()
    before = snapshot(work)
    result = invoke("analyze", "out")
    assert_refused(result, "holds a synaptica 'run' output (complete), not a complete 'analyze' output", work,
                   before, no_work)


# --- folders synaptica may write ------------------------------------------------------------

@pytest.mark.parametrize("command", ["run", "analyze"])
def test_new_empty_and_earlier_outputs_are_written(work: Path, command: str):
    (work / "empty").mkdir()
    assert invoke(command, "empty").exit_code == 0
    assert_output(work / "empty", command)
    result = invoke(command, "runs/deep/new")  # parents created
    assert result.exit_code == 0, result.output
    first = assert_output(work / "runs/deep/new", command)
    time.sleep(0.01)
    assert invoke(command, "runs/deep/new").exit_code == 0  # an earlier output of the same command: replaced
    second = assert_output(work / "runs/deep/new", command)
    assert second["started"] > first["started"]
    assert_no_leftovers(work, "empty")
    assert_no_leftovers(work / "runs/deep", "new")


@pytest.mark.parametrize("command", ["run", "analyze"])
def test_leftovers_of_a_crash_are_cleaned(work: Path, command: str):
    """A writer killed mid-way leaves marked temporary folders: they are ours, removed."""
    assert invoke(command, "out").exit_code == 0
    for suffix in (".partial", ".previous"):
        leftover = work / ("out" + suffix)
        leftover.mkdir()
        (leftover / MARKER).write_text(json.dumps({"format": "synaptica.output", "kind": command,
                                                   "state": "partial", "target": "out"}))
        (leftover / "metrics.json").write_text("{}")  # half-written
    assert invoke(command, "out").exit_code == 0
    assert_output(work / "out", command)
    assert_no_leftovers(work)


def git_head() -> str:
    return subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()


def test_provenance_of_a_run(work: Path):
    git_state.cache_clear()  # computed once per process; other tests may have run it on an older commit
    heads = {git_head()}
    result = CliRunner().invoke(main, RUN + ["--seed", "7", "--out", "out"])
    heads.add(git_head())  # a commit may land meanwhile in a shared checkout
    assert result.exit_code == 0, result.output
    record = assert_output(work / "out", "run")
    assert record["kind"] == "run" and record["seed"] == 7 and isinstance(record["command"], list)
    assert set(record["packages"]) >= {"synaptica", "torch", "numpy", "numba"}
    assert record["packages"]["numpy"] == np.__version__ and record["python"] == sys.version.split()[0]
    started, finished = (datetime.fromisoformat(record[k]) for k in ("started", "finished"))
    assert started.utcoffset().total_seconds() == 0 and started <= finished
    assert record["host"] and record["working_directory"] == str(work)
    tracked = subprocess.run(["git", "-C", str(ROOT), "ls-files", "--error-unmatch", "src/synaptica/__init__.py"],
                             capture_output=True)
    if "" not in heads and tracked.returncode == 0 and "site-packages" not in synaptica.cli.main.__file__:
        assert record["git"]["commit"] in heads


# --- impossible paths: refused before any work ---------------------------------------------

@pytest.mark.parametrize("command", ["run", "analyze"])
@pytest.mark.parametrize(("out", "setup", "message"), [
    ("", None, "does not name a folder"),
    (".", None, "does not name a folder"),
    ("f/out", "file f", "'f' is a file, not a folder"),
    ("x" * 300, None, "the folder name is 300 bytes long"),
    ("/proc/synaptica-out", None, "cannot write in '/proc'"),
    ("/proc/synaptica-dir/out", None, "cannot create the folder '/proc/synaptica-dir'"),
    ("ro/sub/out", "read-only ro", "ro/sub"),
])
def test_impossible_paths_fail_fast(work: Path, no_work: list[str], command: str, out: str, setup: str | None,
                                    message: str):
    if setup == "file f":
        (work / "f").write_text("mine")
    elif setup == "read-only ro":
        if os.geteuid() == 0:
            pytest.skip("root writes into read-only folders; /proc covers an unwritable parent")
        (work / "ro").mkdir()
        (work / "ro").chmod(0o555)
    before = snapshot(work)
    try:
        result = invoke(command, out)
    finally:
        if (work / "ro").exists():
            (work / "ro").chmod(0o755)
    assert_refused(result, message, work, before, no_work)


def test_runs_being_a_file_fails_fast(work: Path, no_work: list[str]):
    (work / "runs").write_text("mine")
    before = snapshot(work)
    assert_refused(invoke("run", None), "'runs' is a file, not a folder", work, before, no_work)


def test_created_parents_are_removed_after_a_refusal(work: Path):
    result = CliRunner().invoke(main, ["analyze", "s.npz", "--bin-size", "9", "--out", "a/b/out"])
    assert result.exit_code == 2 and "--bin-size = 9 s is longer than the record" in result.stderr
    assert not (work / "a").exists()


# --- two processes, one folder ---------------------------------------------------------------

HOLDER = textwrap.dedent("""
    import sys, time
    from synaptica.cli.folder import OutputClaim
    with OutputClaim(sys.argv[1], "run"):
        print("held", flush=True)
        time.sleep(60)
""")


def test_a_second_process_is_refused_while_the_first_writes(work: Path, no_work: list[str]):
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, "out"], cwd=work, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        before = snapshot(work)
        for command in ("run", "analyze"):
            result = invoke(command, "out")
            assert result.exit_code == 2
            assert result.stderr.strip() == f"error: another synaptica process (pid {holder.pid}) is writing to out"
            assert snapshot(work) == before and not no_work
    finally:
        holder.kill()
        holder.wait()
    assert invoke("analyze", "out").exit_code == 0  # the lock died with its process
    assert_no_leftovers(work)


def test_two_runs_started_at_once_into_one_folder(work: Path):
    """Each exits 0, or 2 with the lock message; the folder holds one complete run."""
    cli = [sys.executable, "-c", "from synaptica.cli.main import main; main()"]
    env = dict(os.environ, OMP_NUM_THREADS="1", NUMBA_NUM_THREADS="1")
    procs = [subprocess.Popen(cli + RUN + ["--out", "out"], cwd=work, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [(p.wait(timeout=300), p.stderr.read()) for p in procs]
    for code, stderr in results:
        assert code in (0, 2), stderr
        if code == 2:
            assert "error: another synaptica process (pid " in stderr and "is writing to out" in stderr
    assert any(code == 0 for code, _ in results)
    assert_output(work / "out", "run")
    assert load_record(work / "out" / "spikes.npz").n_units == 50
    assert_no_leftovers(work)


def test_one_process_cannot_claim_a_folder_twice(work: Path):
    with OutputClaim(work / "out", "run"):
        with pytest.raises(ValueError, match="already being written by this process"):
            OutputClaim(work / "out", "run").acquire()
    assert not (work / "out.lock").exists()
