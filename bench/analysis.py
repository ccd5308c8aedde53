"""Analysis benchmark: one coupled network, GLM connectivity and all-pairs correlograms,
synaptica against NeMoS 0.2.8, Elephant 1.2.1 and pynapple, in one invocation.

The network (bench/analysis_glm.py ``make_data``): 50 coupled Poisson-GLM units, 180 s at
1 ms bins, 245 known signed connections. On it:

* GLM (bench/analysis_glm.py): synaptica's ``CoupledPoissonGLM`` fit time, peak memory
  and AUC of the recovered connections, each fit in a fresh process, against NeMoS
  ``PopulationGLM`` on the same basis (bench/peers/glm_nemos.py).
* Correlograms (bench/analysis_cch.py): all 2,500 ordered pairs at 1 ms, lags up to
  ±50 ms; Elephant's ``cross_correlation_histogram`` pair by pair (must be identical) and
  pynapple's ``compute_crosscorrelogram``.

Peers run from bench/.venv-analysis (created on first use: ``python3 bench/peers_env.py --analysis``).
Run it alone on the machine; the table goes to BENCHMARKS.md:

    .venv/bin/python bench/analysis.py [--repeats 3] [--skip-peers]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import analysis_cch  # noqa: E402
import analysis_glm  # noqa: E402
from report import write_section  # noqa: E402

COMMAND = ".venv/bin/python bench/analysis.py"


def _table(glm: list[dict], cch: dict) -> str:
    ours = glm[0]
    lines = [
        "## Analysis: coupled GLM and all-pairs correlograms",
        "",
        f"Command: `{COMMAND}` (run alone). {ours['n_units']} coupled Poisson-GLM units, "
        f"{ours['duration_s']:g} s at 1 ms bins, {ours['n_spikes']} spikes, 245 known connections "
        "(bench/analysis_glm.py `make_data`).",
        "",
        "Cold: the first fit in a fresh process, which also pays numba's runtime start-up and torch "
        "autograd's first use (about 115 MB, not data); the other fits run in fresh processes too, "
        "after a warm-up fit on 5 s of the record.",
        "",
        "| GLM fit | time (s) | peak memory increase (MB) | AUC | sign agreement |",
        "|---|---|---|---|---|",
        f"| synaptica `CoupledPoissonGLM` (median of {len(ours['fit_s_runs'])}, fresh processes) | "
        f"{ours['fit_s']:.2f} (cold {ours['cold_fit_s']:.2f}) | {ours['peak_rss_increase_mb']:.0f} "
        f"(cold {ours['cold_peak_rss_increase_mb']:.0f}) | "
        f"{ours['auc']:.4f} | {ours['sign_agreement']:.3f} |",
    ]
    for row in glm[1:]:
        lines.append(f"| NeMoS 0.2.8 `PopulationGLM` (once) | {row['fit_s']:.2f} | "
                     f"{row['peak_rss_increase_mb']:.0f} | {row['auc']:.4f} | {row['sign_agreement']:.3f} |")
    syn = cch["synaptica"]
    lines += [
        "",
        f"| all-pairs correlograms, {cch['n_units'] ** 2} ordered pairs, 1 ms, ±{cch['max_lag_bins']} ms | time (s) | "
        "synaptica faster by | agreement |",
        "|---|---|---|---|",
        f"| synaptica `cross_correlograms` (median of {syn['repeats']}) | {syn['median_s']:.3f} "
        f"(first call {syn['cold_s']:.2f}) | | |",
    ]
    if "elephant" in cch:
        el = cch["elephant"]
        lines.append(f"| Elephant 1.2.1 `cross_correlation_histogram`, pair by pair | {el['time_s']:.1f} | "
                     f"{el['speedup']:.0f}x | {'identical' if el['identical'] else 'DIFFERENT'} |")
    if "pynapple" in cch:
        pn = cch["pynapple"]
        lines.append(f"| pynapple `compute_crosscorrelogram` + autocorrelograms | {pn['time_s']:.2f} | "
                     f"{pn['speedup']:.0f}x | continuous-lag binning: {100 * pn['total_abs_diff_fraction']:.1f} % "
                     "of counts differ |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-peers", action="store_true")
    args = parser.parse_args()
    if not args.skip_peers:
        subprocess.run(["python3", str(HERE / "peers_env.py"), "--analysis"], check=True,
                       stdout=subprocess.DEVNULL)
    with tempfile.TemporaryDirectory() as tmp:
        record_npz, coupling_npy = analysis_glm.make_data(Path(tmp))
        glm = [analysis_glm.run(record_npz, coupling_npy, args.repeats)]
        if not args.skip_peers:
            glm.append(analysis_glm.run_peer(record_npz, coupling_npy))
        cch = analysis_cch.run(record_npz, repeats=5, peers=not args.skip_peers)
    print(json.dumps({"glm": glm, "correlograms": cch}, indent=1))
    write_section(HERE.parent / "BENCHMARKS.md", "Analysis: coupled GLM and all-pairs correlograms", _table(glm, cch))


if __name__ == "__main__":
    main()
