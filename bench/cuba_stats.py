"""Seed-averaged CUBA statistics of synaptica beside the Brian2/NEST reference.

    .venv/bin/python bench/cuba_stats.py --seeds 20

Prints mean ± sd over seeds of the mean rate (Hz) and of the mean per-neuron ISI CV
(neurons with >= 3 spikes), for synaptica (N = 4000, 1 s) and for the peers' stored
reference (bench/peers/cuba_reference.json).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from synaptica.analysis.stats import isi_cv
from synaptica.experiments.cuba import SCHEMA, build_cuba


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--dtype", default="float32", choices=("float32", "float64"))
    args = parser.parse_args()
    rates, cvs = [], []
    for seed in range(1, args.seeds + 1):
        params = {k: f.default for k, f in SCHEMA.items()} | {"seed": seed, "dtype": args.dtype}
        net, cells, spikes = build_cuba(params)
        net.run(params["duration_ms"])
        ids = spikes.neuron_ids.astype(np.int64)
        rates.append(ids.size / params["n"])
        cvs.append(np.nanmean(isi_cv(spikes.times_ms, ids, params["n"])))
    print(f"synaptica ({args.dtype}, seeds 1-{args.seeds}): rate {np.mean(rates):.2f} ± {np.std(rates, ddof=1):.2f} Hz, "
          f"ISI CV {np.mean(cvs):.3f} ± {np.std(cvs, ddof=1):.3f}")
    reference = json.loads((Path(__file__).parent / "peers" / "cuba_reference.json").read_text())
    for peer in ("brian2_cpp_standalone", "nest"):
        r = np.array([x["mean_rate_hz"] for x in reference[peer]])
        c = np.array([x["cv_isi"] for x in reference[peer]])
        print(f"{peer} (seeds 1-{r.size}): rate {r.mean():.2f} ± {r.std(ddof=1):.2f} Hz, "
              f"ISI CV {c.mean():.3f} ± {c.std(ddof=1):.3f}")


if __name__ == "__main__":
    main()
