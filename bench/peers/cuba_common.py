"""Shared parts of the CUBA peer scripts: CLI, single-thread environment, statistics, output.

Importing this module pins OpenMP to one passive thread, so import it before the simulator.
"""
from __future__ import annotations

import argparse
import json
import os

os.environ["OMP_NUM_THREADS"] = "1"
os.environ["OMP_WAIT_POLICY"] = "PASSIVE"  # busy-waiting barriers ruin timings on a shared machine

import numpy as np  # noqa: E402

# Model constants of Brian2's examples/CUBA.py (units: ms, mV).
TAUM, TAUE, TAUI = 20.0, 5.0, 10.0
VT, VR, EL = -50.0, -60.0, -49.0
REFRACTORY = 5.0
DT = 0.1
WE = 60 * 0.27 / 10  # excitatory jump of ge, mV
WI = -20 * 4.5 / 10  # inhibitory jump of gi, mV
P_CONNECT = 0.02
EXC_FRACTION = 0.8


def make_parser(doc: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=4000, help="number of neurons (first 80%% excitatory)")
    p.add_argument("--duration", type=float, default=1.0, help="simulated time, s")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--spikes-out", default=None, help="write spike times (s) and ids to this .npz")
    return p


def cv_isi(t_s: np.ndarray, ids: np.ndarray) -> float:
    """Mean over neurons with >= 3 spikes of std(ISI)/mean(ISI)."""
    order = np.lexsort((t_s, ids))
    t_s, ids = t_s[order], ids[order]
    cvs = []
    for idx in np.split(np.arange(len(ids)), np.flatnonzero(np.diff(ids)) + 1):
        if len(idx) >= 3:
            isi = np.diff(t_s[idx])
            cvs.append(isi.std() / isi.mean())
    return float(np.mean(cvs)) if cvs else float("nan")


def report(args, peer, target, import_s, build_s, sim_s, total_s, t_s, ids, **extra) -> None:
    """Print the one JSON result line; optionally save the spikes."""
    t_s = np.asarray(t_s, dtype=float)
    ids = np.asarray(ids, dtype=np.int64)
    if args.spikes_out:
        np.savez(args.spikes_out, t=t_s, i=ids)
    result = dict(
        peer=peer, target=target, n=args.n, duration_s=args.duration, seed=args.seed,
        import_s=round(import_s, 4), build_s=round(build_s, 4), sim_s=round(sim_s, 4),
        total_s=round(total_s, 4), mean_rate_hz=len(t_s) / (args.n * args.duration),
        cv_isi=cv_isi(t_s, ids), n_spikes=int(len(t_s)), **extra,
    )
    print(json.dumps(result), flush=True)
