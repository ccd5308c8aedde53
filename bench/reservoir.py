"""Rate echo-state network: synaptica vs ReservoirPy 0.4 on the same reservoir.

Both libraries get the same W, W_in, bias and leak rate (generated once by
synaptica.reservoir.EchoStateNetwork, handed to ReservoirPy as explicit matrices) and the
same ridge. For each task the script checks that the states agree (float64, max |diff|
<= STATE_TOLERANCE) and reports, side by side: memory capacity (Jaeger 2001), NARMA-10
NRMSE and Mackey-Glass (tau = 17) one-step NRMSE, each computed by the same metric code
from each library's own readout predictions, and the wall time of state collection +
readout fit (median of ``--repeats``, one BLAS / torch thread for both).

Runs inside bench/.venv-reservoir (ReservoirPy 0.4.2 and synaptica editable; created by
``python3 bench/peers_env.py --reservoir``)::

    bench/.venv-reservoir/bin/python bench/reservoir.py [--repeats 5] [--units 300]
    bench/.venv-reservoir/bin/python bench/reservoir.py --quick   # tiny sizes, checks only, no file written

and writes the section "Reservoir computing: rate ESN vs ReservoirPy" of BENCHMARKS.md
(``--no-write``: print only). synaptica runs its default CPU path (the compiled recurrence
of :mod:`synaptica.reservoir._esn_kernel`); ReservoirPy its own Python loop over steps.
"""
from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):   # before numpy loads BLAS
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from report import write_section  # noqa: E402

from synaptica.reservoir.esn import EchoStateNetwork  # noqa: E402
from synaptica.reservoir.readout import RidgeReadout  # noqa: E402
from synaptica.reservoir.tasks import (mackey_glass, memory_capacity_of_states, narma10, nrmse,  # noqa: E402
                                      squared_correlations)

TITLE = "Reservoir computing: rate ESN vs ReservoirPy"
COMMAND = "bench/.venv-reservoir/bin/python bench/reservoir.py"
STATE_TOLERANCE = 1e-10      # max |x_ours - x_reservoirpy| over all states, float64
METRIC_TOLERANCE = 1e-6      # |metric_ours - metric_reservoirpy|


def make_esn(units: int, spectral_radius: float, input_scaling: float, leak: float, bias: float, seed: int):
    return EchoStateNetwork(units, 1, spectral_radius=spectral_radius, input_scaling=input_scaling, leak_rate=leak,
                            bias_scaling=bias, density=0.1, seed=seed, dtype=torch.float64)


def ours(esn: EchoStateNetwork, u: np.ndarray, y: np.ndarray, washout: int, n_train: int, ridge: float):
    """States, predictions on the steps after training; the timed part is states + fit."""
    start = time.perf_counter()
    states = esn.run(u)
    readout = RidgeReadout(ridge).fit(states[washout:n_train], y[washout:n_train])
    elapsed = time.perf_counter() - start
    return states, readout.predict(states[n_train:]), elapsed


def peer(esn: EchoStateNetwork, u: np.ndarray, y: np.ndarray, washout: int, n_train: int, ridge: float):
    from reservoirpy.nodes import Reservoir, Ridge

    reservoir = Reservoir(W=esn.W.numpy(), Win=esn.W_in.numpy(), bias=esn.bias.numpy(), lr=esn.leak_rate,
                          input_dim=1, dtype=np.float64)
    readout = Ridge(ridge=ridge)
    start = time.perf_counter()
    states = reservoir.run(u)
    readout.fit(states[washout:n_train], y[washout:n_train])
    elapsed = time.perf_counter() - start
    return states, readout.run(states[n_train:]), elapsed


def compare(name: str, esn, u, y, washout, n_train, ridge, repeats, metric):
    """Run both libraries ``repeats`` times; check states; return the table row values."""
    times = {"synaptica": [], "ReservoirPy": []}
    results = {}
    for _ in range(repeats):
        for label, runner in (("synaptica", ours), ("ReservoirPy", peer)):
            states, predicted, elapsed = runner(esn, u, y, washout, n_train, ridge)
            times[label].append(elapsed)
            results[label] = (states, predicted)
    diff = float(np.max(np.abs(results["synaptica"][0] - results["ReservoirPy"][0])))
    if diff > STATE_TOLERANCE:
        raise SystemExit(f"{name}: states differ by {diff:.3g} > {STATE_TOLERANCE:g}")
    scores = {label: metric(results[label][1]) for label in results}
    gap = abs(scores["synaptica"] - scores["ReservoirPy"])
    if gap > METRIC_TOLERANCE:
        raise SystemExit(f"{name}: metrics differ: {scores} (gap {gap:.3g} > {METRIC_TOLERANCE:g})")
    return dict(task=name, diff=diff, scores=scores, times={k: statistics.median(v) for k, v in times.items()},
                steps=len(u))


