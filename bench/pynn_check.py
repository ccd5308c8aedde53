"""Correctness check of the PyNN export: the CUBA network (Vogels & Abbott 2005, as in
Brette et al. 2007) built by synaptica, exported with :func:`synaptica.io.pynn.write_script`
and run by NEST 3.10 through PyNN 0.13, against the same network run by synaptica.

For every seed, synaptica builds the network (connectivity and initial potentials from the
seed), writes the PyNN script + .npz before running, runs it itself, and the script is run
by ``bench/.venv-peers``'s python (PyNN + NEST; that environment has no numba, so the
synaptica side runs here, in the project's environment, and NEST runs only the exported
script, which needs nothing of synaptica). Both sides then simulate the very same synapses,
weights, delays and initial state; they differ only in arithmetic details, so the
mean rate and the mean ISI CV must agree within the spread over seeds.

    python bench/pynn_check.py            # N = 4000, 1 s, 5 seeds; writes its BENCHMARKS.md section
    python bench/pynn_check.py --quick    # N = 1000, 0.3 s, 3 seeds; writes nothing

Exit code 0 when both statistics agree (PASS), 1 otherwise, 2 without the peer environment.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT / "src"))
PEER_PYTHON = HERE / ".venv-peers" / "bin" / "python"
TITLE = "PyNN/NEST export check"


def statistics(times_ms: np.ndarray, ids: np.ndarray, n: int, duration_ms: float) -> tuple[float, float]:
    """(mean rate in Hz, mean ISI CV over neurons with >= 3 spikes) -- as the cuba experiment."""
    from synaptica.analysis.stats import firing_rates, isi_cv

    cv = isi_cv(np.asarray(times_ms, dtype=float), np.asarray(ids, dtype=np.int64), n)
    return float(firing_rates(np.asarray(ids, dtype=np.int64), n, duration_ms).mean()), float(np.nanmean(cv))


def run_seed(p: dict, workdir: Path, peer_python: Path) -> dict[str, float]:
    from synaptica.experiments.cuba import build_cuba
    from synaptica.io.pynn import write_script

    net, cells, monitor = build_cuba(p)
    script, _ = write_script(net, workdir / f"cuba_seed{p['seed']}.py", p["duration_ms"], source=f"cuba seed {p['seed']}")
    net.run(p["duration_ms"])
    ours = statistics(monitor.times_ms, monitor.neuron_ids, p["n"], p["duration_ms"])
    spikes = workdir / f"spikes_seed{p['seed']}.npz"
    done = subprocess.run([str(peer_python), str(script), "--simulator", "nest", "--spikes", str(spikes)],
                          capture_output=True, text=True, cwd=workdir, env={**os.environ, "PYNEST_QUIET": "1"})
    if done.returncode != 0:
        raise RuntimeError(f"the exported script failed under NEST:\n{done.stderr[-3000:]}")
    with np.load(spikes, allow_pickle=False) as data:
        nest = statistics(data["cells.times_ms"], data["cells.ids"], p["n"], p["duration_ms"])
    return {"seed": p["seed"], "rate_synaptica": ours[0], "rate_nest": nest[0], "cv_synaptica": ours[1], "cv_nest": nest[1]}


def agreement(rows: list[dict], key: str) -> tuple[float, float, float, bool]:
    """(mean synaptica, mean NEST, allowed difference, agree): the means over seeds may differ
    by at most twice the larger standard error of the two sides, plus 2 % of the mean (the
    seed spread shrinks with more seeds; the floor keeps a few seeds from demanding identity)."""
    ours = np.array([r[f"{key}_synaptica"] for r in rows])
    nest = np.array([r[f"{key}_nest"] for r in rows])
    sem = max(ours.std(ddof=1), nest.std(ddof=1)) / np.sqrt(len(rows))
    allowed = 2 * sem * np.sqrt(2) + 0.02 * abs(ours.mean())
    return float(ours.mean()), float(nest.mean()), float(allowed), bool(abs(ours.mean() - nest.mean()) <= allowed)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="N = 1000, 300 ms, 3 seeds; no BENCHMARKS.md section")
    parser.add_argument("--n", type=int, default=None)
    parser.add_argument("--duration", type=float, default=None, help="ms")
    parser.add_argument("--seeds", type=int, default=None, help="number of seeds (1, 2, ...)")
    parser.add_argument("--peer-python", type=Path, default=PEER_PYTHON)
    args = parser.parse_args()
    n = args.n or (1000 if args.quick else 4000)
    duration = args.duration or (300.0 if args.quick else 1000.0)
    seeds = args.seeds or (3 if args.quick else 5)
    if seeds < 2:
        parser.error("--seeds: at least 2 (the spread over seeds is the yardstick)")
    if not args.peer_python.exists():
        print(f"no peer environment at {args.peer_python}: run `python3 bench/peers_env.py`", file=sys.stderr)
        return 2
    from synaptica.experiments.cuba import CUBA

    base = {k: f.default for k, f in CUBA.schema.items()}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(1, seeds + 1):
            rows.append(run_seed({**base, "n": n, "duration_ms": duration, "seed": seed}, Path(tmp), args.peer_python))
            print("seed {seed}: rate {rate_synaptica:.3f} / {rate_nest:.3f} Hz, CV {cv_synaptica:.3f} / {cv_nest:.3f} "
                  "(synaptica / NEST)".format(**rows[-1]), flush=True)
    rate, cv = agreement(rows, "rate"), agreement(rows, "cv")
    verdict = "PASS" if rate[3] and cv[3] else "FAIL"
    command = "python bench/pynn_check.py" + (" --quick" if args.quick else "") + \
        "".join(f" --{k} {v}" for k, v in (("n", args.n), ("duration", args.duration), ("seeds", args.seeds)) if v)
    lines = [f"## {TITLE} (bench/pynn_check.py)", "",
             f"CUBA (N = {n}, {duration:g} ms, dt = 0.1 ms) exported with `synaptica.io.pynn.write_script` and run by "
             f"NEST 3.10 through PyNN 0.13 (`bench/.venv-peers`), against synaptica on the same synapses and initial "
             f"state; one row per seed. A correctness check, not a timing. Command: `{command}`", "",
             "| seed | rate synaptica (Hz) | rate NEST (Hz) | ISI CV synaptica | ISI CV NEST |", "|---|---|---|---|---|"]
    lines += ["| {seed} | {rate_synaptica:.3f} | {rate_nest:.3f} | {cv_synaptica:.3f} | {cv_nest:.3f} |".format(**r)
              for r in rows]
    lines += ["", f"Mean rate {rate[0]:.3f} vs {rate[1]:.3f} Hz (allowed difference {rate[2]:.3f}); "
              f"mean ISI CV {cv[0]:.3f} vs {cv[1]:.3f} (allowed {cv[2]:.3f}): **{verdict}** "
              f"(allowed: 2 sqrt(2) x the larger standard error over seeds + 2 % of synaptica's mean)."]
    print("\n".join(lines))
    if not args.quick:
        from report import write_section
        write_section(ROOT / "BENCHMARKS.md", TITLE, "\n".join(lines) + "\n")
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
