"""Cost of one neuron step on the compiled CPU path, per model and dtype.

Each model: 4000 unconnected neurons with a constant injected current, 1 s at dt 0.1 ms
(40 M neuron updates), one thread; the time of ``net.run`` after compilation, median of
``--repeats``. Run alone on the machine:

    .venv/bin/python bench/neuron_cost.py            # table into BENCHMARKS.md
    .venv/bin/python bench/neuron_cost.py --print    # printed only
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from report import write_section  # noqa: E402


def step_cost(model, dtype, n: int, repeats: int) -> float:
    from synaptica import Network

    net = Network(dt=0.1, dtype=dtype)
    pop = net.add_population(n, model)
    pop.i_ext[:] = 100.0
    net.compile()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        net.run(1000.0)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=4000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--print", action="store_true", help="print only, do not write BENCHMARKS.md")
    parser.add_argument("--output", default=str(HERE.parent / "BENCHMARKS.md"))
    args = parser.parse_args()
    os.environ.setdefault("NUMBA_NUM_THREADS", "1")
    import torch

    from synaptica.neurons import AdEx, AdaptiveLIF, Izhikevich, LIF, LIFConductance

    torch.set_num_threads(1)
    rows = []
    for model in (LIF(), AdaptiveLIF(), LIFConductance(), Izhikevich(), AdEx()):
        costs = [step_cost(model, dtype, args.n, args.repeats) for dtype in (torch.float32, torch.float64)]
        rows.append((type(model).__name__, *costs))
        print(rows[-1], flush=True)
    base = rows[0]
    lines = ["| model | float32 s | float64 s | float32 ns per neuron step | x LIF (float32) | x LIF (float64) |",
             "|---|---|---|---|---|---|"]
    for name, f32, f64 in rows:
        lines.append(f"| {name} | {f32:.3f} | {f64:.3f} | {f32 / (args.n * 10000) * 1e9:.2f} | "
                     f"{f32 / base[1]:.1f} | {f64 / base[2]:.1f} |")
    section = "\n".join([
        "## Neuron step cost (`bench/neuron_cost.py`)", "",
        f"Command: `.venv/bin/python bench/neuron_cost.py --repeats {args.repeats}` ({args.n} unconnected neurons, "
        "constant current, 1 s at dt 0.1 ms, compiled CPU path, one thread, median of the repeats). "
        f"Measured {time.strftime('%Y-%m-%d')}.", "", *lines, "",
        "Models whose step needs `exp` of a per-neuron value (conductance LIF, AdEx) pay for it every step; the "
        "compiled `exp` is branch-free (no libm call), so their loops vectorise too.", ""])
    if args.print:
        print(section)
    else:
        write_section(args.output, "Neuron step cost", section)


if __name__ == "__main__":
    main()
