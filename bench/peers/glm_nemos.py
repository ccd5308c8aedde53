"""NeMoS 0.2.8 PopulationGLM on a spike record: the peer of bench/analysis_glm.py.

Run in bench/.venv-analysis:  python glm_nemos.py RECORD.npz OUT_CONNECTIVITY.npy

NeMoS's own pipeline, as its documentation shows for a population's coupling filters: dense
counts ``(T, N)`` at 1 ms, ``RaisedCosineLogConv(n_basis_funcs=4, window_size=25)``
``compute_features`` (causal history, the first bins NaN and dropped by the fit), then
``PopulationGLM`` (Poisson, exp link, no penalty, solver LBFGS, NeMoS's defaults otherwise,
JAX float32). Measured from the record to the fitted model in this fresh process: wall time and
the peak resident memory minus the resident memory before (``VmHWM`` reset through
``/proc/self/clear_refs``). The directed strength of j -> i is the coupling filter summed over
its lags. Prints one JSON line.
"""
from __future__ import annotations

import json
import sys
import time

import numpy as np
from proc_memory import reset_peak, status_mib  # same folder (the script's sys.path[0])

N_BASIS, WINDOW, BIN = 4, 25, 0.001


def main(record_npz: str, out_npy: str) -> None:
    t_import = time.perf_counter()
    import nemos as nmo

    t_import = time.perf_counter() - t_import
    with np.load(record_npz) as f:
        times, ids = f["times"], f["ids"].astype(np.int64)
        n_units, t_start, t_stop = int(f["n_units"]), float(f["t_start"]), float(f["t_stop"])
    before = status_mib("VmRSS")
    reset_peak()
    t0 = time.perf_counter()
    n_bins = int(np.floor((t_stop - t_start) / BIN * (1 + 1e-9)))
    bins = np.floor((times - t_start) / BIN + 1e-9).astype(np.int64)
    keep = bins < n_bins
    counts = np.zeros((n_bins, n_units))
    np.add.at(counts, (bins[keep], ids[keep]), 1.0)
    basis = nmo.basis.RaisedCosineLogConv(n_basis_funcs=N_BASIS, window_size=WINDOW)
    X = basis.compute_features(counts)  # (T, N * B), input-unit-major
    model = nmo.glm.PopulationGLM(observation_model="Poisson", solver_name="LBFGS")
    model.fit(X, counts)
    coef = np.asarray(model.coef_)  # (N * B, N)
    fit_s = time.perf_counter() - t0
    peak = status_mib("VmHWM")
    _, kernels = basis.evaluate_on_grid(WINDOW)  # (WINDOW, B)
    connectivity = np.einsum("jki,k->ij", coef.reshape(n_units, N_BASIS, n_units), np.asarray(kernels).sum(0))
    np.save(out_npy, connectivity)
    print(json.dumps({"peer": "nemos", "version": nmo.__version__, "fit_s": fit_s,
                      "peak_rss_increase_mb": peak - before, "rss_before_mb": before, "import_s": t_import,
                      "design_mb": X.nbytes / 2 ** 20, "n_units": n_units, "n_bins": n_bins,
                      "model": {"n_basis": N_BASIS, "window_bins": WINDOW, "penalty": None, "solver": "LBFGS",
                                "dtype": str(X.dtype)}}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
