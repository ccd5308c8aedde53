"""Checkpoints are untrusted input (issue 12): tampered files are refused cleanly, and a run
killed with SIGKILL resumes to the result of an uninterrupted run, bit for bit.

Tampering: for each checkpointing experiment (tiny sizes), a real checkpoint of an
interrupted run has one field changed at a time -- NaN, infinity, negative, huge, float,
string, complex, 2-D, wrong length, missing, zero, empty -- or an extra field, or the
file truncated or not a zip. Every case runs in one subprocess per experiment (a
segmentation fault fails the test instead of killing pytest) and must end in a
``CheckpointError`` naming the file (always for the cases listed in ``MUST_REFUSE``), or
in a complete run with finite metrics.

Kill -9: each experiment is started through the ``synaptica`` CLI, killed with SIGKILL
as soon as a checkpoint exists, then the same command is run again; its spikes and
metrics (wall times aside) must equal those of an uninterrupted run.
"""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

CLI = str(Path(sys.executable).with_name("synaptica"))
# one torch thread in every run (as in this test session): results of parallel reductions
# may depend on the thread count, and the kill -9 comparison is bit for bit
ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1"}

# tiny runs of every checkpointing experiment: parameters, and the progress value at which
# the in-process run is interrupted (a checkpoint exists by then)
TINY = {
    "cuba": ({"n": 200, "duration_ms": 100.0}, 0.5),
    "stdp-digits": ({"n_exc": 8, "n_train": 20, "n_test": 10, "present_ms": 50.0}, 0.3),
    "distal-reward": ({"n_exc": 20, "n_inh": 5, "synapses_per_neuron": 5, "duration_s": 10, "record_s": 0}, 0.5),
    "sg-mnist": ({"hidden": 8, "epochs": 2, "n_train": 100, "n_test": 20, "n_steps": 4, "batch_size": 50}, 0.75),
    "meta-neuron": ({"n_seeds": 1, "n_train": 4, "n_test": 2, "epochs": 1, "n_hidden": 4, "n_steps": 12}, 0.5),
}

CASES = 30   # tampered fields per experiment (plus the whole-file cases), to keep the file fast
MUTATIONS = ("nan", "inf", "negative", "huge", "float", "string", "complex", "2d", "short", "missing", "zero",
             "empty")
# (field pattern, mutation): refusing is the only acceptable outcome
MUST_REFUSE = {("*", "string"), ("*", "complex"), ("*", "2d"), ("*", "missing"), ("step", "negative"),
               ("step", "float"), ("step", "huge"), ("noise_state", "zero"), ("*", "extra"), ("*", "truncated"),
               ("*", "not-a-zip"), ("position", "huge"), ("distal.second", "huge"), ("distal.rng", "zero")}

