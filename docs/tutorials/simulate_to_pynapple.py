"""Tutorial 1: simulate a network, save its spikes as NWB, open them in pynapple.

A balanced-ish LIF population driven by Poisson input is run on the compiled CPU loop;
its spikes become a :class:`synaptica.record.SpikeRecord` (times in s), are written to an
NWB units table (``save_record``; needs ``pynwb``), read back, and handed to pynapple
as a ``TsGroup`` (``to_pynapple``; needs ``pynapple``).

Run:  .venv/bin/python docs/tutorials/simulate_to_pynapple.py [--out DIR]
"""
from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
from pathlib import Path

import numpy as np

SKIPPED = 3  # exit status of a tutorial whose optional dependency is missing

missing = [name for name in ("pynwb", "pynapple") if importlib.util.find_spec(name) is None]
if missing:
    print(f"SKIPPED: this tutorial needs {', '.join(missing)} (pip install 'synaptica[nwb,interop]')")
    sys.exit(SKIPPED)

from synaptica import LIF, Network  # noqa: E402
from synaptica.io import load_record, save_record  # noqa: E402
from synaptica.io.interop import to_pynapple  # noqa: E402
from synaptica.record import SpikeRecord  # noqa: E402

DURATION_MS = 1000.0


def simulate(seed: int = 0) -> SpikeRecord:
    """40 LIF cells (ms, mV, pA) driven by 200 Poisson inputs at 20 Hz for one second."""
    net = Network(dt=0.1, seed=seed)
    inputs = net.add_poisson(200, rate_hz=20.0)
    cells = net.add_population(40, LIF(tau_m=20.0, v_th=-50.0), name="cells")
    net.connect(inputs, cells, p=0.2, weight=120.0)
    net.connect(cells, cells, p=0.1, weight=-100.0, sign="inhibitory")
    spikes = net.monitor_spikes(cells)
    net.run(DURATION_MS)
    return SpikeRecord.from_monitor(spikes, DURATION_MS)


def main(out: Path) -> None:
    record = simulate()
    print(f"simulated {record.n_units} units, {len(record.times)} spikes in {record.t_stop - record.t_start:.1f} s")
    path = save_record(record, out / "spikes.nwb")     # NWB units table, written atomically
    back = load_record(path)
    assert np.allclose(back.times, record.times) and np.array_equal(back.ids, record.ids)
    print(f"wrote and re-read {path.name}: identical spike times and unit ids")

    group = to_pynapple(back)                          # pynapple.TsGroup keyed 0..n-1
    rates = np.asarray(group.rate)                     # Hz over the time support
    print(f"pynapple TsGroup with {len(group)} units; mean rate {rates.mean():.1f} Hz")
    assert len(group) == record.n_units and rates.mean() > 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None, help="folder for spikes.nwb (default: a temporary one)")
    args = parser.parse_args()
    if args.out is None:
        with tempfile.TemporaryDirectory() as folder:
            main(Path(folder))
    else:
        args.out.mkdir(parents=True, exist_ok=True)
        main(args.out)
