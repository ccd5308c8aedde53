"""All-pairs cross-correlograms: synaptica against Elephant 1.2.1 and pynapple.

The record is an npz with keys times (s), ids, n_units, t_start, t_stop. synaptica runs in
this process (median of ``repeats`` calls after one warm-up call, which also absorbs numba
compilation; the very first call is reported as ``cold_s``). The peers run in fresh
processes from bench/.venv-analysis (bench/peers/cch_elephant.py, cch_pynapple.py), time
their own all-pairs loop and save their arrays, which are compared here:

* Elephant: ``cross_correlation_histogram`` over all ordered pairs (autocorrelograms
  included), window ``[-L, L]`` bins, counts — must equal synaptica's exactly.
* pynapple: ``compute_crosscorrelogram`` over the unordered pairs plus
  ``compute_autocorrelogram``, ``norm=False``; pynapple bins the *continuous* lag
  ``t_j - t_i`` (bins centred on multiples of bin_size) instead of the difference of
  bin indices, and drops the zero-lag self pairs, so its counts (rate * n_ref * bin)
  differ slightly; the report gives the largest and the total absolute difference.

Default: 1 ms bins, lags up to ±50 ms (covers monosynaptic and short-latency common-input
peaks, a common window for functional-connectivity CCGs).

    .venv/bin/python bench/analysis_cch.py [record.npz]   # a test record is made if absent
"""
from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
PEER_PYTHON = HERE / ".venv-analysis" / "bin" / "python"


def make_test_record(path: Path, *, n_units: int = 50, duration: float = 180.0, seed: int = 0,
                     n_pairs: int = 10, delay: float = 0.003, jitter: float = 0.001, p_copy: float = 0.3) -> Path:
    """Poisson units at 5-20 Hz; in ``n_pairs`` planted pairs the target copies each source
    spike with probability ``p_copy`` after ``delay`` ± ``jitter`` s. Written as npz."""
    rng = np.random.default_rng(seed)
    rates = rng.uniform(5.0, 20.0, n_units)
    counts = rng.poisson(rates * duration)
    ids = np.repeat(np.arange(n_units), counts)
    times = rng.uniform(0.0, duration, ids.size)
    sources = rng.choice(n_units, size=n_pairs, replace=False)
    targets = (sources + 1 + rng.integers(0, n_units - 1, n_pairs)) % n_units
    extra_t, extra_i = [], []
    for s, t in zip(sources, targets):
        src = times[ids == s]
        copy = src[rng.random(src.size) < p_copy]
        copy = copy + delay + rng.normal(0.0, jitter, copy.size)
        copy = copy[(copy >= 0) & (copy < duration)]
        extra_t.append(copy)
        extra_i.append(np.full(copy.size, t))
    times = np.concatenate([times, *extra_t])
    ids = np.concatenate([ids, *extra_i])
    order = np.argsort(times, kind="stable")
    np.savez(path, times=times[order], ids=ids[order], n_units=n_units, t_start=0.0, t_stop=duration,
             pairs=np.stack([sources, targets], axis=1))
    return path


def _load(record_npz: Path):
    from synaptica.record import SpikeRecord

    with np.load(record_npz) as f:
        return SpikeRecord(f["times"], f["ids"], int(f["n_units"]), float(f["t_start"]), float(f["t_stop"]),
                           source=str(record_npz))


def _peer(script: str, record_npz: Path, out: Path, bin_size: float, max_lag_bins: int) -> dict:
    cmd = [str(PEER_PYTHON), str(HERE / "peers" / script), str(record_npz), str(out), str(bin_size), str(max_lag_bins)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{script} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def run(record_npz: Path, bin_size: float = 0.001, max_lag_bins: int = 50, repeats: int = 5,
        peers: bool = True) -> dict:
    """Time synaptica's all-pairs correlograms and compare with the peers; returns a dict."""
    from synaptica.analysis.correlation import cross_correlograms

    record_npz = Path(record_npz)
    record = _load(record_npz)
    t0 = time.perf_counter()
    ours = cross_correlograms(record, bin_size, max_lag_bins)
    cold = time.perf_counter() - t0
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        ours = cross_correlograms(record, bin_size, max_lag_bins)
        times.append(time.perf_counter() - t0)
    result = {"n_units": record.n_units, "n_spikes": record.n_spikes, "duration_s": record.duration,
              "bin_size_s": bin_size, "max_lag_bins": max_lag_bins,
              "synaptica": {"median_s": statistics.median(times), "cold_s": cold, "repeats": repeats}}
    if not peers:
        return result
    with tempfile.TemporaryDirectory() as tmp:
        el = _peer("cch_elephant.py", record_npz, Path(tmp) / "elephant.npz", bin_size, max_lag_bins)
        with np.load(Path(tmp) / "elephant.npz") as f:
            cch_el = f["cch"]
        pn = _peer("cch_pynapple.py", record_npz, Path(tmp) / "pynapple.npz", bin_size, max_lag_bins)
        with np.load(Path(tmp) / "pynapple.npz") as f:
            cch_pn, pairs_pn = f["counts"], f["pairs"]
    ours_pn = ours[pairs_pn[:, 0], pairs_pn[:, 1]]
    auto = pairs_pn[:, 0] == pairs_pn[:, 1]
    ours_pn[auto, max_lag_bins] = 0  # pynapple leaves out each spike paired with itself
    diff = np.abs(cch_pn - ours_pn)
    result["elephant"] = {**el, "identical": bool(np.array_equal(cch_el, ours)),
                          "max_abs_diff": int(np.abs(cch_el - ours).max()),
                          "speedup": el["time_s"] / result["synaptica"]["median_s"]}
    result["pynapple"] = {**pn, "max_abs_diff_counts": float(diff.max()),
                          "total_abs_diff_fraction": float(diff.sum() / max(ours_pn.sum(), 1)),
                          "speedup": pn["time_s"] / result["synaptica"]["median_s"]}
    return result


if __name__ == "__main__":
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.gettempdir()) / "synaptica_cch_test_record.npz"
    if not path.exists():
        make_test_record(path)
    print(json.dumps(run(path), indent=2))
