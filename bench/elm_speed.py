"""Cost of one ELM training update on the adding problem: the fused CPU scan against the eager loop.

One update = forward, backward and an Adamax step on a batch of 32 adding-problem sequences
of length T + T // 10 (the experiment's longest), ``d_m = 20`` memory units as in
``synaptica run elm``; the parameter-matched Chrono-LSTM (``torch.nn.LSTM``) is timed in the
same process for scale. One thread, medians of ``--repeats`` updates after two warm-ups.
Writes the section "ELM neuron: seconds per training update" of BENCHMARKS.md unless
``--no-write``. Run it alone on the machine::

    .venv/bin/python bench/elm_speed.py [--lengths 100 500 1000] [--repeats 15]
"""
from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
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

from synaptica.experiments import elm  # noqa: E402

TITLE = "ELM neuron: seconds per training update"


def seconds_per_update(kind: str, T: int, fused: bool, repeats: int) -> float:
    p = {key: field.default for key, field in elm.SCHEMA.items()}
    torch.manual_seed(0)
    model = elm.SequenceModel.build(kind, p, 2, 1, T + T // 10)
    if kind == "elm":
        model.core.fused = fused
    optimiser = torch.optim.Adamax(model.parameters(), lr=p["lr"])
    rng = np.random.default_rng(0)
    times = []
    for i in range(repeats + 2):
        x, lengths, y = elm.adding_problem(p["batch_size"], T, rng)
        t0 = time.perf_counter()
        loss = elm._mse(model(torch.from_numpy(x)), torch.from_numpy(lengths - 1), torch.from_numpy(y))
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        if i >= 2:
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lengths", type=int, nargs="+", default=[100, 500, 1000])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    batches = {100: 2300, 500: 6531, 1000: 26656}  # Hochreiter & Schmidhuber 1997's sequences / 32
    rows = ["| T (steps) | ELM fused s | ELM eager s | speed-up | Chrono-LSTM s | ELM fused: H&S budget per seed |",
            "|---|---|---|---|---|---|"]
    for T in args.lengths:
        fused = seconds_per_update("elm", T, True, args.repeats)
        eager = seconds_per_update("elm", T, False, args.repeats)
        lstm = seconds_per_update("lstm", T, True, args.repeats)
        budget = f"{batches[T] * fused / 60:.1f} min ({batches[T]} updates)" if T in batches else "-"
        rows.append(f"| {T} | {fused:.4f} | {eager:.4f} | {eager / fused:.1f}x | {lstm:.4f} | {budget} |")
        print(rows[-1], flush=True)
    section = "\n".join([
        f"Command: `.venv/bin/python bench/elm_speed.py --repeats {args.repeats}` (one update: forward, backward "
        "and Adamax step on 32 adding-problem sequences of T + T/10 steps; d_m = 20, 1,783 parameters; one thread; "
        f"median of {args.repeats} updates; {platform.processor() or platform.machine()}, run alone). "
        f"Measured {time.strftime('%Y-%m-%d')}.", "", *rows, "",
        "The fused scan (`synaptica.training.elm_kernels`) runs the trace and memory recurrences in compiled loops "
        "with their hand-written adjoints; the eager loop is `ELMLayer(fused=False)`, one torch call per operation "
        "and step, whose per-call overhead dominates at these sizes."])
    if not args.no_write:
        write_section(HERE.parent / "BENCHMARKS.md", TITLE, section)


if __name__ == "__main__":
    main()
