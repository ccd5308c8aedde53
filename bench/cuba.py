"""CUBA benchmark: synaptica against Brian2 (cython, cpp_standalone) and NEST.

The identical network (Vogels & Abbott 2005 / Brette et al. 2007; see
synaptica/experiments/cuba.py and bench/peers/) at N = 4000 and 16000 for 1 s of
biological time, single-threaded, every run in a fresh process, one run at a time.
Peers run from bench/.venv-peers (created on first use; never a package dependency).

    .venv/bin/python bench/cuba.py                 # full table into BENCHMARKS.md
    .venv/bin/python bench/cuba.py --skip-peers    # synaptica only, printed

Columns: import_s (library import), build_s (network construction + code generation and
compilation), sim_s (time stepping only), first_result_s (import + build + sim in a
fresh process, i.e. what a user waits for), mean rate and ISI CV. synaptica "cold" runs
with an empty kernel cache (compiles), the plain rows with the cache of a previous run,
"other core busy" with a second process spinning on the other core.

A worker run prints one JSON line that also splits the phases: construct_s (network
construction) and compile_s (numba's import and start, then compiling the loop or loading
it from the cache; construct_s + compile_s = build_s; numba_import_s is the part of
compile_s spent importing numba), and torch_loaded, whether anything imported torch (a
CPU network does not need it; see synaptica.engine.storage). --numpy-pages allocates the
per-synapse arrays with NumPy instead of plain memory maps:

    SYNAPTICA_CACHE=$(mktemp -d) .venv/bin/python bench/cuba.py --worker --n 4000
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE / "peers"))
from report import write_section  # noqa: E402
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE", "MKL_NUM_THREADS": "1",
       "NUMBA_NUM_THREADS": "1"}


def worker(n: int, seed: int, duration_s: float, numpy_pages: bool = False) -> None:
    """One synaptica run in this (fresh) process; prints a JSON line like the peers.
    ``numpy_pages``: per-synapse arrays from NumPy's allocator instead of plain memory
    maps (see synaptica.synapses.connectivity.synapse_array), to measure that choice."""
    t0 = time.perf_counter()
    from synaptica.experiments.cuba import SCHEMA, build_cuba
    from synaptica.analysis.stats import isi_cv
    import numpy as np
    if numpy_pages:
        from synaptica.synapses import connectivity
        connectivity.synapse_array = lambda size, dtype: np.empty(size, dtype=dtype)
    t1 = time.perf_counter()
    params = {k: f.default for k, f in SCHEMA.items()} | {"n": n, "seed": seed, "duration_ms": duration_s * 1e3}
    net, cells, spikes = build_cuba(params)
    t_built = time.perf_counter()
    import numba  # noqa: F401  (timed apart: what compile_s spends before compiling)
    t_numba = time.perf_counter()
    net.compile()   # compiles the loop or loads it from the kernel cache
    t2 = time.perf_counter()
    net.run(params["duration_ms"])
    t3 = time.perf_counter()
    ids = spikes.neuron_ids.astype(np.int64)
    cv = isi_cv(spikes.times_ms, ids, n)
    print(json.dumps({"peer": "synaptica", "target": "numba", "n": n, "seed": seed, "import_s": t1 - t0,
                      "build_s": t2 - t1, "sim_s": t3 - t2, "total_s": t3 - t0,
                      "torch_loaded": "torch" in sys.modules, "construct_s": t_built - t1, "numba_import_s": t_numba - t_built,
                      "compile_s": t2 - t_built,
                      "mean_rate_hz": ids.size / n / duration_s, "cv_isi": float(np.nanmean(cv)),
                      "n_spikes": int(ids.size)}))


def run_synaptica(n: int, seed: int, duration_s: float, cache: str | None) -> dict:
    env = dict(ENV)
    if cache:
        env["SYNAPTICA_CACHE"] = cache
    cmd = [sys.executable, __file__, "--worker", "--n", str(n), "--seed", str(seed), "--duration", str(duration_s)]
    from run_peers import run_measured

    out, peak_mb = run_measured(cmd, env)
    return json.loads(out.strip().splitlines()[-1]) | {"peak_mb": peak_mb}


def median(rows: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, nargs="+", default=[4000, 16000, 64000])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--seeds", type=int, default=3, help="runs (seeds 1..k) per configuration")
    parser.add_argument("--duration", type=float, default=1.0, help="biological time (s)")
    parser.add_argument("--skip-peers", action="store_true")
    parser.add_argument("--numpy-pages", action="store_true",
                        help="with --worker: per-synapse arrays from NumPy's allocator (huge pages)")
    parser.add_argument("--large", type=int, default=16000,
                        help="above this N only Brian2 cpp_standalone runs among the peers (cython and NEST "
                             "take minutes to build 82 M synapses)")
    parser.add_argument("--output", default=str(ROOT / "BENCHMARKS.md"))
    args = parser.parse_args()
    if args.worker:
        worker(args.n[0], args.seed, args.duration, args.numpy_pages)
        return

    rows: list[tuple[str, int, list[dict]]] = []
    runs = [] if args.skip_peers else ["brian2:cython", "brian2:cpp_standalone", "nest"]
    peer_python = None
    if runs:
        from peers_env import ensure_peers_env
        from run_peers import run_one
        peer_python = ensure_peers_env()
    seeds = list(range(1, args.seeds + 1))
    # load the libraries into the OS file cache once, so no row pays for a cold disk
    subprocess.run([sys.executable, "-c", "import torch, numba"], check=True, env=ENV)
    for n in args.n:
        cold = []
        for s in seeds:  # every cold run compiles into its own empty kernel cache
            with tempfile.TemporaryDirectory() as cold_cache:
                cold.append(run_synaptica(n, s, args.duration, cold_cache))
        run_synaptica(n, seeds[0], args.duration, None)  # fill the default cache
        warm = [run_synaptica(n, s, args.duration, None) for s in seeds]
        # a shared machine: the other core kept busy by another process
        hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        try:
            busy = [run_synaptica(n, s, args.duration, None) for s in seeds]
        finally:
            hog.kill()
        rows += [("synaptica (cold cache)", n, cold), ("synaptica", n, warm),
                 ("synaptica (other core busy)", n, busy)]
        peers_here = [r for r in runs if n <= args.large or r == "brian2:cpp_standalone"]
        for run in peers_here:
            results = [run_one(peer_python, run, n, args.duration, s) for s in seeds]
            rows.append((run.replace(":", " "), n, results))
        for label, size, results in rows[-(3 + len(peers_here)):]:
            print(f"{label:28s} N={size:6d} sim {median(results, 'sim_s'):7.3f} s  "
                  f"first result {median(results, 'total_s'):7.2f} s  rate {median(results, 'mean_rate_hz'):.2f} Hz",
                  flush=True)
    if not args.skip_peers:
        write_table(rows, args)


def write_table(rows, args) -> None:
    lines = ["| engine | N | import s | build s | sim s | first result s | mean rate Hz | ISI CV | peak MB | "
             "peak bytes per synapse |", "|---|---|---|---|---|---|---|---|---|---|"]
    for label, n, results in rows:
        synapses = n * n * 0.02
        lines.append(f"| {label} | {n} | {median(results, 'import_s'):.2f} | {median(results, 'build_s'):.2f} | "
                     f"{median(results, 'sim_s'):.3f} | {median(results, 'total_s'):.2f} | "
                     f"{median(results, 'mean_rate_hz'):.2f} | {median(results, 'cv_isi'):.3f} | "
                     f"{median(results, 'peak_mb'):.0f} | {median(results, 'peak_mb') * 2**20 / synapses:.1f} |")
    ratio_lines = []
    for n in args.n:
        ours = next(r for label, size, r in rows if label == "synaptica" and size == n)
        cold = next(r for label, size, r in rows if label.startswith("synaptica (cold") and size == n)
        standalone = next(r for label, size, r in rows if label == "brian2 cpp_standalone" and size == n)
        ratio_lines.append(
            f"- N = {n}: simulation time {median(ours, 'sim_s') / median(standalone, 'sim_s'):.2f} of "
            f"Brian2 cpp_standalone's ({median(standalone, 'sim_s') / median(ours, 'sim_s'):.2f}x faster than "
            f"it); peak memory {median(ours, 'peak_mb'):.0f} MB vs {median(standalone, 'peak_mb'):.0f} MB; "
            f"first result {median(ours, 'total_s'):.2f} s with the kernel cache, "
            f"{median(cold, 'total_s'):.2f} s compiling, vs {median(standalone, 'total_s'):.2f} s = "
            f"{median(ours, 'total_s') / median(standalone, 'total_s'):.3f} and "
            f"{median(cold, 'total_s') / median(standalone, 'total_s'):.3f} of it.")
    section = "\n".join([
        "## CUBA network (`bench/cuba.py`)", "",
        f"Command: `.venv/bin/python bench/cuba.py --seeds {args.seeds}` (1 s biological time, dt 0.1 ms, one "
        f"thread, every run a fresh process, medians over seeds 1..{args.seeds}; run alone on the 2-core machine).",
        f"Measured {time.strftime('%Y-%m-%d')}.", "", *lines, "", *ratio_lines, ""])
    write_section(args.output, "CUBA network", section)


if __name__ == "__main__":
    main()