def run_tasks(units: int, n_steps: int, repeats: int, seed: int) -> list[dict]:
    rows = []
    # memory capacity (Jaeger 2001): near-linear reservoir, u iid uniform in [-0.5, 0.5], delays 1..2N
    max_delay = 2 * units
    esn = make_esn(units, 0.95, 0.1, 1.0, 0.0, seed)
    u = np.random.default_rng(seed).uniform(-0.5, 0.5, (max_delay + n_steps, 1))
    steps = np.arange(max_delay, len(u))
    targets = np.zeros((len(u), max_delay))
    targets[steps] = np.stack([u[steps - k, 0] for k in range(1, max_delay + 1)], axis=1)
    n_train = max_delay + (2 * n_steps) // 3

    def capacity(predicted: np.ndarray) -> float:
        return float(squared_correlations(targets[n_train:], predicted).sum())

    rows.append(compare("memory capacity (MC, delays 1..2N)", esn, u, targets, max_delay, n_train, 1e-8, repeats,
                        capacity))
    # cross-check: the package's own MC code on our states gives the same number
    rows[-1]["package_mc"] = memory_capacity_of_states(esn.run(u), u, max_delay, n_train - max_delay, max_delay,
                                                       1e-8).total
    # NARMA-10 (Atiya & Parlos 2000)
    u, y = narma10(n_steps, seed=seed)
    esn = make_esn(units, 0.9, 0.2, 1.0, 0.2, seed)
    washout, n_train = 100, (3 * n_steps) // 4
    rows.append(compare("NARMA-10 (NRMSE)", esn, u, y, washout, n_train, 1e-8, repeats,
                        lambda p: nrmse(y[n_train:], p)))
    # Mackey-Glass tau = 17, one-step-ahead prediction of x - 1
    x = mackey_glass(n_steps + 1, seed=seed) - 1.0
    u, y = x[:-1, None], x[1:, None]
    esn = make_esn(units, 1.0, 0.5, 0.3, 0.2, seed)
    rows.append(compare("Mackey-Glass one-step (NRMSE)", esn, u, y, washout, n_train, 1e-7, repeats,
                        lambda p: nrmse(y[n_train:], p)))
    return rows


def table(rows: list[dict], units: int, repeats: int) -> str:
    import reservoirpy

    lines = [f"Command: `{COMMAND} --units {units} --repeats {repeats}` (environment: "
             "`python3 bench/peers_env.py --reservoir`). Same W (density 0.1), W_in, bias, leak rate and ridge in both "
             f"libraries; float64; one thread each. Machine: {platform.machine()}, torch {torch.__version__}, "
             f"ReservoirPy {reservoirpy.__version__}.",
             "",
             f"States must agree within {STATE_TOLERANCE:g} (max |diff|) and the metrics within {METRIC_TOLERANCE:g}; "
             "the script stops otherwise. Time: state collection + ridge fit, median of the repeats.",
             "",
             f"| task ({units} units) | steps | synaptica | ReservoirPy | max state diff | synaptica time (s) "
             "| ReservoirPy time (s) |",
             "|---|---|---|---|---|---|---|"]
    for row in rows:
        s = row["scores"]
        lines.append(f"| {row['task']} | {row['steps']} | {s['synaptica']:.6g} | {s['ReservoirPy']:.6g} | "
                     f"{row['diff']:.1e} | {row['times']['synaptica']:.3f} | {row['times']['ReservoirPy']:.3f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--units", type=int, default=300)
    parser.add_argument("--steps", type=int, default=4000, help="input steps per task (after MC's washout)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-write", action="store_true", help="print the table only, leave BENCHMARKS.md alone")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, one repeat: checks only, no file written")
    args = parser.parse_args()
    torch.set_num_threads(1)
    units, steps, repeats = (30, 400, 1) if args.quick else (args.units, args.steps, args.repeats)
    rows = run_tasks(units, steps, repeats, args.seed)
    text = table(rows, units, repeats)
    print(text)
    for row in rows:
        if "package_mc" in row:
            print(f"MC by synaptica.reservoir.tasks.memory_capacity_of_states: {row['package_mc']:.6g}")
    if not (args.quick or args.no_write):
        write_section(HERE.parent / "BENCHMARKS.md", TITLE, text)


if __name__ == "__main__":
    main()
