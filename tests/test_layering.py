"""Layering: reading a spike file and computing statistics needs NumPy only.

:mod:`synaptica.record` (the data model) and :mod:`synaptica.io` (the file format) sit
below :mod:`synaptica.analysis`; importing them, or ``synaptica.analysis.stats``, must not
pull in torch or numba (before the split it took 2.6-3.7 s and ~500 MB). Each check runs
in a fresh interpreter, since this test process has imported torch already.
"""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from synaptica.io.spikes import save_spikes

HEAVY = ("torch", "numba", "scipy", "sklearn", "matplotlib", "h5py", "pynwb")


def _fresh(code: str) -> dict:
    """Run ``code`` in a new interpreter; it prints one JSON object, returned here."""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def _heavy_loaded() -> str:
    return f"sorted({{m.split('.')[0] for m in sys.modules}} & set({list(HEAVY)!r}))"


def test_reading_a_spike_file_and_a_cv_imports_no_torch_or_numba(tmp_path):
    rng = np.random.default_rng(0)
    path = save_spikes(tmp_path / "spikes.npz", rng.uniform(0.0, 2.0, 500), rng.integers(0, 10, 500),
                       n_units=10, t_stop=2.0)
    code = f"""
import json, sys, time
start = time.perf_counter()
import synaptica.io, synaptica.analysis.stats
record = synaptica.io.load_record({str(path)!r})
cv = synaptica.analysis.stats.cv(record)
seconds = time.perf_counter() - start
assert 'torch' not in sys.modules and 'numba' not in sys.modules
print(json.dumps({{"seconds": seconds, "cv": float(cv.mean()), "heavy": {_heavy_loaded()}}}))
"""
    report = _fresh(code)
    assert report["heavy"] == []
    assert 0.7 < report["cv"] < 1.3  # Poisson trains
    assert report["seconds"] < 5.0  # ~0.15 s measured; torch + numba alone took 2.6-3.7 s


@pytest.mark.parametrize("statement", [
    "import synaptica.record",
    "import synaptica.analysis",
    "from synaptica.analysis import SpikeRecord, cv, rates, psth",
    "from synaptica.analysis.record import SpikeRecord",
    "from synaptica.io import load_record, save_record, save_spikes",
])
def test_core_imports_stay_light(statement):
    assert _fresh(f"import json, sys\n{statement}\nprint(json.dumps({{'heavy': {_heavy_loaded()}}}))")["heavy"] == []


def test_one_spike_record_class():
    """The record lives once, in synaptica.record; the old paths name the same class."""
    from synaptica.analysis import SpikeRecord as from_analysis
    from synaptica.analysis.record import SpikeRecord as from_alias
    from synaptica.record import SpikeRecord

    assert from_analysis is SpikeRecord and from_alias is SpikeRecord
    assert SpikeRecord.__module__ == "synaptica.record"


def test_lazy_analysis_names_resolve():
    import synaptica.analysis as analysis

    for name in analysis.__all__:
        assert getattr(analysis, name) is not None, name
    with pytest.raises(AttributeError, match="has no attribute 'nothing'"):
        analysis.nothing  # noqa: B018


def test_a_cpu_network_builds_runs_and_checkpoints_without_torch(tmp_path):
    """The compiled CPU path stores its arrays in NumPy (synaptica.engine.storage): a CUBA
    network is built, run, checkpointed and resumed without importing torch (importing it
    was 0.9-1.0 s of a 2 s budget for the first result)."""
    code = f"""
import json, sys
from synaptica.experiments.cuba import SCHEMA, build_cuba
p = {{k: f.default for k, f in SCHEMA.items()}} | {{"n": 400, "seed": 2}}
net, cells, spikes = build_cuba(p)
net.run(50.0, checkpoint={str(tmp_path / 'run.npz')!r})
again, _, spikes_again = build_cuba(p)
again.run(50.0, checkpoint={str(tmp_path / 'run.npz')!r})   # resumes at the end: nothing to do
loaded = sorted({{m.split('.')[0] for m in sys.modules}} & {{"torch"}})
print(json.dumps({{"spikes": int(spikes.count), "resumed_step": again.step, "loaded": loaded}}))
"""
    report = _fresh(code)
    assert report["loaded"] == []
    assert report["spikes"] > 0 and report["resumed_step"] == 500


def test_synaptica_run_cuba_imports_no_torch(tmp_path):
    """``synaptica run cuba`` imports only the cuba experiment's module, not every
    built-in (several of which need torch)."""
    code = f"""
import json, sys
from synaptica.cli.main import main
sys.argv = ["synaptica", "run", "cuba", "--set", "n=300", "--set", "duration_ms=100", "--out", {str(tmp_path / 'run')!r}]
try:
    main()
except SystemExit as stop:
    assert not stop.code, stop.code
print(json.dumps({{"loaded": sorted({{m.split('.')[0] for m in sys.modules}} & {{"torch"}})}}))
"""
    assert _fresh(code)["loaded"] == []
    assert (tmp_path / "run" / "spikes.npz").exists()
