"""Tutorial 5: run a parameter sweep from the command line.

The CUBA benchmark network (Vogels & Abbott 2005, "Signal propagation and logic gating
in networks of integrate-and-fire neurons", J. Neurosci. 25:10786) is run for several
inhibitory weights ``w_inh`` (mV jump per spike) with ``synaptica run cuba --set``, each
into its own output folder; the mean firing rate (Hz) of each run is read back from its
``metrics.json``. Stronger inhibition lowers the rate. The network is shrunk to 800
neurons and 200 ms so the sweep takes seconds.

A dedicated ``synaptica sweep`` command is planned; while it is absent from this
version the sweep is this loop over ``synaptica run`` (the script says which it found).

Run:  .venv/bin/python docs/tutorials/run_a_sweep.py [--out DIR]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

W_INH = (-4.0, -9.0, -16.0)     # mV; -9 is the benchmark's value
SMALL = ("n=800", "duration_ms=200.0")


def synaptica(*args: str) -> subprocess.CompletedProcess:
    """The command line, run with this interpreter (as the installed ``synaptica`` would)."""
    return subprocess.run([sys.executable, "-m", "synaptica.cli.main", *args], capture_output=True, text=True)


def main(out: Path) -> dict[float, float]:
    has_sweep = synaptica("sweep", "--help").returncode == 0
    print("synaptica sweep:", "available (this tutorial still shows the explicit loop)" if has_sweep
          else "not in this version; sweeping with a loop over 'synaptica run'")
    rates = {}
    for w_inh in W_INH:
        folder = out / f"cuba_w_inh={w_inh:g}"
        settings = [arg for pair in (*SMALL, f"w_inh={w_inh}") for arg in ("--set", pair)]
        done = synaptica("run", "cuba", *settings, "--out", str(folder))
        if done.returncode != 0:
            raise SystemExit(f"synaptica run cuba failed for w_inh={w_inh}:\n{done.stderr}")
        metrics = json.loads((folder / "metrics.json").read_text())
        rates[w_inh] = float(metrics["mean_rate_hz"])
        print(f"w_inh = {w_inh:6.1f} mV -> mean rate {rates[w_inh]:6.2f} Hz   ({folder.name}/)")
    ordered = [rates[w] for w in W_INH]
    assert ordered[0] > ordered[-1], "stronger inhibition should lower the mean rate"
    return rates


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None, help="folder for the runs (default: a temporary one)")
    args = parser.parse_args()
    if args.out is None:
        with tempfile.TemporaryDirectory() as folder:
            main(Path(folder))
    else:
        main(args.out)
