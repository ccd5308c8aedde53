"""Cost of checkpointing a run: CUBA at a large N with and without checkpoints.

``synaptica run`` saves a checkpoint every tenth of a run. This times ``net.run(1 s)`` of
the CUBA network with ``checkpoint=`` (ten saves) and without, alternating, in one
process, and reports the share of the run the checkpoints take and the size of one
checkpoint file. Run alone on the machine:

    .venv/bin/python bench/checkpoint_cost.py            # N = 64000, table into BENCHMARKS.md
    .venv/bin/python bench/checkpoint_cost.py --n 16000 --print
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from report import write_section  # noqa: E402


def timed_run(n: int, checkpoint: str | None) -> float:
    from synaptica.experiments.cuba import SCHEMA, build_cuba

    params = {k: f.default for k, f in SCHEMA.items()} | {"n": n}
    net, _, _ = build_cuba(params)
    net.compile()
    t = time.perf_counter()
    net.run(params["duration_ms"], checkpoint=checkpoint)
    return time.perf_counter() - t


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=64000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--print", action="store_true", help="print only, do not write BENCHMARKS.md")
    parser.add_argument("--output", default=str(HERE.parent / "BENCHMARKS.md"))
    args = parser.parse_args()
    os.environ.setdefault("NUMBA_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(1)
    plain, saved, size = [], [], 0
    with tempfile.TemporaryDirectory() as folder:
        for r in range(args.repeats):
            path = os.path.join(folder, f"run{r}.npz")
            saved.append(timed_run(args.n, path))
            size = os.path.getsize(path)
            plain.append(timed_run(args.n, None))
            print(f"repeat {r}: with checkpoints {saved[-1]:.2f} s, without {plain[-1]:.2f} s", flush=True)
    with_, without = statistics.median(saved), statistics.median(plain)
    section = "\n".join([
        "## Checkpoint cost (`bench/checkpoint_cost.py`)", "",
        f"Command: `.venv/bin/python bench/checkpoint_cost.py --n {args.n} --repeats {args.repeats}` (CUBA, 1 s, "
        f"ten checkpoints as `synaptica run` writes them, compiled path, one thread, medians, alternating). "
        f"Measured {time.strftime('%Y-%m-%d')}.", "",
        "| N | run without checkpoints s | with ten checkpoints s | share of the run | one checkpoint file |",
        "|---|---|---|---|---|",
        f"| {args.n} | {without:.2f} | {with_:.2f} | {(with_ - without) / without:+.1%} | {size / 2**20:.1f} MB |", "",
        "Static weights are not copied into checkpoints (a fingerprint checks them on resume); plastic or "
        "edited weights are. All runs: with " + ", ".join(f"{t:.2f}" for t in saved) + " s; without "
        + ", ".join(f"{t:.2f}" for t in plain) + " s.", ""])
    if args.print:
        print(section)
    else:
        write_section(args.output, "Checkpoint cost", section)


if __name__ == "__main__":
    main()
