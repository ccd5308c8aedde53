"""Short check that the fused training kernels do not collapse on a shared machine.

One process times, in alternating blocks so that both see the same machine, a training
step of synaptica's layers and of the same computation in plain dense torch, first quiet
and then beside ``--busy`` processes that each keep a core occupied
(``python -c "while True: pass"``, stopped at the end). Torch runs on 2 threads.

* ``layer`` (default): one LIF layer 784 -> 512 (T = 25, batch 128, beta 0.9, arctan,
  input spike density 0.125), forward and backward: synaptica's ``LIFLayer`` against
  ``nn.Linear`` + the step-by-step torch LIF (``lif_sequence_reference``) and against the
  matrix multiply alone (the dense floor);
* ``network``: the training step of bench/train.py's 784-512-10 network (Adam) against
  the dense floor (the same matrix multiplies without neurons).

Prints medians in samples/s:

    .venv/bin/python bench/peers/train_contended.py [layer|network] [--blocks 8] [--busy 1]
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("what", nargs="?", choices=("layer", "network"), default="layer")
    ap.add_argument("--blocks", type=int, default=8, help="alternating blocks per condition")
    ap.add_argument("--per-block", type=int, default=5, help="timed steps per block")
    ap.add_argument("--busy", type=int, default=1, help="busy processes in the contended condition")
    args = ap.parse_args(argv)

    import torch
    import torch.nn.functional as F

    torch.set_num_threads(2)
    from synaptica.training import LIFLayer, SpikingMLP, lif_sequence_reference

    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    inputs = [(torch.rand(25, 128, 784, generator=g) < 0.125).float() for _ in range(10)]
    labels = torch.randint(0, 10, (128,), generator=g)
    if args.what == "layer":
        ours = LIFLayer(784, 512, beta=0.9, surrogate="arctan")
        dense = torch.nn.Linear(784, 512)
        beta, theta, readout = torch.full((512,), 0.9), torch.ones(512), torch.randn(512)
        params = [*ours.parameters(), *dense.parameters()]
        losses = {
            "synaptica LIFLayer": lambda x: (ours(x).sum(0) * readout).sum(),
            "dense torch LIF layer": lambda x: (lif_sequence_reference(dense(x), beta, theta, surrogate="arctan")[0]
                                                .sum(0) * readout).sum(),
            "dense floor (matmul only)": lambda x: (dense(x).sum(0) * readout).sum(),
        }
        optimisers = {}
    else:
        ours = SpikingMLP([784, 512, 10], beta=0.9, surrogate="arctan")
        dense = torch.nn.Sequential(torch.nn.Linear(784, 512), torch.nn.Linear(512, 10))
        params = []
        losses = {"synaptica network": lambda x: F.cross_entropy(ours(x).sum(0), labels),
                  "dense floor": lambda x: F.cross_entropy(dense(x).sum(0), labels)}
        optimisers = {"synaptica network": torch.optim.Adam(ours.parameters(), 1e-3),
                      "dense floor": torch.optim.Adam(dense.parameters(), 1e-3)}

    def step(name: str, x: torch.Tensor) -> float:
        start = time.perf_counter()
        for p in params:
            p.grad = None
        if name in optimisers:
            optimisers[name].zero_grad()
        losses[name](x).backward()
        if name in optimisers:
            optimisers[name].step()
        return time.perf_counter() - start

    for name in losses:  # warm-up: compiles, and lets the kernels time both of their forms
        for x in inputs[:6]:
            step(name, x)
    for condition in ("quiet", "contended"):
        busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"])
                for _ in range(args.busy if condition == "contended" else 0)]
        try:
            time.sleep(0.3)
            times: dict[str, list[float]] = {name: [] for name in losses}
            for _ in range(args.blocks):
                for name in losses:
                    times[name] += [step(name, inputs[i % len(inputs)]) for i in range(args.per_block)]
        finally:
            for process in busy:
                process.kill()
                process.wait()
        rates = {name: round(128 / statistics.median(t)) for name, t in times.items()}
        print(condition, rates, flush=True)


if __name__ == "__main__":
    main()
