"""CUDA parity: the torch path on a GPU against the compiled CPU path (not part of CI).

Runs ``cuba`` (N = 4000, 200 ms) and a plastic network (given Poisson spike times -> LIF
with pair STDP and
Tsodyks-Markram synapses, 300 ms) on the compiled CPU path and on CUDA, in float64 (spike
for spike) and float32 (drift reported), and prints what differs:

    .venv/bin/python bench/cuda_parity.py

Without a CUDA device it says so and exits with status 0; ``--device cpu`` compares the
torch path on the CPU instead (a check of the script itself).
"""
from __future__ import annotations

import sys

import numpy as np
import torch


def cuba(device: str, dtype: torch.dtype, backend: str):
    from synaptica.experiments.cuba import SCHEMA, build_cuba

    params = {k: f.default for k, f in SCHEMA.items()} | {"n": 4000, "duration_ms": 200.0,
                                                          "dtype": "float64" if dtype == torch.float64 else "float32"}
    net, cells, spikes = build_cuba(params, device=device)
    net.run(200.0, backend=backend)
    return spikes.steps.copy(), spikes.ids.copy(), None


def plastic(device: str, dtype: torch.dtype, backend: str):
    from synaptica import LIF, Network
    from synaptica.plasticity import PairSTDP, TsodyksMarkram

    net = Network(dt=0.1, seed=3, dtype=dtype, device=device)
    # given Poisson spike times: the paths draw Poisson inputs from different generators
    rng = np.random.default_rng(7)
    count = rng.poisson(20.0 * 0.3 * 200)
    source = net.add_spike_generator(200, np.sort(rng.uniform(0.0, 300.0, count)), rng.integers(0, 200, count))
    pop = net.add_population(100, LIF(v_th=-55.0))
    proj = net.connect(source, pop, p=0.2, weight=80.0, stp=TsodyksMarkram(U=0.4),
                       plasticity=PairSTDP(a_plus=0.5, a_minus=0.55, w_max=160.0))
    spikes = net.monitor_spikes(pop)
    net.run(300.0, backend=backend)
    return spikes.steps.copy(), spikes.ids.copy(), proj.weights.detach().cpu().numpy()


def main() -> int:
    # --device cpu runs the same comparison with the torch path on the CPU (checks the script)
    device = sys.argv[sys.argv.index("--device") + 1] if "--device" in sys.argv else "cuda"
    if device == "cuda" and not torch.cuda.is_available():
        print("cuda_parity: no CUDA device here; nothing run (the README says so).")
        return 0
    for name, build in (("cuba", cuba), ("plastic", plastic)):
        for dtype in (torch.float64, torch.float32):
            cpu, gpu = build("cpu", dtype, "cpu"), build(device, dtype, "torch")
            same = (np.array_equal(cpu[0], gpu[0]) and np.array_equal(cpu[1], gpu[1]))
            drift = float(np.abs(cpu[2] - gpu[2]).max()) if cpu[2] is not None else 0.0
            print(f"{name} {dtype}: spikes {'identical' if same else 'differ'} ({cpu[0].size} vs {gpu[0].size}); "
                  f"max weight difference {drift:.3g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
