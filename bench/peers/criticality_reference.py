"""Write tests/data/criticality_reference.json: peer results on fixed synthetic data for
tests/test_criticality.py and tests/test_complexity.py.

    bench/.venv-analysis/bin/python bench/peers/criticality_reference.py

Peers (benchmark environment only, never synaptica dependencies):
  * powerlaw 2.0.0 (Alstott, Bullmore & Plenz 2014): discrete power-law fits
    (exact discrete likelihood: ``estimate_discrete=False``), fixed and KS-chosen xmin,
    standard error, KS distance, Vuong tests against exponential and lognormal;
  * mrestimator 0.2.0 (Spitzner et al. 2021): stationary-mean regression slopes r_k and
    the exponential fit r_k = b m^k on a subsampled branching process;
  * antropy 0.2.3: lziv_complexity (raw and normalised) of fixed sequences.
The samples are generated here with fixed seeds and written into the JSON, so the tests
read exactly the data the peers saw.
"""
from __future__ import annotations

import json
import shlex
import sys
import warnings
from importlib.metadata import version
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parents[2] / "tests" / "data" / "criticality_reference.json"


def power_law_cases() -> list[dict]:
    import powerlaw

    cases = []
    specs = [  # name, alpha, xmin, n power-law draws, n body draws below xmin, seed
        ("pure_a2.5", 2.5, 1, 2000, 0, 11),
        ("pure_a1.8", 1.8, 1, 1500, 0, 12),
        ("body_a2.2_xmin6", 2.2, 6, 1500, 1500, 13),
    ]
    for name, alpha, xmin, n_pl, n_body, seed in specs:
        np.random.seed(seed)  # powerlaw's generator draws from the global numpy state
        model = powerlaw.Power_Law(xmin=xmin, parameters=[alpha], discrete=True, estimate_discrete=False)
        tail = model.generate_random(n_pl, estimate_discrete=False).astype(np.int64)
        body = np.random.default_rng(seed).integers(1, xmin, n_body) if n_body else np.empty(0, np.int64)
        data = np.concatenate([body, tail]).astype(np.int64)
        fits = {}
        for label, fixed in (("fixed_xmin", xmin), ("free_xmin", None)):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                fit = powerlaw.Fit(data, discrete=True, estimate_discrete=False, xmin=fixed, verbose=0)
                pl = fit.power_law
                row = {"xmin": float(fit.xmin), "alpha": float(pl.alpha), "standard_err": float(pl.standard_err),
                       "D": float(pl.D), "n_tail": int(fit.n_tail)}
                for alt in ("exponential", "lognormal"):
                    R, p = fit.distribution_compare("power_law", alt, normalized_ratio=False)
                    Rn, _ = fit.distribution_compare("power_law", alt, normalized_ratio=True)
                    row[alt] = {"R": float(R), "normalized_R": float(Rn), "p": float(p)}
                row["lognormal"]["mu"] = float(fit.lognormal.mu)
                row["lognormal"]["sigma"] = float(fit.lognormal.sigma)
                row["exponential"]["lambda"] = float(fit.exponential.Lambda)
            fits[label] = row
        cases.append({"name": name, "alpha": alpha, "xmin": xmin, "seed": seed, "data": data.tolist(),
                      "powerlaw": fits})
    return cases


def branching_case() -> dict:
    import mrestimator as mre

    m, h, n_steps, p_obs, kmax, seed = 0.95, 1.0, 20000, 0.1, 40, 21
    rng = np.random.default_rng(seed)
    activity = np.empty(n_steps, np.int64)
    a = int(round(h / (1 - m)))
    for t in range(n_steps):  # scalar driven Poisson branching process
        activity[t] = a
        a = rng.poisson(m * a + h)
    observed = rng.binomial(activity, p_obs)  # each spike seen with probability p_obs
    rk = mre.coefficients(observed, method="sm", steps=(1, kmax), dt=1, numboot=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = mre.fit(rk, fitfunc="exponential", numboot=0)
        full = mre.full_analysis(observed, dt=1, kmax=kmax, method="sm", fitfuncs=["exponential"], numboot=0,
                                 showoverview=False, saveoverview=False, targetdir=None)
    full_fit = full.fits[0] if hasattr(full, "fits") else full[1][0]
    return {"m": m, "h": h, "n_steps": n_steps, "p_observed": p_obs, "kmax": kmax, "seed": seed,
            "activity": observed.tolist(),
            "mrestimator": {"coefficients": rk.coefficients.tolist(), "steps": rk.steps.tolist(),
                            "fit": {"mre": float(fit.mre), "tau_steps": float(fit.tau), "A": float(abs(fit.popt[1]))},
                            "full_analysis": {"mre": float(full_fit.mre), "tau_steps": float(full_fit.tau)}}}


def lz_cases() -> list[dict]:
    import antropy

    rng = np.random.default_rng(31)
    seqs = {
        "kaspar_schuster_example": "0001101001000101",
        "antropy_doc_example": "1001111011000010",
        "constant_200": "0" * 200,
        "periodic_01_300": "01" * 150,
        "random_binary_100": "".join(map(str, rng.integers(0, 2, 100))),
        "random_binary_3000": "".join(map(str, rng.integers(0, 2, 3000))),
        "sparse_binary_5000": "".join(map(str, (rng.random(5000) < 0.03).astype(int))),
        "random_4_symbols_2000": "".join("ACGT"[i] for i in rng.integers(0, 4, 2000)),
        "hello_world": "HELLO WORLD! HELLO WORLD! HELLO WORLD! HELLO WORLD!",
    }
    return [{"name": name, "sequence": s, "antropy": {"c": int(antropy.lziv_complexity(s)),
                                                      "normalized": float(antropy.lziv_complexity(s, normalize=True))}}
            for name, s in seqs.items()]


def main() -> None:
    reference = {
        "generated_by": shlex.join(["bench/.venv-analysis/bin/python", "bench/peers/criticality_reference.py",
                                    *sys.argv[1:]]),
        "versions": {pkg: version(pkg) for pkg in ("powerlaw", "mrestimator", "antropy", "numpy", "scipy")},
        "power_law": power_law_cases(),
        "branching": branching_case(),
        "lempel_ziv": lz_cases(),
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(reference, separators=(",", ":")) + "\n")
    print(f"wrote {OUT} ({OUT.stat().st_size / 1024:.0f} KB)")


if __name__ == "__main__":
    main()