DRIVER = r'''
import json, sys, traceback
from pathlib import Path
import numpy as np
from synaptica.engine.errors import CheckpointError
from synaptica.experiments import get_experiment

name, params, stop_at, work = sys.argv[1], json.loads(sys.argv[2]), float(sys.argv[3]), Path(sys.argv[4])
mutations, budget = json.loads(sys.argv[5]), int(sys.argv[6])
experiment = get_experiment(name)
p = {k: f.default for k, f in experiment.schema.items()} | params
checkpoint = work / "run.checkpoint.npz"

class Stop(Exception):
    pass

def stop(done, total):
    if done >= stop_at * total:
        raise Stop

try:
    experiment.run(p, stop, checkpoint=checkpoint)
except Stop:
    pass
files = sorted(work.glob("run.checkpoint*.npz"))
assert files, "no checkpoint written"
source = files[0]
original = source.read_bytes()
with np.load(source, allow_pickle=False) as data:
    fields = {k: data[k] for k in data.files}

def mutate(old, kind):
    if kind == "nan": return np.full(old.shape, np.nan)
    if kind == "inf": return np.full(old.shape, np.inf)
    if kind == "negative": return -np.abs(old.astype(np.float64)).astype(old.dtype) - 1 if old.dtype.kind in "iuf" else old
    if kind == "huge":
        wide = old.dtype.kind in "iu" and old.itemsize >= 8
        return np.full(old.shape, 2**40, dtype=old.dtype) if wide else np.full(old.shape, 1e300)
    if kind == "float":
        if old.dtype.kind in "iu": return old.astype(np.float64) + 0.5
        if old.dtype.kind == "f": return old.astype(np.float32 if old.dtype == np.float64 else np.float64)
        return np.full(old.shape, 1.5)
    if kind == "string": return np.array(["x"] * max(1, old.size)).reshape(old.shape) if old.ndim else np.array("x")
    if kind == "complex": return old.astype(np.complex128) + 1j if old.dtype.kind in "iuf" else np.zeros(old.shape, complex)
    if kind == "2d": return np.stack([old, old])
    if kind == "short": return old[: old.size // 2] if old.ndim else old.reshape(1)
    if kind == "zero": return np.zeros_like(old) if old.dtype.kind in "iuf" else np.array("")
    if kind == "empty": return old[:0] if old.ndim else np.zeros(0, old.dtype)
    raise ValueError(kind)

def nan_metrics(result):
    return {k for k, v in result.metrics.items() if isinstance(v, float) and not np.isfinite(v)}

# metrics a run of these settings leaves undefined anyway (e.g. time to a bound never reached)
source.write_bytes(original)
undefined = nan_metrics(experiment.run(p, None, checkpoint=checkpoint))

def run_case(label, field, kind, payload):
    for f in work.glob("run.checkpoint*.npz"):
        f.unlink()
    source.write_bytes(payload)
    print(json.dumps({"start": label}), flush=True)
    try:
        result = experiment.run(p, None, checkpoint=checkpoint)
        extra_nan = nan_metrics(result) - undefined
        outcome, message = ("nan-metrics", str(sorted(extra_nan))) if extra_nan else ("completed", "")
    except CheckpointError as error:
        outcome, message = "refused", str(error)
    except Exception as error:
        outcome, message = "error", "".join(traceback.format_exception(error))[-1500:]
    print(json.dumps({"case": label, "field": field, "kind": kind, "outcome": outcome, "message": message,
                      "names_file": str(source) in message}), flush=True)

def npz(arrays):
    import io
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()

# about `budget` cases: each field gets a few mutations, the kinds rotating from field to field
names = sorted(fields)
per_field = max(1, budget // len(names))
for i, field in enumerate(names):
    for kind in [mutations[(i * per_field + r) % len(mutations)] for r in range(per_field)]:
        if kind == "missing":
            changed = {k: v for k, v in fields.items() if k != field}
        else:
            changed = dict(fields)
            changed[field] = mutate(fields[field], kind)
        run_case(f"{field}:{kind}", field, kind, npz(changed))
run_case("extra", "*", "extra", npz({**fields, "unit:evil": np.arange(10)}))
run_case("truncated", "*", "truncated", original[: len(original) // 2])
run_case("not-a-zip", "*", "not-a-zip", b"not a zip")
if "noise_state" in fields:
    run_case("noise_state:zero", "noise_state", "zero", npz({**fields, "noise_state": np.zeros(1, np.uint64)}))
if "step" in fields:
    run_case("step:past-end", "step", "huge", npz({**fields, "step": np.array(10**9)}))
'''


def _must_refuse(field: str, kind: str) -> bool:
    return (field, kind) in MUST_REFUSE or ("*", kind) in MUST_REFUSE


