"""All-pairs cross-correlograms with Elephant 1.2.1 (peer for bench/analysis_cch.py).

Run inside bench/.venv-analysis:

    python bench/peers/cch_elephant.py RECORD.npz OUT.npz BIN_SIZE_S MAX_LAG_BINS

RECORD.npz holds times (s), ids, n_units, t_start, t_stop. Every ordered pair (i, j),
autocorrelograms included, goes through ``cross_correlation_histogram(BinnedSpikeTrain(i),
BinnedSpikeTrain(j), window=[-L, L], border_correction=False, binary=False, kernel=None,
method='speed')``, as a user would loop. time_s covers the binning of the trains and the
pair loop. Saves cch (n_units, n_units, 2L + 1) int64 to OUT.npz; prints one JSON line.
"""
import json
import sys
import time

import numpy as np

record, out, bin_size, max_lag = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
t_import = time.perf_counter()
import elephant  # noqa: E402
import neo  # noqa: E402
import quantities as pq  # noqa: E402
from elephant.conversion import BinnedSpikeTrain  # noqa: E402
from elephant.spike_train_correlation import cross_correlation_histogram  # noqa: E402

import_s = time.perf_counter() - t_import
with np.load(record) as f:
    times, ids, n = f["times"], f["ids"], int(f["n_units"])
    t_start, t_stop = float(f["t_start"]), float(f["t_stop"])
trains = [neo.SpikeTrain(times[ids == u], t_start=t_start, t_stop=t_stop, units="s") for u in range(n)]

t0 = time.perf_counter()
binned = [BinnedSpikeTrain(st, bin_size=bin_size * pq.s, t_start=t_start * pq.s, t_stop=t_stop * pq.s)
          for st in trains]
cch = np.zeros((n, n, 2 * max_lag + 1), dtype=np.int64)
for i in range(n):
    for j in range(n):
        hist, _ = cross_correlation_histogram(binned[i], binned[j], window=[-max_lag, max_lag],
                                              border_correction=False, binary=False, kernel=None, method="speed")
        cch[i, j] = np.asarray(hist.magnitude).ravel().astype(np.int64)
elapsed = time.perf_counter() - t0
np.savez(out, cch=cch)
print(json.dumps({"peer": "elephant", "version": elephant.__version__, "time_s": elapsed, "import_s": import_s,
                  "n_pairs": n * n}))
