"""Hostile-input campaign against the ``synaptica`` command line (issue 12).

Generates a batch of careless or hostile cases per category and runs each through the
real CLI in a subprocess, the way a user would:

* ``config``: one bad ``--set`` value (inf, NaN, huge, tiny, negative, wrong type, deep
  nesting, absurd sizes) over a small valid configuration of every built-in, and bad
  configuration files (devices, FIFOs, binary, huge, deeply nested).
* ``spikes``: spike files for ``synaptica analyze`` with mutated fields, dtypes, shapes
  and bytes, and bad analysis options.
* ``checkpoint``: a real checkpoint of an interrupted run (``kill -9``), with one field
  tampered, then the same command again.
* ``paths``: ``--out`` at folders holding the user's files, folders merely named like
  ours, impossible paths, and two runs into one folder at once.

Every case ends in one verdict. Good: ``refused`` (exit code 1 or 2, a one-line
``error:`` and nothing left behind) or ``ok`` (exit 0 with finite metrics). Bad:
``traceback``, ``crash`` (killed by a signal), ``hang`` (no exit within the time limit),
``nan`` (exit 0 with a metric that is null where the unperturbed run has a number),
``leftover`` (refused, but an output folder, ``.partial`` or checkpoint is left),
``data-loss`` (a file of the user's changed or vanished), ``unclean`` (non-zero exit
without an ``error:`` line), ``accepted`` (exit 0 on input that had to be refused).

    python bench/hostile.py                      # ~200 cases per category, writes BENCHMARKS.md
    python bench/hostile.py --per-category 20    # a quick look
    python bench/hostile.py --only spikes --show-bad   # its own section, "Hostile input: spikes"
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import write_section  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CLI = [str(ROOT / ".venv" / "bin" / "synaptica")]
GOOD = ("refused", "ok")
# metrics the README's NaN policy allows to be null: statistics of nothing (an ISI CV with too
# few spikes, the rate of an empty group, an AUC without edges, delay errors with no motif)
MAY_BE_NULL = re.compile(r"cv_isi|rate_(exc|inh)_hz|auc|delay_error|order_accuracy")
BROKEN_BASES: list[str] = []  # built-ins whose small valid configuration fails: a bug of its own

# A small valid configuration of every built-in: a hostile value replaces one key.
BASES: dict[str, list[str]] = {
    "cuba": ["n=200", "duration_ms=100"],
    "brain-states": ["n_units=10", "duration_s=5", "mean_dwell_s=1"],
    "brain-modes": ["n_seeds=1", "hidden=[16]", "epochs_base=2", "epochs_adapt=2", "n_train=200", "n_test=100",
                    "batch_size=64"],
    "delay-motifs": ["n_seeds=1", "n_inputs=10", "n_motifs=2", "motif_size=4", "max_latency=8", "max_delay=10",
                     "n_steps=30", "n_train=100", "n_test=50", "epochs=2", "batch_size=25"],
    "distal-reward": ["n_exc=40", "n_inh=10", "synapses_per_neuron=10", "duration_s=20"],
    "meta-neuron": ["n_seeds=1", "n_train=20", "n_test=10", "epochs=2", "n_hidden=8", "n_steps=30"],
    "sg-mnist": ["hidden=32", "epochs=1", "n_train=200", "n_test=100", "n_steps=10"],
    "stdp-digits": ["n_exc=10", "n_train=20", "n_test=20"],
    "sym-stdp-digits": ["n_exc=10", "n_train=20", "n_test=20"],
    "elm": ["adding_lengths=[20]", "adding_batches=2", "adding_test=20", "digits_epochs=1", "n_train=64", "n_test=32",
            "n_memory=4", "n_seeds=1"],
    "hlop-continual": ["n_seeds=1", "n_tasks=2", "hidden=[40,40]", "n_train=200", "n_test=100", "epochs_per_task=1",
                       "n_steps=10", "fisher_samples=50"],
    "nalsm": ["n_units=100", "n_train=40", "n_test=20", "n_init=10", "present_ms=50", "sweep_scales=[1.0]", "seeds=1"],
    "ca3-memory": ["n_content=16", "p_max=4", "p_step=2", "n_fractions=2", "n_seeds=1"],
    "sdr-dendrites": ["mc_cells=4", "segments_per_cell=4", "mc_steps=200", "union_cells=2", "is_samples=500"],
    "adaptive-reservoir": ["n_units=40", "in_degree=10", "n_train=100", "n_val=40", "n_test=40", "washout=20",
                           "mc_max_delay=10", "mg_horizon=5", "adapt_steps=100", "balances=[1.0]", "targets=[0.3]",
                           "sweep_input_scalings=[]", "sweep_initial_balances=[]", "seeds=1"],
    "criticality": ["m_values=[1.0]", "n_units=60", "out_degree=4", "n_trials=4", "trial_steps=100", "mr_kmax=5",
                    "n_bootstrap=0", "lz_steps=50", "n_input=3", "mc_train=100", "mc_test=50", "mc_max_delay=5",
                    "seeds=1"],
}

# Values a careless or hostile user types (TOML text, as after --set KEY=).
HOSTILE_VALUES = [
    "inf", "-inf", "nan", "+inf", "1e308", "-1e308", "1e-300", "-1e-300", "0", "-1", "0.0", "-0.0", "1000000000",
    "99999999999999999999", "9223372036854775807", "-9223372036854775808", "1e20", "3.5", "-3.5", "true", '""',
    '"' + "x" * 2000 + '"', "[]", "[1, 2]", "[inf]", "[[1]]", "[[[[[[1]]]]]]", "{a = 1}", "abc", '"../../etc"',
    "0x7fffffffffffffff", "1_000_000_000_000", "2.5e-320", "[" * 3000 + "1" + "]" * 3000, "[1e308, -1e308]",
]


@dataclass
class Case:
    category: str
    name: str
    argv: list[str]
    setup: Callable[[Path], None] = lambda work: None
    must_refuse: bool = False      # exit 0 is a failure (the input had to be refused)
    out: str | None = "out"        # the output folder the command names (relative to work)
    protect: tuple[str, ...] = ()  # user files (relative to work) that must survive byte for byte
    baseline: str | None = None    # key of the unperturbed run whose null metrics are allowed
    timeout: float = 120.0
    concurrent: int = 1            # start this many copies of the command at once


@dataclass
class Verdict:
    case: Case
    verdict: str
    detail: str = ""
    seconds: float = 0.0
    codes: list[int] = field(default_factory=list)


# --- config ------------------------------------------------------------------------------
def config_cases(rng: random.Random, n: int) -> list[Case]:
    from synaptica.experiments import available, get_experiment

    names = [name for name in available() if name in BASES]
    missing = sorted(set(available()) - set(BASES))
    if missing:
        print(f"warning: no small base configuration of {missing} in BASES: not covered")
    cases, seen = [], set()
    odd_keys = ["", "n.x", "experiment", "params", " ", "seed.x", "__class__"]
    while len(cases) < n - 12:
        name = rng.choice(names)
        schema = get_experiment(name).schema
        key = rng.choice(list(schema)) if rng.random() > 0.08 else rng.choice(odd_keys)
        field_ = schema.get(key)
        pool = list(HOSTILE_VALUES)
        if field_ is not None and isinstance(field_.default, (int, float)) and not isinstance(field_.default, bool):
            d = field_.default or 1
            pool += [repr(type(field_.default)(d * 1e9)), repr(-d), repr(type(field_.default)(d * 2))]
        value = rng.choice(pool)
        if (name, key, value) in seen:
            continue
        seen.add((name, key, value))
        argv = ["run", name] + [a for s in BASES[name] for a in ("--set", s)]
        if key == "seed" and rng.random() < 0.5:
            argv += ["--seed", value, "--out", "out"]
        else:
            argv += ["--set", f"{key}={value}", "--out", "out"]
        cases.append(Case("config", f"{name} {key}={value[:40]}", argv, baseline=name))
    cases += _config_file_cases()
    return cases


def _config_file_cases() -> list[Case]:
    def write(name: str, data: bytes) -> Callable[[Path], None]:
        return lambda work: (work / name).write_bytes(data)

    def fifo(work: Path) -> None:
        os.mkfifo(work / "x.toml")

    def link(target: str) -> Callable[[Path], None]:
        return lambda work: os.symlink(target, work / "x.toml")

    head = b'experiment = "cuba"\nn = 200\nduration_ms = 100\n'
    files = [
        ("fifo x.toml", fifo), ("/dev/zero as x.toml", link("/dev/zero")), ("/dev/urandom as x.toml", link("/dev/urandom")),
        ("binary", write("x.toml", bytes(range(256)) * 64)), ("huge file", write("x.toml", head + b"# " + b"x" * 50_000_000)),
        ("nested arrays", write("x.toml", head + b"w = " + b"[" * 5000 + b"1" + b"]" * 5000)),
        ("nested tables", write("x.toml", head + b"a = " + b"{b = " * 3000 + b"1" + b"}" * 3000)),
        ("non-utf8", write("x.toml", head + b"v_th = \xff\xfe")), ("empty", write("x.toml", b"")),
        ("directory", lambda work: (work / "x.toml").mkdir()), ("dangling link", link("/nonexistent/x")),
    ]
    cases = [Case("config", f"file: {label}", ["run", "x.toml", "--out", "out"], setup, must_refuse=True)
             for label, setup in files]
    cases.append(Case("config", "file: /dev/zero", ["run", "/dev/zero", "--out", "out"], must_refuse=True))
    return cases


# --- spike files -------------------------------------------------------------------------
def _valid_fields(rng: random.Random) -> dict[str, np.ndarray]:
    n_units = rng.randint(2, 12)
    n_spikes = rng.randint(30, 400)
    times = np.sort(np.array([rng.uniform(0, 2.0) for _ in range(n_spikes)]))
    ids = np.array([rng.randrange(n_units) for _ in range(n_spikes)], dtype=np.int64)
    return {"times": times, "ids": ids, "n_units": np.array(n_units), "t_start": np.array(0.0),
            "t_stop": np.array(2.0), "format": np.array("synaptica.spikes"), "version": np.array(1)}


def _mutate(rng: random.Random, fields: dict[str, np.ndarray]) -> tuple[str, bool]:
    """Change one field in place; return (description, whether the file must be refused)."""
    key = rng.choice(list(fields))
    old = fields[key]
    kind = rng.choice(["nan", "inf", "negative", "huge", "float", "string", "complex", "2d", "short", "missing",
                       "zero", "empty", "object-bytes", "bool", "extra"])
    must = True
    if kind == "nan":
        fields[key] = np.full(old.shape, np.nan)
    elif kind == "inf":
        fields[key] = np.full(old.shape, np.inf)
    elif kind == "negative":
        fields[key] = -np.abs(old.astype(np.float64)) - 1 if old.dtype.kind in "iuf" else old
        must = key in ("ids", "n_units", "t_stop", "times") and old.dtype.kind in "iuf"
    elif kind == "huge":
        fields[key] = (np.full(old.shape, 2**40) if old.dtype.kind in "iu" else np.full(old.shape, 1e300))
        # an index, count or step of 2**40 is out of range; a finite 1e300 in a float state
        # (a trace, a recorded history) is implausible but not invalid: a checkpoint is not
        # authenticated, its checks promise memory safety and finiteness, not physics
        must = old.dtype.kind in "iu" or key in ("t_stop", "times", "n_units", "version")
    elif kind == "float":
        fields[key] = old.astype(np.float64) + 0.5 if old.dtype.kind in "iuf" else old
        must = key in ("ids", "n_units") and old.dtype.kind in "iu"
    elif kind == "string":
        fields[key] = np.array(["x"] * max(1, old.size)).reshape(old.shape) if old.ndim else np.array("x")
    elif kind == "complex":
        fields[key] = old.astype(np.complex128) + 1j if old.dtype.kind in "iuf" else old
    elif kind == "2d":
        fields[key] = np.stack([old, old]) if old.ndim else old.reshape(1, 1)
    elif kind == "short":
        fields[key] = old[: max(0, old.size // 2)] if old.ndim else old
        must = old.ndim > 0
    elif kind == "missing":
        del fields[key]
        must = key in ("times", "ids")
    elif kind == "zero":
        fields[key] = np.zeros_like(old) if old.dtype.kind in "iuf" else old
        must = key in ("n_units", "t_stop", "times")
    elif kind == "empty":
        fields[key] = old[:0] if old.ndim else old
        must = old.ndim > 0
    elif kind == "object-bytes":
        fields[key] = np.array([b"\x00\xff"] * max(1, old.size))
    elif kind == "bool":
        fields[key] = np.ones(old.shape, dtype=bool)
        must = key != "ids"
    elif kind == "extra":
        fields["unit:evil"] = np.arange(10**6)
        must = False
    new = fields.get(key)
    if new is old or (new is not None and new.dtype == old.dtype and new.shape == old.shape
                      and np.array_equal(new, old, equal_nan=new.dtype.kind in "fc")):
        must = False  # this mutation does not apply to the field (e.g. halving a length-1 axis): nothing changed
    return f"{key}:{kind}", must


def spike_cases(rng: random.Random, n: int) -> list[Case]:
    cases = []
    options = [[], [], [], ["--bin-size", "0"], ["--bin-size", "-1"], ["--bin-size", "nan"], ["--bin-size", "inf"],
               ["--bin-size", "1e-300"], ["--bin-size", "1e6"], ["--max-lag", "1e9"], ["--count-bin", "1e-12"],
               ["--states", "0"], ["--states", "1000"], ["--states", "2"], ["--state-bin", "1e-9"], ["--max-lag", "0"]]
    for i in range(n):
        fields = _valid_fields(rng)
        how = rng.random()
        opts = ["--no-connectivity"] if rng.random() < 0.7 else []
        if how < 0.6:
            label, must = _mutate(rng, fields)
            data = fields
            raw = None
        elif how < 0.75:
            label, must, data = "valid", False, fields
            opts = opts + rng.choice(options)
            label = "options " + " ".join(opts)
            must = False
            raw = None
        elif how < 0.85:
            data = None
            buf = _npz_bytes(fields)
            cut = rng.randint(0, len(buf) - 1)
            raw = rng.choice([buf[:cut], buf[:cut] + bytes(rng.randrange(256) for _ in range(64)), b"", b"PK\x03\x04",
                              bytes(rng.randrange(256) for _ in range(4096))])
            label, must = f"corrupt bytes ({len(raw)} B)", True
        else:
            extreme = rng.choice([("n_units", np.array(2**40)), ("t_stop", np.array(1e12)), ("ids", "huge-id"),
                                  ("times", "single"), ("t_start", np.array(1.9)), ("times", "duplicates")])
            key, value = extreme
            if value == "huge-id":
                fields["ids"] = fields["ids"].copy()
                fields["ids"][-1] = 2**40
                fields["n_units"] = np.array(2**40 + 1)
            elif value == "single":
                fields["times"], fields["ids"] = fields["times"][:1], fields["ids"][:1]
            elif value == "duplicates":
                fields["times"] = np.repeat(fields["times"][:1], fields["times"].size)
            else:
                fields[key] = value
            label, must, data, raw = f"extreme {key}={value if isinstance(value, str) else value.item()}", False, fields, None

        def setup(work: Path, data=data, raw=raw) -> None:
            path = work / "s.npz"
            path.write_bytes(raw if raw is not None else _npz_bytes(data))

        cases.append(Case("spikes", f"{i}: {label}", ["analyze", "s.npz", "--out", "out"] + opts, setup, must_refuse=must))
    return cases


def _npz_bytes(fields: dict[str, np.ndarray]) -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "f.npz"
        np.savez(path, **fields)
        return path.read_bytes()


# --- checkpoints -------------------------------------------------------------------------
CHECKPOINTED = {
    "cuba": ["n=300", "duration_ms=20000"],
    "stdp-digits": ["n_exc=10", "n_train=200", "n_test=50"],
    "distal-reward": ["n_exc=40", "n_inh=10", "synapses_per_neuron=10", "duration_s=600"],
    "sg-mnist": ["hidden=32", "epochs=3", "n_train=1500", "n_test=100", "n_steps=10"],
}


def _interrupted_checkpoints(work: Path) -> dict[str, Path]:
    """Run each checkpointing experiment, kill -9 it once a checkpoint exists; return them."""
    found = {}
    for name, base in CHECKPOINTED.items():
        folder = work / f"ck-{name}"
        folder.mkdir(parents=True)
        argv = CLI + ["run", name] + [a for s in base for a in ("--set", s)] + ["--out", "out"]
        proc = subprocess.Popen(argv, cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)
        deadline = time.time() + 240
        files: list[Path] = []
        while time.time() < deadline and proc.poll() is None:
            if sorted(folder.glob("out.checkpoint*.npz")):  # written atomically: complete once visible
                break
            time.sleep(0.05)
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:  # it finished first (and removed its checkpoint)
            pass
        proc.wait()
        files = sorted(folder.glob("out.checkpoint*.npz"))
        if files:
            found[name] = files[0]
        else:
            print(f"warning: no checkpoint from {name} (exit {proc.returncode})")
    return found


def checkpoint_cases(rng: random.Random, n: int, checkpoints: dict[str, Path]) -> list[Case]:
    cases = []
    names = sorted(checkpoints)
    for i in range(n):
        if not names:
            break
        name = rng.choice(names)
        source = checkpoints[name]
        with np.load(source, allow_pickle=False) as data:
            fields = {k: data[k] for k in data.files}
        how = rng.random()
        if how < 0.85:
            label, must = _mutate(rng, fields)
            payload = _npz_bytes(fields)
        else:
            buf = source.read_bytes()
            cut = rng.randint(0, len(buf) - 1)
            payload = rng.choice([buf[:cut], buf[:cut] + b"\x00" * 100, b"", b"not a zip"])
            label, must = f"corrupt bytes ({len(payload)} B)", True
        argv = ["run", name] + [a for s in CHECKPOINTED[name] for a in ("--set", s)] + ["--out", "out"]

        def setup(work: Path, payload=payload, file_name=source.name) -> None:
            (work / file_name).write_bytes(payload)

        # a finite change to a state value may be resumed; anything else must be refused
        cases.append(Case("checkpoint", f"{i}: {name} {label}", argv, setup, must_refuse=must, baseline=None,
                          timeout=300))
    return cases


# --- output paths ------------------------------------------------------------------------
def _user_files(folder: Path, rng: random.Random) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    made = []
    for name in rng.sample(["raster.png", "notes.txt", "metrics.json", "spikes.npz", "thesis.pdf", "fig1.png",
                            "config.toml", "data.csv"], rng.randint(1, 4)):
        (folder / name).write_bytes(os.urandom(64))
        made.append(name)
    if rng.random() < 0.4:
        (folder / "sub").mkdir(exist_ok=True)
        (folder / "sub" / "keep.txt").write_text("mine")
        made.append("sub/keep.txt")
    return made


def path_cases(rng: random.Random, n: int) -> list[Case]:
    cases = []
    run = ["run", "cuba", "--set", "n=100", "--set", "duration_ms=50"]

    def analyze_setup(work: Path) -> None:
        fields = _valid_fields(random.Random(1))
        (work / "s.npz").write_bytes(_npz_bytes(fields))

    fixed: list[tuple[str, str, Callable[[Path], None], bool]] = [
        ("empty --out", "", lambda w: None, True),
        ("parent is a file", "f/out", lambda w: (w / "f").write_text("x"), True),
        ("runs is a file", "runs/out", lambda w: (w / "runs").write_text("x"), True),
        ("name too long", "x" * 300, lambda w: None, True),
        ("unwritable (/proc)", "/proc/synaptica-out", lambda w: None, True),
        ("out is a file", "out", lambda w: (w / "out").write_text("mine"), True),
    ]
    for command in ("run", "analyze"):
        for label, out, setup, must in fixed:
            argv = (run if command == "run" else ["analyze", "s.npz", "--no-connectivity"]) + ["--out", out]

            def both(work: Path, setup=setup, command=command) -> None:
                if command == "analyze":
                    analyze_setup(work)
                setup(work)

            cases.append(Case("paths", f"{command}: {label}", argv, both, must_refuse=must, out=out or None,
                              protect=("out",) if label == "out is a file" else ()))
    i = 0
    while len(cases) < n:
        i += 1
        command = rng.choice(["run", "analyze"])
        layout = rng.choice(["user folder", "named .partial", "named .previous", "symlink to user folder",
                             "concurrent", "user subfolder only", "empty folder"])
        seed = rng.randrange(10**9)

        def setup(work: Path, layout=layout, seed=seed, command=command) -> None:
            r = random.Random(seed)
            if command == "analyze":
                analyze_setup(work)
            if layout == "user folder":
                _user_files(work / "out", r)
            elif layout in ("named .partial", "named .previous"):
                _user_files(work / ("out" + layout.split()[-1]), r)
            elif layout == "symlink to user folder":
                _user_files(work / "elsewhere", r)
                os.symlink(work / "elsewhere", work / "out")
            elif layout == "user subfolder only":
                (work / "out" / "sub").mkdir(parents=True)
                (work / "out" / "sub" / "keep.txt").write_text("mine")
            elif layout == "empty folder":
                (work / "out").mkdir()

        argv = (run if command == "run" else ["analyze", "s.npz", "--no-connectivity"]) + ["--out", "out"]
        must = layout in ("user folder", "user subfolder only", "symlink to user folder")
        cases.append(Case("paths", f"{i}: {command}: {layout}", argv, setup, must_refuse=must,
                          concurrent=2 if layout == "concurrent" else 1, protect=("*",)))
    return cases


# --- running and judging -----------------------------------------------------------------
def _snapshot(work: Path) -> dict[str, str]:
    """sha1 of every file under ``work`` (following no links), by relative path."""
    result = {}
    for root, _, files in os.walk(work):
        for name in files:
            path = Path(root) / name
            if path.is_symlink() or not path.is_file():
                continue
            result[str(path.relative_to(work))] = hashlib.sha1(path.read_bytes()).hexdigest()
    return result


def _leftovers(work: Path, out: str | None, before: set[str]) -> list[str]:
    if not out or out.startswith("/"):
        return []
    target = work / out
    names = [target, target.with_name(target.name + ".partial"), target.with_name(target.name + ".previous")]
    try:
        left = [str(p.relative_to(work)) for p in names if p.exists() and str(p.relative_to(work)) not in before]
        left += [str(p.relative_to(work)) for p in target.parent.glob(target.name + ".checkpoint*.npz")
                 if str(p.relative_to(work)) not in before]
    except OSError:  # e.g. a name too long to exist
        return []
    return left


def run_case(case: Case, scratch: Path, baselines: dict[str, dict]) -> Verdict:
    work = Path(tempfile.mkdtemp(dir=scratch))
    try:
        case.setup(work)
        before = _snapshot(work)
        present = {str(p.relative_to(work)) for p in work.iterdir()}
        env = dict(os.environ, SYNAPTICA_CACHE=os.environ.get("SYNAPTICA_CACHE", str(scratch / "cache")),
                   OMP_NUM_THREADS="1", NUMBA_NUM_THREADS="1")
        start = time.perf_counter()
        procs = [subprocess.Popen(CLI + case.argv, cwd=work, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  stdin=subprocess.DEVNULL, env=env, start_new_session=True)
                 for _ in range(case.concurrent)]
        outputs, timed_out = [], False
        for proc in procs:
            try:
                outputs.append(proc.communicate(timeout=max(1.0, case.timeout - (time.perf_counter() - start))))
            except subprocess.TimeoutExpired:
                timed_out = True
                os.killpg(proc.pid, signal.SIGKILL)
                outputs.append(proc.communicate())
        seconds = time.perf_counter() - start
        codes = [p.returncode for p in procs]
        text = "\n".join(o.decode(errors="replace") + e.decode(errors="replace") for o, e in outputs)
        verdict = _judge(case, work, codes, text, timed_out, before, present, baselines)
        return Verdict(case, verdict[0], verdict[1], seconds, codes)
    finally:
        _make_removable(work)
        shutil.rmtree(work, ignore_errors=True)


def _make_removable(work: Path) -> None:
    for root, dirs, _ in os.walk(work):
        for d in dirs:
            try:
                os.chmod(Path(root) / d, 0o755)
            except OSError:
                pass


def _judge(case: Case, work: Path, codes: list[int], text: str, timed_out: bool, before: dict[str, str],
           present: set[str], baselines: dict[str, dict]) -> tuple[str, str]:
    last_error = next((line for line in text.splitlines() if line.startswith("error:")), "")
    if timed_out:
        return "hang", f"no exit within {case.timeout:g} s"
    if any(c < 0 for c in codes):
        return "crash", f"signal {-min(codes)}"
    if "Traceback (most recent call last)" in text:
        tail = [line for line in text.splitlines() if line.strip()][-1:]
        return "traceback", tail[0][:160] if tail else ""
    if case.protect:
        after = _snapshot(work)
        lost = [k for k, h in before.items() if after.get(k) != h and not k.startswith("s.npz")]
        if lost and not all(_was_ours(k) for k in lost):
            return "data-loss", ", ".join(lost[:4])
    if any(c != 0 for c in codes) and not last_error:
        return "unclean", f"exit {codes} without an error: line"
    if all(c != 0 for c in codes):
        left = _leftovers(work, case.out, present)
        if left:
            return "leftover", ", ".join(left)
        return "refused", last_error[:160]
    if case.concurrent > 1 and sorted(codes) != [0, 2] and codes.count(0) != len(codes):
        return "unclean", f"concurrent exit codes {codes}"
    if case.must_refuse:
        return "accepted", "exit 0"
    metrics_path = work / (case.out or "out") / "metrics.json"
    if case.out and metrics_path.exists():
        metrics = json.loads(metrics_path.read_text())
        allowed = baselines.get(case.baseline or "", {})
        nulls = [k for k, v in _flatten(metrics).items()
                 if v is None and allowed.get(k) is not None and not MAY_BE_NULL.search(k)]
        if case.baseline and nulls:
            return "nan", ", ".join(nulls[:4])
    return "ok", ""


def _was_ours(path: str) -> bool:
    """A file synaptica itself wrote earlier (its marker), which it may replace."""
    return path.startswith(".synaptica") or "/.synaptica" in path


def _flatten(value: object, prefix: str = "") -> dict[str, object]:
    if isinstance(value, dict):
        out: dict[str, object] = {}
        for k, v in value.items():
            out.update(_flatten(v, f"{prefix}{k}."))
        return out
    return {prefix.rstrip("."): value}


def baselines_for(names: list[str], scratch: Path) -> dict[str, dict]:
    """Metrics of each experiment's unperturbed small run: its nulls are not the input's fault."""
    result = {}
    for name in names:
        case = Case("config", f"{name} base", ["run", name] + [a for s in BASES[name] for a in ("--set", s)]
                    + ["--out", "out"], timeout=600)
        work = Path(tempfile.mkdtemp(dir=scratch))
        proc = subprocess.run(CLI + case.argv, cwd=work, capture_output=True)
        metrics = work / "out" / "metrics.json"
        if proc.returncode != 0 or not metrics.exists():
            print(f"warning: the base configuration of {name} fails, so it is left out: {proc.stderr.decode()[-300:]}")
            BASES.pop(name)
            BROKEN_BASES.append(name)
            continue
        result[name] = {k: (v if v is not None else None) for k, v in _flatten(json.loads(metrics.read_text())).items()}
        shutil.rmtree(work, ignore_errors=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--per-category", type=int, default=200)
    parser.add_argument("--only", choices=["config", "spikes", "checkpoint", "paths"], action="append")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--show-bad", action="store_true", help="print every bad case")
    parser.add_argument("--no-write", action="store_true", help="do not write BENCHMARKS.md")
    args = parser.parse_args()
    categories = args.only or ["config", "spikes", "checkpoint", "paths"]
    rng = random.Random(args.seed)
    scratch = Path(tempfile.mkdtemp(prefix="synaptica-hostile-"))
    try:
        cases: list[Case] = []
        baselines = baselines_for(sorted(BASES), scratch) if "config" in categories else {}
        for category in categories:
            if category == "config":
                cases += config_cases(rng, args.per_category)
            elif category == "spikes":
                cases += spike_cases(rng, args.per_category)
            elif category == "checkpoint":
                cases += checkpoint_cases(rng, args.per_category, _interrupted_checkpoints(scratch / "checkpoints"))
            else:
                cases += path_cases(rng, args.per_category)
        start = time.perf_counter()
        with ThreadPoolExecutor(args.workers) as pool:
            verdicts = []
            for verdict in pool.map(lambda c: run_case(c, scratch, baselines), cases):
                verdicts.append(verdict)
                if verdict.verdict not in GOOD or len(verdicts) % 25 == 0:
                    print(f"[{len(verdicts)}/{len(cases)}] {verdict.case.category} {verdict.case.name[:70]}: "
                          f"{verdict.verdict} {verdict.detail[:100]}", flush=True)
        wall = time.perf_counter() - start
    finally:
        _make_removable(scratch)
        shutil.rmtree(scratch, ignore_errors=True)
    report(verdicts, categories, wall, args)


def report(verdicts: list[Verdict], categories: list[str], wall: float, args: argparse.Namespace) -> None:
    kinds = ["refused", "ok", "traceback", "crash", "hang", "nan", "leftover", "data-loss", "unclean", "accepted"]
    rows = ["| category | cases | " + " | ".join(kinds) + " |", "|---" * (len(kinds) + 2) + "|"]
    for category in categories:
        mine = [v for v in verdicts if v.case.category == category]
        counts = [sum(v.verdict == k for v in mine) for k in kinds]
        rows.append(f"| {category} | {len(mine)} | " + " | ".join(str(c) for c in counts) + " |")
    bad = [v for v in verdicts if v.verdict not in GOOD]
    lines = [f"- `{v.case.category}` {v.case.name[:90]}: **{v.verdict}** {v.detail[:140]}" for v in bad]
    print("\n".join(rows))
    if args.show_bad or len(bad) <= 40:
        print("\n".join(lines))
    only = "".join(f" --only {c}" for c in categories) if args.only else ""
    per = f" --per-category {args.per_category}" if args.per_category != 200 else ""
    command = f"python bench/hostile.py{only}{per}"
    title = "Hostile input" + (f": {', '.join(categories)}" if args.only else "")
    section = "\n".join([
        f"## {title} (`bench/hostile.py`)", "",
        f"`{command}` (seed {args.seed}): generated cases run through the real CLI, one subprocess each, "
        f"{len(verdicts)} cases in {wall / 60:.1f} min. Good verdicts: `refused` (exit 1/2, one `error:` line, "
        "nothing left behind) and `ok` (exit 0, finite metrics); every other column counts failures.", "",
        *rows, "",
        f"{len(bad)} bad case(s)." + ("" if not bad else " First ones:"), *lines[:20],
        *([f"Left out because their small valid configuration fails: {', '.join(BROKEN_BASES)}."] if BROKEN_BASES else []),
    ])
    if not args.no_write:  # each set of categories owns its section
        write_section(ROOT / "BENCHMARKS.md", title, section)


if __name__ == "__main__":
    main()