@pytest.mark.parametrize("name", list(TINY))
def test_tampered_checkpoints_are_refused_cleanly(name, tmp_path):
    params, stop_at = TINY[name]
    env = {**os.environ, **ONE_THREAD, "SYNAPTICA_CACHE": os.environ.get("SYNAPTICA_CACHE", str(tmp_path / "cache"))}
    proc = subprocess.run([sys.executable, "-c", DRIVER, name, json.dumps(params), str(stop_at), str(tmp_path),
                           json.dumps(list(MUTATIONS)), str(CASES)],
                          capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    lines = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    cases = [line for line in lines if "case" in line]
    last = lines[-1].get("start") if lines and "start" in lines[-1] else None
    assert proc.returncode == 0, f"driver died (code {proc.returncode}) during case {last}:\n{proc.stderr[-3000:]}"
    assert len(cases) >= 20
    bad = [c for c in cases if c["outcome"] not in ("refused", "completed")]
    assert not bad, "\n".join(f"{c['case']}: {c['outcome']}: {c['message']}" for c in bad)
    unnamed = [c for c in cases if c["outcome"] == "refused" and not c["names_file"]]
    assert not unnamed, [(c["case"], c["message"]) for c in unnamed]
    accepted = [c["case"] for c in cases if c["outcome"] == "completed" and _must_refuse(c["field"], c["kind"])]
    assert not accepted, f"accepted although invalid: {accepted}"
    assert sum(c["outcome"] == "refused" for c in cases) >= 0.6 * len(cases)


# -- kill -9 and resume through the CLI -----------------------------------------------------------
KILLED = {
    "cuba": ["n=400", "duration_ms=1500"],
    "stdp-digits": ["n_exc=10", "n_train=60", "n_test=20"],
    "distal-reward": ["n_exc=40", "n_inh=10", "synapses_per_neuron=10", "duration_s=200"],
    "sg-mnist": ["hidden=16", "epochs=2", "n_train=400", "n_test=50", "n_steps=8"],
    "meta-neuron": ["n_seeds=1", "n_train=20", "n_test=10", "epochs=3", "n_hidden=8", "n_steps=40"],
}
TIMING = re.compile(r"(_s|_per_s)(_std)?$|_s_(lif|meta)(_std)?$")   # wall-clock metrics differ between runs


def _arguments(name: str, out: Path) -> list[str]:
    return ["run", name, *[a for s in KILLED[name] for a in ("--set", s)], "--out", str(out)]


def _result(out: Path) -> tuple[dict, dict]:
    metrics = json.loads((out / "metrics.json").read_text())
    with np.load(out / "spikes.npz", allow_pickle=False) as data:
        spikes = {k: data[k] for k in data.files}
    return {k: v for k, v in metrics.items() if not TIMING.search(k)}, spikes


@pytest.mark.parametrize("name", list(KILLED))
def test_kill_9_then_rerun_equals_an_uninterrupted_run(name, tmp_path):
    from click.testing import CliRunner

    from synaptica.cli.main import main

    reference = CliRunner().invoke(main, _arguments(name, tmp_path / "whole"))   # in this process: one thread
    assert reference.exit_code == 0, reference.output[-2000:]

    env = {**os.environ, **ONE_THREAD, "SYNAPTICA_CACHE": os.environ.get("SYNAPTICA_CACHE", str(tmp_path / "cache"))}
    out = tmp_path / "run"
    proc = subprocess.Popen([CLI, *_arguments(name, out)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=env, start_new_session=True)
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None and not list(tmp_path.glob("run.checkpoint*.npz")):
        time.sleep(0.01)
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL, "the run ended before it could be killed: make it longer"
    assert list(tmp_path.glob("run.checkpoint*.npz"))

    resumed = subprocess.run([CLI, *_arguments(name, out)], capture_output=True, text=True, env=env, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert not list(tmp_path.glob("run.checkpoint*.npz"))   # removed once the run is complete
    (m_ref, s_ref), (m_res, s_res) = _result(tmp_path / "whole"), _result(out)
    assert m_res == m_ref
    assert s_res.keys() == s_ref.keys()
    for key in s_ref:
        np.testing.assert_array_equal(s_res[key], s_ref[key], err_msg=key)


# -- a checkpoint is tied to every setting; non-finite runs stop with a named cause ------------------
def test_sg_mnist_checkpoint_of_other_settings_is_refused_naming_them(tmp_path):
    from synaptica.engine.errors import CheckpointError
    from synaptica.experiments.sg_mnist import EXPERIMENT

    p = {k: f.default for k, f in EXPERIMENT.schema.items()} | TINY["sg-mnist"][0]
    checkpoint = tmp_path / "run.checkpoint.npz"

    class Stop(Exception):
        pass

    def stop(done, total):
        if done >= 0.75 * total:
            raise Stop

    with pytest.raises(Stop):
        EXPERIMENT.run(p, stop, checkpoint=checkpoint)
    for change, message in (({"n_train": 200}, "n_train 100 vs 200"), ({"beta": 0.8}, "beta 0.9 vs 0.8"),
                            ({"surrogate": "triangle"}, 'surrogate "arctan" vs "triangle"'),
                            ({"lr": 0.01}, "lr 0.001 vs 0.01")):
        with pytest.raises(CheckpointError, match=f"other settings: .*{message}"):
            EXPERIMENT.run(p | change, None, checkpoint=checkpoint)
    assert EXPERIMENT.run(p, None, checkpoint=checkpoint).metrics["n_train"] == 100   # same settings resume


def test_trainer_stops_on_a_non_finite_loss_naming_epoch_and_batch(monkeypatch):
    import torch

    from synaptica.engine.errors import NonFiniteError
    from synaptica.training import SpikingMLP
    from synaptica.training import trainer as trainer_module

    calls = []
    real = trainer_module.LOSSES["count_ce"]

    def poisoned(out, labels):   # the 7th batch's loss is NaN
        calls.append(1)
        loss = real(out, labels)
        return loss * float("nan") if len(calls) == 7 else loss

    monkeypatch.setitem(trainer_module.LOSSES, "count_ce", poisoned)
    rng = np.random.default_rng(0)
    x, y = rng.random((100, 16)), rng.integers(0, 10, 100)
    torch.manual_seed(0)
    trainer = trainer_module.Trainer(SpikingMLP([16, 8, 10]), n_steps=4, batch_size=20, seed=0)
    with pytest.raises(NonFiniteError, match=r"epoch 2, batch 2 of 5: loss 'count_ce' is not finite"):
        trainer.fit(x, y, epochs=3)


@pytest.mark.parametrize("backend", ["cpu", "torch"])
@pytest.mark.parametrize("dtype, weight", [("float32", 1e38), ("float64", 1e308)])
def test_cuba_with_overflowing_weights_stops_naming_population_variable_and_step(backend, dtype, weight):
    from synaptica.engine.errors import NonFiniteError
    from synaptica.experiments.cuba import CUBA, build_cuba

    p = {k: f.default for k, f in CUBA.schema.items()} | {"n": 200, "duration_ms": 50.0, "dtype": dtype,
                                                            "w_exc": weight}
    net, cells, _ = build_cuba(p)
    with pytest.raises(NonFiniteError, match=r"population 'cells': state '\w+' is not finite .* between step \d+ "
                                             r"and step \d+"):
        net.run(p["duration_ms"], backend=backend)
