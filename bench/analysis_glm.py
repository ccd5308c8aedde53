"""Coupled Poisson GLM (functional connectivity): synaptica against NeMoS 0.2.8 PopulationGLM.

The network: 50 units, 180 s at 1 ms bins, ``random_coupling(50, density=0.1, scale=1.0,
refractory=2.0, seed=0)`` (245 signed edges, |peak log-rate increment| 0.5-1.5, a
self-inhibitory history filter on every unit), baselines U(5, 20) Hz, simulated by
``synaptica.analysis.synthetic.simulate_coupled_glm`` (alpha filters peaking at 4 ms, 25 ms
long). Both models use 4 raised-cosine basis functions over 25 lags and no penalty; the
recovered directed strength is the filter summed over its lags, and the AUC is sklearn's
``roc_auc_score(coupling != 0, |strength|)`` over the off-diagonal pairs.

Every fit runs in a fresh process. Time: wall clock of ``fit`` (binning included; the numba
kernels already compiled in the on-disk cache: "warm" runs first fit 5 s of the record, so
the cache is loaded, "cold" is the very first fit in the process). Memory: the peak resident
set size during the fit minus the resident size just before it (Linux ``VmHWM`` reset through
``/proc/self/clear_refs``), i.e. everything the fit allocates (numpy, torch, numba). NeMoS
(bench/peers/glm_nemos.py, in bench/.venv-analysis) is measured the same way from the record
to the fitted model: dense counts, its convolved design matrix, and its fit (JAX compilation
included, which cannot be separated), once.

    .venv/bin/python bench/analysis_glm.py                 # synaptica and NeMoS, printed as JSON
    .venv/bin/python bench/analysis_glm.py --skip-peer     # synaptica only
    .venv/bin/python bench/analysis_glm.py --scale         # 500 units x 1 h: memory and time per epoch

``--scale`` simulates 500 units for 3600 s (density 0.02) into a temporary npz, then fits one
Adam epoch (every bin once, minibatches of 20000 bins) in a fresh process, with everything
else a fit does (binning, feature moments, preconditioner, the final pass over all bins for the
objective and gradient, the factorised Wald tests): the peak memory is that of a whole fit;
a full L-BFGS fit makes about 15-20 passes over the data instead of 2.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from peers.proc_memory import reset_peak, status_mib

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PEER_PYTHON = HERE / ".venv-analysis" / "bin" / "python"
MODEL = dict(n_basis=4, window=0.025, bin_size=0.001)


def make_data(directory: Path, *, n_units: int = 50, duration: float = 180.0, density: float = 0.1,
              seed: int = 0) -> tuple[Path, Path]:
    """Simulate the benchmark network; write ``glm_record.npz`` (times, ids, n_units, t_start,
    t_stop) and ``glm_coupling.npy`` (n_units, n_units) [post, pre] into ``directory``."""
    from synaptica.analysis.synthetic import random_coupling, simulate_coupled_glm

    coupling = random_coupling(n_units, density, 1.0, seed=seed, refractory=2.0)
    baseline = np.random.default_rng(seed).uniform(5.0, 20.0, n_units)
    record = simulate_coupled_glm(coupling, baseline, duration, bin_size=MODEL["bin_size"], seed=seed)
    directory.mkdir(parents=True, exist_ok=True)
    record_npz, coupling_npy = directory / "glm_record.npz", directory / "glm_coupling.npy"
    np.savez(record_npz, times=record.times, ids=record.ids, n_units=record.n_units,
             t_start=record.t_start, t_stop=record.t_stop)
    np.save(coupling_npy, coupling)
    return record_npz, coupling_npy


def _load(record_npz: Path):
    from synaptica.record import SpikeRecord

    with np.load(record_npz) as f:
        return SpikeRecord(f["times"], f["ids"], int(f["n_units"]), float(f["t_start"]), float(f["t_stop"]),
                           source=str(record_npz))


def child(record_npz: Path, out_npy: Path, mode: str) -> None:
    """One fit in this fresh process; prints a JSON line and saves the connectivity."""
    t_import = time.perf_counter()
    import torch  # noqa: F401  (what a user imports)

    from synaptica.analysis.glm import CoupledPoissonGLM

    t_import = time.perf_counter() - t_import
    record = _load(record_npz)
    kwargs = dict(MODEL)
    if mode == "scale":
        kwargs.update(solver="adam", max_iter=1, batch_bins=20000)
    if mode in ("warm", "scale"):  # load the compiled kernels (and the code paths) first
        CoupledPoissonGLM(**kwargs).fit(record.window(record.t_start, record.t_start + 5.0))
    before = status_mib("VmRSS")
    reset_peak()
    t0 = time.perf_counter()
    model = CoupledPoissonGLM(**kwargs).fit(record)
    fit_s = time.perf_counter() - t0
    peak = status_mib("VmHWM")
    np.save(out_npy, model.connectivity_)
    print(json.dumps({"mode": mode, "fit_s": fit_s, "peak_rss_increase_mb": peak - before,
                      "rss_before_mb": before, "import_s": t_import, "n_iter": int(model.n_iter_),
                      "converged": bool(model.converged_), "fisher": model.fisher_method_,
                      "n_units": record.n_units, "n_spikes": record.n_spikes, "duration_s": record.duration}))


def _spawn(cmd: list[str]) -> dict:
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _scores(connectivity: np.ndarray, coupling: np.ndarray) -> dict:
    from sklearn.metrics import roc_auc_score

    off = ~np.eye(coupling.shape[0], dtype=bool)
    truth = coupling[off] != 0
    strength = connectivity[off]
    return {"auc": float(roc_auc_score(truth, np.abs(strength))),
            "sign_agreement": float(np.mean(np.sign(strength[truth]) == np.sign(coupling[off][truth])))}


def run(record_npz: Path, true_coupling_npy: Path, repeats: int = 3) -> dict:
    """synaptica's fit, ``repeats`` warm runs and one cold run, each in a fresh process:
    median fit time, peak memory increase, AUC of the recovered connections."""
    coupling = np.load(true_coupling_npy)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "connectivity.npy"
        base = [sys.executable, str(Path(__file__).resolve()), "--child", str(record_npz), str(out)]
        cold = _spawn(base + ["cold"])
        for _ in range(repeats):
            rows.append(_spawn(base + ["warm"]))
        scores = _scores(np.load(out), coupling)
    return {"peer": "synaptica", "model": {**MODEL, "penalty": None, "solver": "lbfgs", "dtype": "float32"},
            "fit_s": statistics.median(r["fit_s"] for r in rows), "fit_s_runs": [r["fit_s"] for r in rows],
            "peak_rss_increase_mb": max(r["peak_rss_increase_mb"] for r in rows),
            "cold_fit_s": cold["fit_s"], "cold_peak_rss_increase_mb": cold["peak_rss_increase_mb"],
            "n_iter": rows[-1]["n_iter"], "converged": rows[-1]["converged"], "fisher": rows[-1]["fisher"],
            "n_units": rows[-1]["n_units"], "n_spikes": rows[-1]["n_spikes"], "duration_s": rows[-1]["duration_s"],
            "memory": "peak RSS during fit minus RSS before fit (VmHWM reset), fresh process", **scores}


def run_peer(record_npz: Path, true_coupling_npy: Path) -> dict:
    """NeMoS PopulationGLM on the same record (bench/peers/glm_nemos.py), once."""
    coupling = np.load(true_coupling_npy)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "connectivity.npy"
        row = _spawn([str(PEER_PYTHON), str(HERE / "peers" / "glm_nemos.py"), str(record_npz), str(out)])
        row.update(_scores(np.load(out), coupling))
    return row


def run_scale(n_units: int = 500, duration: float = 3600.0) -> dict:
    """Memory and time of one epoch on ``n_units`` x ``duration`` s (see the module docstring)."""
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        record_npz, _ = make_data(Path(tmp), n_units=n_units, duration=duration, density=0.02, seed=1)
        simulate_s = time.perf_counter() - t0
        row = _spawn([sys.executable, str(Path(__file__).resolve()), "--child", str(record_npz),
                      str(Path(tmp) / "connectivity.npy"), "scale"])
    row["simulate_s"] = simulate_s
    row["note"] = ("fit = binning + feature moments + preconditioner + 1 Adam epoch (all bins once) "
                   "+ 1 full pass (final objective and gradient) + factorised Wald tests")
    return row


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--child", nargs=3, metavar=("RECORD", "OUT", "MODE"), help=argparse.SUPPRESS)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--skip-peer", action="store_true")
    p.add_argument("--scale", action="store_true", help="500 units x 1 h instead")
    p.add_argument("--data", type=Path, help="directory for the benchmark record (default: a temporary one)")
    args = p.parse_args()
    if args.child:
        child(Path(args.child[0]), Path(args.child[1]), args.child[2])
        return
    if args.scale:
        print(json.dumps(run_scale(), indent=1))
        return
    with tempfile.TemporaryDirectory() as tmp:
        record_npz, coupling_npy = make_data(args.data or Path(tmp))
        results = [run(record_npz, coupling_npy, args.repeats)]
        if not args.skip_peer:
            results.append(run_peer(record_npz, coupling_npy))
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
