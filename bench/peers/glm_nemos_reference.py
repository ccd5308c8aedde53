"""Reference fit of NeMoS 0.2.8 ``PopulationGLM`` for tests/test_glm.py (the oracle test).

Run in the analysis peers' venv (``python3 bench/peers_env.py --analysis`` creates it):

    bench/.venv-analysis/bin/python bench/peers/glm_nemos_reference.py

It simulates a small coupled network with synaptica's simulator, builds the history design
matrix by an explicit NumPy convolution with synaptica's raised-cosine basis (lags 1..W, the
features CoupledPoissonGLM uses), fits NeMoS in float64 with an exp link and a Ridge penalty,
and writes the data and NeMoS's coefficients to tests/data/glm_nemos_reference.npz.

The two objectives are identical: NeMoS's Poisson loss is the sum over neurons of the mean
over bins of ``mu - y log mu`` and its Ridge penalty is ``0.5 * strength * sum(coef**2)``
(nemos/observation_models.py, nemos/regularizer.py in 0.2.8), which is synaptica's
``penalty="l2"`` with ``alpha = strength``.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "src"))
OUT = ROOT / "tests" / "data" / "glm_nemos_reference.npz"

N_UNITS, DURATION, BIN, N_BASIS, WINDOW_BINS, STRENGTH, SEED = 4, 60.0, 0.001, 3, 10, 1e-3, 11


def design(counts: np.ndarray, basis: np.ndarray) -> np.ndarray:
    """X[t, j * B + k] = sum_{l=1..W} basis[l - 1, k] * counts[t - l, j] (zeros before the start)."""
    n_bins, n_units = counts.shape
    window, n_basis = basis.shape
    X = np.zeros((n_bins, n_units, n_basis))
    for lag in range(1, window + 1):
        X[lag:] += counts[:-lag, :, None] * basis[lag - 1][None, None, :]
    return X.reshape(n_bins, n_units * n_basis)


def main() -> None:
    import jax

    jax.config.update("jax_enable_x64", True)
    import nemos as nmo

    from synaptica.analysis.basis import raised_cosine_basis
    from synaptica.analysis.synthetic import random_coupling, simulate_coupled_glm

    coupling = random_coupling(N_UNITS, 0.5, 1.0, seed=SEED, refractory=1.0)
    baseline = np.random.default_rng(SEED).uniform(15.0, 30.0, N_UNITS)
    record = simulate_coupled_glm(coupling, baseline, DURATION, bin_size=BIN, seed=SEED)
    counts = record.bin(BIN).astype(np.float64)
    basis = raised_cosine_basis(N_BASIS, WINDOW_BINS)
    X = design(counts, basis)

    model = nmo.glm.PopulationGLM(observation_model="Poisson", regularizer="Ridge",
                                  regularizer_strength=STRENGTH, solver_name="LBFGS",
                                  solver_kwargs=dict(tol=1e-12, maxiter=20000))
    model.fit(X, counts)
    coef = np.asarray(model.coef_, dtype=np.float64)  # (n_features, n_post), features j * B + k
    intercept = np.asarray(model.intercept_, dtype=np.float64)
    coef = coef.reshape(N_UNITS, N_BASIS, N_UNITS).transpose(2, 0, 1)  # (post, pre, k)
    eta = X @ coef.reshape(N_UNITS, -1).T + intercept
    objective = float(np.sum(np.mean(np.exp(eta) - counts * eta, axis=0)) + 0.5 * STRENGTH * np.sum(coef ** 2))
    OUT.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        OUT, times=record.times, ids=record.ids, n_units=record.n_units, t_start=record.t_start,
        t_stop=record.t_stop, bin_size=BIN, n_basis=N_BASIS, window_bins=WINDOW_BINS, alpha=STRENGTH,
        basis=basis, coef=coef, intercept=intercept, objective=objective, true_coupling=coupling,
        nemos_version=nmo.__version__)
    print(f"wrote {OUT}: NeMoS {nmo.__version__}, objective {objective:.12f}, {record.n_spikes} spikes")


if __name__ == "__main__":
    main()
