"""All-pairs cross-correlograms with pynapple (peer for bench/analysis_cch.py).

Run inside bench/.venv-analysis:

    python bench/peers/cch_pynapple.py RECORD.npz OUT.npz BIN_SIZE_S MAX_LAG_BINS

``compute_crosscorrelogram`` (unordered pairs i < j; (j, i) is its mirror) plus
``compute_autocorrelogram``, both ``norm=False`` with windowsize (L + 0.5) * bin so that
there are 2L + 1 bins centred on the lags -L..L bins. pynapple returns the rate of the
target around each reference spike (Hz); counts = rate * n_ref_spikes * bin_size. It bins
the continuous lag t_j - t_i, not the difference of bin indices, and sets the zero lag of
autocorrelograms to 0. time_s covers building the TsGroup and both calls. Saves counts
(n_pairs, 2L + 1) and pairs (n_pairs, 2) to OUT.npz; prints one JSON line.
"""
import json
import sys
import time

import numpy as np

record, out, bin_size, max_lag = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
t_import = time.perf_counter()
import pynapple as nap  # noqa: E402

import_s = time.perf_counter() - t_import
with np.load(record) as f:
    times, ids, n = f["times"], f["ids"], int(f["n_units"])
    t_start, t_stop = float(f["t_start"]), float(f["t_stop"])
trains = [times[ids == u] for u in range(n)]
window = (max_lag + 0.5) * bin_size


def all_pairs():
    group = nap.TsGroup({u: nap.Ts(t=trains[u]) for u in range(n)},
                        time_support=nap.IntervalSet(start=t_start, end=t_stop))
    cross = nap.compute_crosscorrelogram(group, binsize=bin_size, windowsize=window, norm=False)
    auto = nap.compute_autocorrelogram(group, binsize=bin_size, windowsize=window, norm=False)
    return cross, auto


all_pairs()  # warm-up: pynapple's numba kernels compile (or load from cache) on first use
t0 = time.perf_counter()
cross, auto = all_pairs()
elapsed = time.perf_counter() - t0
if cross.shape[0] != 2 * max_lag + 1:
    raise SystemExit(f"pynapple returned {cross.shape[0]} lags, expected {2 * max_lag + 1}")
n_spikes = np.array([t.size for t in trains], dtype=np.float64)
pairs, counts = [], []
for (i, j), rate in cross.items():
    c = rate.to_numpy() * n_spikes[i] * bin_size
    pairs += [(i, j), (j, i)]
    counts += [c, c[::-1]]
for u, rate in auto.items():
    pairs.append((u, u))
    counts.append(rate.to_numpy() * n_spikes[u] * bin_size)
np.savez(out, counts=np.round(np.array(counts), 6), pairs=np.array(pairs, dtype=np.int64))
print(json.dumps({"peer": "pynapple", "version": nap.__version__, "time_s": elapsed, "import_s": import_s,
                  "n_pairs": len(pairs)}))
