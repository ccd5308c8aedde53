"""Tutorial 4: analyse an NWB file written by another tool.

Labs share spike-sorted data as NWB files whose ``units`` table holds each unit's spike
times (s). Here pynwb itself (not synaptica) writes such a file, as an acquisition
system would: 8 units firing as Poisson processes at 5-20 Hz for 30 s, where unit 1
follows unit 0's spikes 5 ms later half of the time. synaptica reads it with
``load_record`` and runs the whole analysis (``analyze_record``, what
``synaptica analyze FILE`` does): firing statistics, synchrony, criticality,
complexity and the coupled Poisson GLM's functional connectivity, which finds the
0 -> 1 coupling.

Run:  .venv/bin/python docs/tutorials/analyse_foreign_nwb.py
"""
from __future__ import annotations

import importlib.util
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

SKIPPED = 3  # exit status of a tutorial whose optional dependency is missing

if importlib.util.find_spec("pynwb") is None:
    print("SKIPPED: this tutorial needs pynwb (pip install 'synaptica[nwb]')")
    sys.exit(SKIPPED)

import numpy as np  # noqa: E402
import pynwb  # noqa: E402

from synaptica.analysis.report import analyze_record  # noqa: E402
from synaptica.io import load_record  # noqa: E402

DURATION_S = 30.0
LAG_S = 0.005


def write_foreign_file(path: Path, seed: int = 0) -> None:
    """An NWB file made with pynwb alone: a units table with spike times in s."""
    rng = np.random.default_rng(seed)
    trains = [np.sort(rng.uniform(0, DURATION_S, rng.poisson(rate * DURATION_S))) for rate in rng.uniform(5, 20, 8)]
    followers = trains[0][rng.random(len(trains[0])) < 0.5] + LAG_S
    trains[1] = np.sort(np.concatenate([trains[1], followers[followers < DURATION_S]]))
    nwb = pynwb.NWBFile(session_description="synthetic recording", identifier="tutorial-4",
                        session_start_time=datetime(2024, 1, 1, tzinfo=timezone.utc))
    nwb.add_unit_column(name="location", description="recording site")
    for train in trains:
        nwb.add_unit(spike_times=train, location="CA1")
    with pynwb.NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "recording.nwb"
        write_foreign_file(path)
        record = load_record(path)
    print(f"read {record.n_units} units, {len(record.times)} spikes, {record.t_stop - record.t_start:.1f} s; "
          f"unit metadata: {sorted(record.units)}")

    result = analyze_record(record, bin_size=0.001, max_lag=0.02)
    for section, values in result.metrics.items():
        if isinstance(values, dict):
            shown = {k: v for k, v in values.items() if isinstance(v, (int, float))}
            print(f"{section}: " + ", ".join(f"{k}={v:.3g}" for k, v in list(shown.items())[:4]))
    strength = result.arrays["connectivity"]                # (n, n), [post, pre] (log-rate units)
    significant = result.arrays["significant"]              # (n, n) bool: p < 0.05 after Benjamini-Hochberg FDR
    edges = [(int(pre), int(post)) for post, pre in zip(*np.nonzero(significant & ~np.eye(record.n_units, dtype=bool)))]
    print("significant couplings (pre -> post, strength): "
          + ", ".join(f"{pre} -> {post} ({strength[post, pre]:+.2f})" for pre, post in edges))
    assert (0, 1) in edges and strength[1, 0] > 0, "the planted excitatory 0 -> 1 coupling was not found"

if __name__ == "__main__":
    main()
